"""What the projection makes of a batch of Kafka messages, before any I/O.

Each message is either an event to project, a poison message for the dead-letter topic (with
a reason a person can act on), a redelivery of something already applied (its offset is
below the partition's saved offset) to skip, or a sign that the consumer skipped messages
(its offset is above the next one expected): then the partition is read again from there.
Pure: no Kafka, no PostgreSQL.
"""

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from pydantic import ValidationError

from events.envelope import Envelope, OrgId
from events.registry import EventPayload
from services.runtime.kafka.consumed import (
    ConsumedMessage,
    PoisonMessage,
    payload_or_poison,
    validation_detail,
)
from services.runtime.kafka.messages import envelope_from_value
from services.runtime.kafka.offsets import TopicPartition


@dataclass(frozen=True)
class BatchPlan:
    """What to do with a batch: events to project, poison to set aside, offsets to save.

    `rewind` names partitions whose messages skipped ahead of the next unapplied offset (the
    consumer lost some on the way): their messages before the gap are applied, none after
    it, and the consumer must read the partition again from the offset given.
    """

    events: list[tuple[Envelope, EventPayload | None]] = field(default_factory=list)
    poison: list[PoisonMessage] = field(default_factory=list)
    next_offsets: dict[TopicPartition, int] = field(default_factory=dict)
    redelivered: int = 0
    rewind: dict[TopicPartition, int] = field(default_factory=dict)


def plan_batch(
    messages: Sequence[ConsumedMessage],
    *,
    applied: Mapping[TopicPartition, int],
    topic_orgs: Mapping[str, OrgId],
) -> BatchPlan:
    """Sort `messages` given each partition's next unapplied offset (`applied`, default 0).

    Offsets of our topics are contiguous (no transactions, no compaction), so each
    partition's messages are taken in offset order, whatever order the batch holds them in:
    below the next offset is a redelivery, at it is applied, above it is a gap.
    """
    expected = dict(applied)
    accepted: list[ConsumedMessage] = []
    rewind: dict[TopicPartition, int] = {}
    redelivered = 0
    for message in sorted(messages, key=lambda m: (m.topic_partition, m.offset)):
        tp = message.topic_partition
        next_offset = expected.get(tp, 0)
        if tp in rewind:
            continue
        if message.offset < next_offset:
            redelivered += 1
        elif message.offset > next_offset:
            rewind[tp] = next_offset
        else:
            accepted.append(message)
            expected[tp] = next_offset + 1
    plan = BatchPlan(redelivered=redelivered, rewind=rewind)
    for message in accepted:  # in order and contiguous per partition, up to any gap
        plan.next_offsets[message.topic_partition] = message.offset + 1
        outcome = understand(message, topic_orgs)
        if isinstance(outcome, PoisonMessage):
            plan.poison.append(outcome)
        else:
            plan.events.append(outcome)
    return plan


def understand(
    message: ConsumedMessage, topic_orgs: Mapping[str, OrgId]
) -> tuple[Envelope, EventPayload | None] | PoisonMessage:
    """Return a message's envelope and typed payload (None while its personal values are
    sealed: the projection opens and decodes it), or why it is poison."""
    if message.value is None:
        return PoisonMessage(message, "invalid_envelope", "(message): the value is empty")
    try:
        envelope = envelope_from_value(message.value)
    except ValidationError as error:
        return PoisonMessage(message, "invalid_envelope", validation_detail(error))
    ids = {"event_type": envelope.type, "event_id": str(envelope.event_id)}
    expected_org = topic_orgs.get(message.topic)
    if expected_org is not None and envelope.org != expected_org:
        detail = f"org: {envelope.org!r} on the topic of {expected_org!r}"
        return PoisonMessage(message, "wrong_topic", detail, **ids)
    payload = payload_or_poison(message, envelope)
    return payload if isinstance(payload, PoisonMessage) else (envelope, payload)
