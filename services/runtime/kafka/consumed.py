"""A message as a consumer received it, and a message a consumer has refused (poison)."""

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Protocol

from pydantic import ValidationError

from events.envelope import Envelope
from events.registry import EventPayload, UnknownEventType, decode_payload
from services.runtime.kafka.messages import Headers
from services.runtime.kafka.offsets import TopicPartition
from services.runtime.sealing import is_sealed


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


class Record(Protocol):
    """A message as a Kafka client hands it over (aiokafka's ConsumerRecord, Faust's Message)."""

    @property
    def topic(self) -> str: ...
    @property
    def partition(self) -> int: ...
    @property
    def offset(self) -> int: ...
    @property
    def key(self) -> bytes | None: ...
    @property
    def value(self) -> bytes | None: ...
    @property
    def headers(self) -> Sequence[tuple[str, bytes]] | Mapping[str, bytes] | None: ...


def consumed_message(record: Record) -> ConsumedMessage:
    """Return our view of a client's record: raw key and value, headers as (name, bytes) pairs."""
    headers = record.headers.items() if isinstance(record.headers, Mapping) else record.headers
    return ConsumedMessage(
        topic=record.topic,
        partition=record.partition,
        offset=record.offset,
        key=record.key,
        value=record.value,
        headers=tuple((str(name), _as_bytes(value)) for name, value in headers or ()),
    )


def _as_bytes(value: object) -> bytes:
    return value if isinstance(value, bytes) else str(value).encode()


def payload_or_poison(
    message: ConsumedMessage, envelope: Envelope
) -> EventPayload | PoisonMessage | None:
    """Decode an envelope's typed payload, or say why the message is poison; None when its
    personal values are sealed (`services/runtime/sealing.py`): it is decoded once opened.

    Text holding a NUL character is poison too: valid JSON and valid for pydantic, but
    PostgreSQL cannot store it, so applying it would fail for ever.
    """
    ids = {"event_type": envelope.type, "event_id": str(envelope.event_id)}
    if _holds_nul(envelope.model_dump()):
        detail = "(value): a text value holds a NUL character, which cannot be stored"
        return PoisonMessage(message, "unstorable", detail, **ids)
    if is_sealed(envelope):
        return None
    try:
        return decode_payload(envelope.type, envelope.schema_version, envelope.data)
    except UnknownEventType:
        detail = f"type: no event type {envelope.type!r} version {envelope.schema_version}"
        return PoisonMessage(message, "unknown_event_type", detail, **ids)
    except ValidationError as error:
        return PoisonMessage(message, "invalid_payload", validation_detail(error, "data"), **ids)


def _holds_nul(value: object) -> bool:
    if isinstance(value, str):
        return "\x00" in value
    if isinstance(value, Mapping):
        return any(_holds_nul(k) or _holds_nul(v) for k, v in value.items())
    if isinstance(value, list | tuple):
        return any(_holds_nul(v) for v in value)
    return False
