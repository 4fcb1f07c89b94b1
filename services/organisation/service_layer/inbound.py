"""Take in what a charity's own system pushed (a signed webhook's body, or a CSV row): apply
it as the command its source's mapping says, or keep it aside (quarantine) with the field
and the rule that stopped it. A quarantined message is applied again once its mapping is
fixed or its person known (`redrive`), or discarded by an operator (its contents shredded).

Nothing is partly applied: the command runs in an attempt that leaves nothing behind if any
rule refuses it, and then the message is quarantined instead, in the same transaction.
"""

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any
from uuid import UUID, uuid5

from pydantic import BaseModel, ConfigDict, ValidationError

from events.identifiers import ShortText
from events.inbound import MessageDiscarded, MessageQuarantined, MessageRedriven
from events.recording_rules import ALREADY_RECORDED
from events.registry import decode_payload
from events.shared import DetailsChange, KeyWorker, PersonDetails
from services.organisation.domain.commands import (
    AcceptReferral,
    ChangePersonDetails,
    CloseCase,
    DeclineReferral,
    OpenCase,
    RecordCaseEvent,
)
from services.organisation.domain.errors import (
    Conflict,
    DomainError,
    NotFound,
    PersonAlreadyRegistered,
)
from services.organisation.domain.inbound_mapping import (
    MappedCommand,
    Source,
    Unmappable,
    map_message,
    source_case_id,
    source_person_id,
)
from services.organisation.domain.recording import Recording, envelope_for
from services.organisation.service_layer import cases, people, referrals
from services.organisation.service_layer.streams import load_case
from services.organisation.service_layer.unit_of_work import UnitOfWork
from services.runtime.idempotency import StoredResponse, request_fingerprint
from services.runtime.person_keys import RecordErased
from services.runtime.sealing import has_erased_values

_QUARANTINE = UUID("0d6b3a52-8c1f-4a97-b5e2-7f40c9d1a6e3")
ERASED_RULE = "person_erased"


@dataclass(frozen=True)
class Applied:
    """A message applied: as which command, to whom (and which case, which event)."""

    command: str
    person_id: UUID
    case_id: UUID | None = None
    event_id: UUID | None = None


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


class _CaseOpening(BaseModel):
    model_config = ConfigDict(extra="forbid")

    reason: ShortText
    key_worker: KeyWorker


class _Accepting(BaseModel):
    model_config = ConfigDict(extra="forbid")

    key_worker: KeyWorker | None = None


class _Declining(BaseModel):
    model_config = ConfigDict(extra="forbid")

    reason: ShortText


class _CaseClosing(BaseModel):
    model_config = ConfigDict(extra="forbid")

    outcome: ShortText


def quarantine_id_of(source: str, message_id: str) -> UUID:
    """Return the quarantine id of a source's message: the same for the same message."""
    return uuid5(_QUARANTINE, f"{source}:{message_id}")


def quarantine_stream(quarantine_id: UUID) -> str:
    """Return the stream of a quarantined message."""
    return f"quarantine-{quarantine_id}"


async def take_inbound(
    uow: UnitOfWork,
    *,
    source: Source,
    message_id: str,
    message: dict[str, Any],
    recording: Recording,
) -> Applied | Quarantined:
    """Apply a source's message, or quarantine it saying why (nothing of it half-applied)."""
    why = await _applied_or_why(uow, source, message, recording)
    if not isinstance(why, Unmappable):
        return why
    return await _quarantine(
        uow, source, message_id=message_id, message=message, why=why, recording=recording
    )


async def take_inbound_once(
    uow: UnitOfWork,
    *,
    source: Source,
    message_id: str,
    message: dict[str, Any],
    recording: Recording,
) -> tuple[StoredResponse, bool]:
    """Take a message in once per message id (`take_inbound`): return the answer, and
    whether it is the first answer again (a re-delivery records nothing new; the same id with
    another message raises IdempotencyKeyReused). The caller commits."""
    scope = f"inbound:{source.name}"
    fingerprint = request_fingerprint("INBOUND", source.name, message)
    earlier = await uow.idempotency.claim(scope=scope, key=message_id, fingerprint=fingerprint)
    if earlier is not None:
        return earlier, True
    outcome = await take_inbound(
        uow, source=source, message_id=message_id, message=message, recording=recording
    )
    answer = answer_of(outcome)
    await uow.idempotency.remember(scope=scope, key=message_id, response=answer)
    return answer, False


def answer_of(outcome: "Applied | Quarantined") -> StoredResponse:
    """Return what a message's sender is told: 200 applied (what, to whom), 202 kept in
    quarantine (the field and rule)."""
    if isinstance(outcome, Applied):
        said: dict[str, Any] = {"status": "applied", "command": outcome.command,
                                "person_id": str(outcome.person_id)}  # fmt: skip
        if outcome.case_id is not None:
            said["case_id"] = str(outcome.case_id)
        if outcome.event_id is not None:
            said["event_id"] = str(outcome.event_id)
        return StoredResponse(200, said)
    said = {"status": "quarantined", "quarantine_id": str(outcome.quarantine_id),
            "field": outcome.field, "rule": outcome.rule}  # fmt: skip
    return StoredResponse(202, said)


async def _applied_or_why(
    uow: UnitOfWork, source: Source, message: dict[str, Any], recording: Recording
) -> Applied | Unmappable:
    mapped = map_message(source.mapping, message)
    if isinstance(mapped, Unmappable):
        return mapped
    try:
        async with uow.attempt():
            return await _apply(uow, source, mapped, recording)
    except DomainError as error:
        return _refusal(error)
    except RecordErased:  # the person was erased: nothing about them is kept, not even this
        return Unmappable("person", ERASED_RULE, "the person was erased: the message is not kept")
    except ValidationError as error:
        first = error.errors(include_input=False)[0]
        field = ".".join(str(part) for part in first["loc"]) or "message"
        return Unmappable(field, first["type"], first["msg"])


def _refusal(error: DomainError) -> Unmappable:
    """Return a domain refusal as the quarantine keeps it: its first field and rule."""
    if error.problems:
        first = error.problems[0]
        return Unmappable(".".join(map(str, first["loc"])), first["type"], first["msg"])
    return Unmappable("message", error.code, error.message)


async def _apply(
    uow: UnitOfWork, source: Source, mapped: MappedCommand, recording: Recording
) -> Applied:
    if mapped.command == "register_person":
        return await _register_or_update(uow, source, mapped, recording)
    if mapped.command in ("accept_referral", "decline_referral"):
        return await _decide_referral(uow, source, mapped, recording)
    person_id = await _person(uow, source, mapped.person_ref)
    assert mapped.case_ref is not None  # the mapping asks case commands for a case id
    case_id = source_case_id(source.name, mapped.case_ref)
    if mapped.command == "open_case":
        opening = _CaseOpening.model_validate(mapped.values)
        command = OpenCase(person_id, opening.reason, opening.key_worker)
        await cases.open_case(uow, recording=recording, command=command, case_id=case_id)
        return Applied("open_case", person_id, case_id)
    await _ensure_case_of(uow, case_id, person_id, source)
    if mapped.command == "close_case":
        closing = _CaseClosing.model_validate(mapped.values)
        close = CloseCase(case_id, closing.outcome)
        await cases.close_case(uow, recording=recording, command=close)
        return Applied("close_case", person_id, case_id)
    assert mapped.event_type is not None  # record_event names its type
    record = RecordCaseEvent(case_id, mapped.event_type, mapped.values)
    written = await cases.record_case_event(uow, recording=recording, command=record)
    return Applied("record_event", person_id, case_id, written.event_id)


async def _decide_referral(
    uow: UnitOfWork, source: Source, mapped: MappedCommand, recording: Recording
) -> Applied:
    """Accept (opening the charity's case, when it names a key worker) or decline a referral
    made to the organisation; an accepted person becomes known by the charity's id too."""
    field = source.mapping.referral_id_field or "referral"
    try:
        referral_id = UUID(str(mapped.referral_ref))
    except ValueError as error:
        raise _Refused(Unmappable(field, "uuid", "not a referral id of ours")) from error
    if mapped.command == "decline_referral":
        declining = _Declining.model_validate(mapped.values)
        decline = DeclineReferral(referral_id, declining.reason)
        decided = await referrals.decline_referral(uow, recording=recording, command=decline)
        return Applied("decline_referral", decided.person_id)
    accepting = _Accepting.model_validate(mapped.values)
    case_id = source_case_id(source.name, mapped.case_ref) if mapped.case_ref else None
    accept = AcceptReferral(referral_id, accepting.key_worker, case_id=case_id)
    decided = await referrals.accept_referral(uow, recording=recording, command=accept)
    if mapped.person_ref and await uow.people.find_by_local_id(mapped.person_ref) is None:
        known_as = ChangePersonDetails(decided.person_id, DetailsChange(local_id=mapped.person_ref))
        await people.change_person_details(uow, recording=recording, command=known_as)
    return Applied("accept_referral", decided.person_id, decided.case_id)


class _Refused(DomainError):
    """A message refused by a rule of the mapping's own (a malformed id)."""

    def __init__(self, why: Unmappable) -> None:
        loc = (why.field,)
        super().__init__(why.message, problems=[{"loc": loc, "type": why.rule, "msg": why.message}])


async def _register_or_update(
    uow: UnitOfWork, source: Source, mapped: MappedCommand, recording: Recording
) -> Applied:
    """Register the charity's person, or record what changed in how it knows a person
    already registered under its record id."""
    values = {"local_id": mapped.person_ref, **mapped.values}
    known = await uow.people.find_by_local_id(str(values["local_id"]))
    if known is not None:
        changes = DetailsChange.model_validate(values)
        change = ChangePersonDetails(known, changes)
        await people.change_person_details(uow, recording=recording, command=change)
        return Applied("update_person", known)
    details = PersonDetails.model_validate(values)
    person_id = source_person_id(source.name, mapped.person_ref)
    existing = await people.record_registration(
        uow,
        recording=recording,
        person_id=person_id,
        details=details,
        place=source.mapping.place,
    )
    if existing is not None:  # another record holds the NHS number: a person must look
        raise PersonAlreadyRegistered(existing.person_id, field="nhs_number")
    return Applied("register_person", person_id)


class UnknownPerson(NotFound):
    """The source names a person this organisation has no record of under its id."""

    def __init__(self, field: str, person_ref: str) -> None:
        message = f"no person registered with the source's id {person_ref!r}"
        super().__init__(
            message, problems=[{"loc": (field,), "type": "unknown_person", "msg": message}]
        )


class CaseOfAnotherPerson(Conflict):
    """The source's case is another person's."""

    code = "case_of_another_person"


async def _person(uow: UnitOfWork, source: Source, person_ref: str) -> UUID:
    person_id = await uow.people.find_by_local_id(person_ref)
    if person_id is None:
        raise UnknownPerson(source.mapping.person_id_field, person_ref)
    return person_id


async def _ensure_case_of(uow: UnitOfWork, case_id: UUID, person_id: UUID, source: Source) -> None:
    case = await load_case(uow, case_id)  # CaseNotFound: the source never opened it here
    if case.person_id != person_id:
        field = source.mapping.case_id_field or "case"
        message = "the source's case is another person's"
        raise CaseOfAnotherPerson(
            message, problems=[{"loc": (field,), "type": "case_of_another_person", "msg": message}]
        )


async def _quarantine(
    uow: UnitOfWork,
    source: Source,
    *,
    message_id: str,
    message: dict[str, Any],
    why: Unmappable,
    recording: Recording,
) -> Quarantined:
    quarantine_id = quarantine_id_of(source.name, message_id)
    payload = MessageQuarantined(
        quarantine_id=quarantine_id,
        source=source.name,
        message_id=message_id,
        field=why.field[:200],
        rule=why.rule[:64],
        detail=why.message[:2000],
        message={} if why.rule == ERASED_RULE else message,
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
    outcome = await _applied_or_why(uow, source, held.message, recording)
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


@dataclass
class ImportTally:
    """What an import did (or, dry, would do), row by row."""

    applied: dict[str, int]
    quarantined: list[tuple[int, str, str, str]]  # line, field, rule, quarantine id
    unchanged: int = 0  # rows imported before: nothing new

    @property
    def rows(self) -> int:
        """How many rows were read."""
        return sum(self.applied.values()) + len(self.quarantined) + self.unchanged


async def import_row(
    uow: UnitOfWork,
    tally: ImportTally,
    *,
    source: Source,
    line: int,
    row: dict[str, Any],
    recording: Recording,
) -> None:
    """Take one row of a source's CSV export in (once: a row is known by its contents, so
    the same file again records nothing new, and a changed row records what changed), and
    count what became of it. The caller commits, or not (a dry run)."""
    message_id = "csv-" + request_fingerprint("ROW", source.name, row)[:40]
    answer, replayed = await take_inbound_once(
        uow, source=source, message_id=message_id, message=row, recording=recording
    )
    said = answer.body
    if replayed:
        tally.unchanged += 1
    elif said["status"] == "applied":
        tally.applied[said["command"]] = tally.applied.get(said["command"], 0) + 1
    else:
        tally.quarantined.append((line, said["field"], said["rule"], said["quarantine_id"]))


ROWS_PER_TRANSACTION = 500


async def import_rows(
    new_uow: Callable[[], UnitOfWork],
    *,
    source: Source,
    rows: Sequence[tuple[int, dict[str, Any]]],
    recording: Recording,
    dry_run: bool = False,
    progress: Callable[[int], None] = lambda done: None,
) -> ImportTally:
    """Import a CSV export's rows (line, values), in order: each row applied or quarantined
    (never partly written: each in a savepoint of its own), 500 rows a transaction. A dry
    run does the same in one transaction it never commits, so later rows see earlier ones
    (a person registered above, a case opened above) exactly as a real import would."""
    tally = ImportTally({}, [])
    size = max(1, len(rows)) if dry_run else ROWS_PER_TRANSACTION
    for start in range(0, len(rows), size):
        async with new_uow() as uow:
            for line, row in rows[start : start + size]:
                async with uow.attempt():
                    await import_row(
                        uow, tally, source=source, line=line, row=row, recording=recording
                    )
                progress(tally.rows)
            if not dry_run:
                await uow.commit()
    return tally
