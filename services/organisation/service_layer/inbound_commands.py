"""Apply a charity's message as the command its source's mapping says (register or update
a person, open or close a case, record an event, accept or decline a referral), or say why
it cannot be: the field and the rule, never half of it applied (it runs in an attempt that
leaves nothing behind if any rule refuses it).
"""

from dataclasses import dataclass
from typing import Any
from uuid import UUID

from pydantic import BaseModel, ConfigDict, ValidationError

from events.identifiers import ShortText
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
from services.organisation.domain.recording import Recording
from services.organisation.service_layer import cases, people, referrals
from services.organisation.service_layer.streams import load_case
from services.organisation.service_layer.unit_of_work import UnitOfWork
from services.runtime.person_keys import RecordErased

ERASED_RULE = "person_erased"


@dataclass(frozen=True)
class Applied:
    """A message applied: as which command, to whom (and which case, which event)."""

    command: str
    person_id: UUID
    case_id: UUID | None = None
    event_id: UUID | None = None


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


async def applied_or_why(
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
