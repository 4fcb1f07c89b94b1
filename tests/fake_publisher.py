"""A Kafka topic faked for the Publisher port: what was sent to it, in memory."""

from collections.abc import Sequence

from services.runtime.kafka.messages import KafkaMessage


class PublishedInMemory:
    """Every topic exists; every message published is kept, in order."""

    def __init__(self) -> None:
        self.sent: list[tuple[str, KafkaMessage]] = []

    async def topic_exists(self, topic: str) -> bool:
        """Say every topic exists."""
        return True

    async def publish(self, topic: str, messages: Sequence[KafkaMessage]) -> None:
        """Keep the messages, as if every broker acknowledged them."""
        self.sent.extend((topic, message) for message in messages)
