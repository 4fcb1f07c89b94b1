"""A message as a consumer received it, and a message a consumer has refused (poison)."""

from dataclasses import dataclass

from pydantic import ValidationError

from services.runtime.kafka.messages import Headers
from services.runtime.kafka.offsets import TopicPartition


@dataclass(frozen=True)
class ConsumedMessage:
    """One message as the consumer received it."""

    topic: str
    partition: int
    offset: int
    key: bytes | None
    value: bytes | None
    headers: Headers = ()

    @property
    def topic_partition(self) -> TopicPartition:
        """Return the partition the message came from."""
        return TopicPartition(self.topic, self.partition)


@dataclass(frozen=True)
class PoisonMessage:
    """A message the projection cannot apply, and why (no personal data in `detail`)."""

    message: ConsumedMessage
    reason: str
    detail: str
    event_type: str | None = None
    event_id: str | None = None


def validation_detail(error: ValidationError, prefix: str = "") -> str:
    """Name the first failing field and rule; never the input, which may be personal data."""
    first = error.errors(include_url=False, include_input=False)[0]
    path = ".".join(str(part) for part in (prefix, *first["loc"]) if part != "")
    more = f" (and {error.error_count() - 1} more)" if error.error_count() > 1 else ""
    return f"{path or '(value)'}: {first['type']}{more}"
