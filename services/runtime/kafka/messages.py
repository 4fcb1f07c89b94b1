"""How an event envelope travels as a Kafka message: key, value and headers.

The key is the organisation's person reference (`subject`), so one person's events share a
partition and keep their order. The value is the envelope's JSON; the headers repeat what a
consumer routes, dedupes or traces by, so it can do so without decoding the value.
"""

from collections.abc import Sequence
from dataclasses import dataclass

from events.envelope import Envelope

EVENT_ID = "event_id"
EVENT_TYPE = "event_type"
SCHEMA_VERSION = "schema_version"
CORRELATION_ID = "correlation_id"
ORG = "org"

Headers = tuple[tuple[str, bytes], ...]


@dataclass(frozen=True)
class KafkaMessage:
    """One event as the producer sends it."""

    key: bytes
    value: bytes
    headers: Headers


def message_from_envelope(envelope: Envelope) -> KafkaMessage:
    """Return the Kafka message that carries `envelope`."""
    return KafkaMessage(
        key=envelope.subject.encode(),
        value=envelope.model_dump_json().encode(),
        headers=(
            (EVENT_ID, str(envelope.event_id).encode()),
            (EVENT_TYPE, envelope.type.encode()),
            (SCHEMA_VERSION, str(envelope.schema_version).encode()),
            (CORRELATION_ID, envelope.correlation_id.encode()),
            (ORG, envelope.org.encode()),
        ),
    )


def envelope_from_value(value: bytes) -> Envelope:
    """Return the envelope a message's value carries (raises pydantic.ValidationError if bad)."""
    return Envelope.model_validate_json(value)


def header_values(headers: Sequence[tuple[str, bytes]]) -> dict[str, str]:
    """Return a message's headers as text, by name."""
    return {name: value.decode() for name, value in headers}
