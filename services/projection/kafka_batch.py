"""What the projection makes of a batch of Kafka messages, before any I/O.

Each message is either an event to project, a poison message for the dead-letter topic (with
a reason a person can act on), or a redelivery of something already applied (its offset is
below the partition's saved offset) and skipped. Pure: no Kafka, no PostgreSQL.
"""

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from pydantic import ValidationError

from events.envelope import Envelope, OrgId
from events.registry import EventPayload, UnknownEventType, decode_payload
from services.runtime.kafka.consumed import ConsumedMessage, PoisonMessage
from services.runtime.kafka.messages import envelope_from_value
from services.runtime.kafka.offsets import TopicPartition


@dataclass(frozen=True)
class BatchPlan:
    """What to do with a batch: events to project, poison to set aside, offsets to save."""

    events: list[tuple[Envelope, EventPayload]] = field(default_factory=list)
    poison: list[PoisonMessage] = field(default_factory=list)
    next_offsets: dict[TopicPartition, int] = field(default_factory=dict)
    redelivered: int = 0


def plan_batch(
    messages: Sequence[ConsumedMessage],
    *,
    applied: Mapping[TopicPartition, int],
    topic_orgs: Mapping[str, OrgId],
) -> BatchPlan:
    """Sort `messages` given each partition's next unapplied offset (`applied`)."""
    plan = BatchPlan()
    redelivered = 0
    for message in messages:
        tp = message.topic_partition
        if message.offset < applied.get(tp, 0):
            redelivered += 1
            continue
        plan.next_offsets[tp] = max(plan.next_offsets.get(tp, 0), message.offset + 1)
        outcome = understand(message, topic_orgs)
        if isinstance(outcome, PoisonMessage):
            plan.poison.append(outcome)
        else:
            plan.events.append(outcome)
    return BatchPlan(plan.events, plan.poison, plan.next_offsets, redelivered)


def understand(
    message: ConsumedMessage, topic_orgs: Mapping[str, OrgId]
) -> tuple[Envelope, EventPayload] | PoisonMessage:
    """Return a message's envelope and typed payload, or why it is poison."""
    if message.value is None:
        return PoisonMessage(message, "invalid_envelope", "(message): the value is empty")
    try:
        envelope = envelope_from_value(message.value)
    except ValidationError as error:
        return PoisonMessage(message, "invalid_envelope", _first_error(error))
    ids = {"event_type": envelope.type, "event_id": str(envelope.event_id)}
    expected_org = topic_orgs.get(message.topic)
    if expected_org is not None and envelope.org != expected_org:
        detail = f"org: {envelope.org!r} on the topic of {expected_org!r}"
        return PoisonMessage(message, "wrong_topic", detail, **ids)
    try:
        payload = decode_payload(envelope.type, envelope.schema_version, envelope.data)
    except UnknownEventType:
        detail = f"type: no event type {envelope.type!r} version {envelope.schema_version}"
        return PoisonMessage(message, "unknown_event_type", detail, **ids)
    except ValidationError as error:
        return PoisonMessage(message, "invalid_payload", _first_error(error, "data"), **ids)
    return envelope, payload


def _first_error(error: ValidationError, prefix: str = "") -> str:
    """Name the first failing field and rule; never the input, which may be personal data."""
    first = error.errors(include_url=False, include_input=False)[0]
    path = ".".join(str(part) for part in (prefix, *first["loc"]) if part != "")
    more = f" (and {error.error_count() - 1} more)" if error.error_count() > 1 else ""
    return f"{path or '(value)'}: {first['type']}{more}"
