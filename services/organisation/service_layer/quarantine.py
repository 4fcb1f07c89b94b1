"""What a charity sent that could not be applied, kept aside with the field and the rule
that stopped it (`inbound.quarantined`, sealed under the quarantine id's own key): applied
again once the mapping is fixed or the person known (`redrive`), or discarded by an operator
(its contents erased in place and shredded). Nothing a charity sent is silently dropped.
"""

from dataclasses import dataclass
from typing import Any
from uuid import UUID, uuid5

from events.inbound import MessageDiscarded, MessageQuarantined, MessageRedriven
from events.recording_rules import ALREADY_RECORDED
from events.registry import decode_payload
from services.organisation.domain.errors import Conflict, NotFound
from services.organisation.domain.inbound_mapping import Source, Unmappable, person_ref_of
from services.organisation.domain.recording import Recording, envelope_for
from services.organisation.service_layer.inbound_commands import (
    ERASED_RULE,
    Applied,
    applied_or_why,
)
from services.organisation.service_layer.unit_of_work import UnitOfWork
from services.runtime.sealing import has_erased_values
from services.runtime.search_keys import local_id_token

_QUARANTINE = UUID("0d6b3a52-8c1f-4a97-b5e2-7f40c9d1a6e3")


@dataclass(frozen=True)
class Quarantined:
    """A message kept aside: its quarantine id, and the field and rule that stopped it."""

    quarantine_id: UUID
    field: str
    rule: str
    detail: str


class UnknownQuarantine(NotFound):
    """No quarantined message with this id in this organisation."""

    def __init__(self, quarantine_id: UUID) -> None:
        super().__init__(f"no quarantined message {quarantine_id}")


class QuarantineResolved(Conflict):
    """The quarantined message was applied or discarded already."""

    code = "quarantine_resolved"

    def __init__(self, quarantine_id: UUID, how: str) -> None:
        super().__init__(f"quarantined message {quarantine_id} was {how} already")


def quarantine_id_of(source: str, message_id: str) -> UUID:
    """Return the quarantine id of a source's message: the same for the same message."""
    return uuid5(_QUARANTINE, f"{source}:{message_id}")


def quarantine_stream(quarantine_id: UUID) -> str:
    """Return the stream of a quarantined message."""
    return f"quarantine-{quarantine_id}"


async def keep_aside(
    uow: UnitOfWork,
    source: Source,
    *,
    message_id: str,
    message: dict[str, Any],
    why: Unmappable,
    recording: Recording,
) -> Quarantined:
    """Keep a message aside with why: sealed under the quarantine id's own key, its person
    named by a keyed hash of the charity's id (so that erasing them finds it); nothing of a
    message about a person erased here is kept but that it came."""
    quarantine_id = quarantine_id_of(source.name, message_id)
    person_ref = person_ref_of(source.mapping, message)
    payload = MessageQuarantined(
        quarantine_id=quarantine_id,
        source=source.name,
        message_id=message_id,
        field=why.field[:200],
        rule=why.rule[:64],
        detail=why.message[:2000],
        message={} if why.rule == ERASED_RULE else message,
        person_token=None if person_ref is None else local_id_token(uow.search_key, person_ref),
    )
    envelope = envelope_for(
        payload, recording=recording, subject=quarantine_id, place=source.mapping.place
    )
    await uow.streams.append(
        quarantine_stream(quarantine_id), expected_version=0, events=[envelope]
    )
    return Quarantined(quarantine_id, payload.field, payload.rule, payload.detail)


@dataclass(frozen=True)
class QuarantinedMessage:
    """A quarantined message as ops see it (`message` None once discarded: shredded)."""

    quarantine_id: UUID
    source: str
    message_id: str
    field: str
    rule: str
    detail: str | None
    message: dict[str, Any] | None
    status: str  # held, redriven, discarded
    version: int
    event_id: UUID  # of its `inbound.quarantined` event


async def quarantined(uow: UnitOfWork, quarantine_id: UUID) -> QuarantinedMessage:
    """Return a quarantined message and where it stands (raises UnknownQuarantine)."""
    stored = await uow.streams.read(quarantine_stream(quarantine_id))
    first: MessageQuarantined | None = None
    status, event_id = "held", None
    for event in stored:
        e = event.envelope
        if e.type == MessageQuarantined.event_type and has_erased_values(e):  # discarded
            first, event_id = _contents_gone(e.data), e.event_id
            continue
        payload = decode_payload(e.type, e.schema_version, e.data)
        if isinstance(payload, MessageQuarantined):
            first, event_id = payload, e.event_id
        elif isinstance(payload, MessageRedriven):
            status = "redriven"
        elif isinstance(payload, MessageDiscarded):
            status = "discarded"
    if first is None or event_id is None:
        raise UnknownQuarantine(quarantine_id)
    return QuarantinedMessage(
        quarantine_id, first.source, first.message_id, first.field, first.rule,
        None if status == "discarded" else first.detail,
        None if status == "discarded" else first.message,
        status, stored[-1].stream_version, event_id,
    )  # fmt: skip


def _contents_gone(data: dict[str, Any]) -> MessageQuarantined:
    """Return a discarded message's record, its erased contents left out."""
    return MessageQuarantined.model_validate(
        {**data, "detail": "", "message": {}}, context=ALREADY_RECORDED
    )


async def redrive(
    uow: UnitOfWork, *, source: Source, quarantine_id: UUID, recording: Recording
) -> Applied | Unmappable:
    """Apply a held message again (with the source's mapping as it is now): applied, it is
    marked redriven; refused again, it stays held and the refusal is returned."""
    held = await quarantined(uow, quarantine_id)
    if held.status != "held":
        raise QuarantineResolved(quarantine_id, held.status)
    assert held.message is not None  # held messages are readable
    outcome = await applied_or_why(uow, source, held.message, recording)
    if isinstance(outcome, Applied):
        done = MessageRedriven(quarantine_id=quarantine_id, command=outcome.command)
        envelope = envelope_for(
            done, recording=recording, subject=quarantine_id, place=source.mapping.place
        )
        await uow.streams.append(
            quarantine_stream(quarantine_id), expected_version=held.version, events=[envelope]
        )
    return outcome


async def discard(
    uow: UnitOfWork, *, quarantine_id: UUID, reason: str, place: str, recording: Recording
) -> None:
    """Discard a held message, saying why: its contents are shredded (its stream reads as
    erased from then on; the list of quarantined messages still shows it discarded)."""
    held = await quarantined(uow, quarantine_id)
    if held.status != "held":
        raise QuarantineResolved(quarantine_id, held.status)
    done = MessageDiscarded(quarantine_id=quarantine_id, reason=reason)
    envelope = envelope_for(done, recording=recording, subject=quarantine_id, place=place)
    await uow.streams.append(
        quarantine_stream(quarantine_id), expected_version=held.version, events=[envelope]
    )
    await uow.streams.erase_values(held.event_id)  # where nothing is sealed, too
    await uow.streams.shred(quarantine_id)
