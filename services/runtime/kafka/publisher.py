"""The relay's way out to Kafka: a port, and its aiokafka adapter.

Ordering: the producer is idempotent with `acks=all`. aiokafka has no
`max.in.flight.requests.per.connection` setting: its sender keeps at most one request in
flight per broker and mutes a partition while its batch is in flight, so a retried batch can
never overtake a later one (the equivalent of `max.in.flight=1`); the idempotent producer's
sequence numbers stop a retry from writing a batch twice.

Topics are never created here. Asking the broker about one named topic may create it (a
Metadata request from a producer allows auto-creation, and librdkafka's mock broker honours
that), so existence is checked with a request for all topics, which creates nothing.
"""

import asyncio
from collections.abc import Sequence
from typing import Protocol

from aiokafka import AIOKafkaProducer

from services.runtime.kafka.messages import KafkaMessage

# A relay batch (500 events of ~700 B over 6 partitions) fits in one record batch per
# partition, so it goes out in one produce request per broker instead of aiokafka's default
# 16 KiB batches, each waiting for its own round of replication (acks=all).
MAX_BATCH_BYTES = 512 * 1024


class TopicMissing(Exception):
    """The topic the relay publishes to does not exist, and the relay will not create it."""

    def __init__(self, topic: str) -> None:
        super().__init__(
            f"Kafka topic {topic!r} does not exist; create it with"
            " `caseweave kafka topics create` (topics are never created by producing)"
        )
        self.topic = topic


class Publisher(Protocol):
    """Where a relay sends messages."""

    async def topic_exists(self, topic: str) -> bool:
        """Tell whether `topic` exists, without creating it."""
        ...

    async def publish(self, topic: str, messages: Sequence[KafkaMessage]) -> None:
        """Send `messages` in order; return only once the broker acknowledged every one."""
        ...


class KafkaPublisher:
    """An idempotent aiokafka producer that waits for every broker acknowledgement."""

    def __init__(self, bootstrap_servers: str, *, client_id: str = "caseweave-relay") -> None:
        self._producer = AIOKafkaProducer(
            bootstrap_servers=bootstrap_servers,
            client_id=client_id,
            enable_idempotence=True,
            acks="all",
            max_batch_size=MAX_BATCH_BYTES,
        )

    async def start(self) -> None:
        """Connect to the cluster."""
        await self._producer.start()

    async def stop(self) -> None:
        """Flush and disconnect."""
        await self._producer.stop()

    async def topic_exists(self, topic: str) -> bool:
        """Tell whether `topic` exists, from a metadata request for all topics."""
        metadata = await self._producer.client.fetch_all_metadata()
        return topic in metadata.topics()

    async def require_topics(self, topics: Sequence[str]) -> dict[str, list[int]]:
        """Return each topic's partition numbers; raise TopicMissing for the first missing."""
        found = await self.partitions_of(topics)
        for topic in topics:
            if topic not in found:
                raise TopicMissing(topic)
        return found

    async def partitions_of(self, topics: Sequence[str]) -> dict[str, list[int]]:
        """Return the partition numbers of each of `topics` that exists (all-topics metadata)."""
        metadata = await self._producer.client.fetch_all_metadata()
        return {
            topic: sorted(metadata.partitions_for_topic(topic) or ())
            for topic in topics
            if topic in metadata.topics()
        }

    async def publish(self, topic: str, messages: Sequence[KafkaMessage]) -> None:
        """Send `messages` in order; return once all are acknowledged, or raise the first error."""
        sent = [
            await self._producer.send(
                topic, key=message.key, value=message.value, headers=list(message.headers)
            )
            for message in messages
        ]
        outcomes = await asyncio.gather(*sent, return_exceptions=True)
        for outcome in outcomes:
            if isinstance(outcome, BaseException):
                raise outcome
