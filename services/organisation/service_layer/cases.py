"""Open cases, record events on them, close them."""

from collections.abc import Sequence
from typing import NamedTuple
from uuid import UUID, uuid4

from events.envelope import Envelope
from services.organisation.domain import cases
from services.organisation.domain.case_vocabulary import case_event, is_retry_of
from services.organisation.domain.cases import CaseState
from services.organisation.domain.commands import (
    CloseCase,
    OpenCase,
    RecordCaseEvent,
    RetractCaseEvent,
)
from services.organisation.domain.errors import CaseNotFound, EventIdTaken
from services.organisation.domain.recording import Recording, envelope_for
from services.organisation.service_layer.streams import (
    CONFLICT_ATTEMPTS,
    case_stream,
    load_case,
    load_person,
    retrying_conflicts,
)
from services.organisation.service_layer.unit_of_work import UnitOfWork
from services.runtime.event_store import EventIdReused, StoredEvent


class CaseWritten(NamedTuple):
    """A case written to: its id, the event written and the case's new version."""

    case_id: UUID
    event_id: UUID
    version: int


async def open_case(
    uow: UnitOfWork,
    *,
    recording: Recording,
    command: OpenCase,
    case_id: UUID | None = None,
) -> CaseWritten:
    """Open a case for a registered person, under a new id unless given (raises PersonNotFound)."""
    person = await load_person(uow, command.person_id)
    case_id = case_id or uuid4()
    payload = cases.open_case(person, command, case_id=case_id)
    envelope = envelope_for(
        payload,
        recording=recording,
        subject=person.person_id,
        place=person.place,
        occurred_at=command.occurred_at,
    )
    return await _append(uow, case_id=case_id, expected_version=0, envelope=envelope)


async def record_case_event(
    uow: UnitOfWork, *, recording: Recording, command: RecordCaseEvent
) -> CaseWritten:
    """Record an event on an open case; a retried event id gets its first answer again."""
    try:
        return await retrying_conflicts(
            lambda: _record_once(uow, recording, command),
            attempts=_attempts(command.expected_version),
        )
    except EventIdReused:
        return await _answer_for_reused_id(uow, command)


async def _answer_for_reused_id(uow: UnitOfWork, command: RecordCaseEvent) -> CaseWritten:
    """A concurrent retry may have just written this event id to this case; else it is taken."""
    stored = await uow.streams.read(case_stream(command.case_id))
    earlier = _earlier_answer(stored, command)
    if earlier is None:
        raise EventIdTaken()
    return earlier


async def _record_once(
    uow: UnitOfWork, recording: Recording, command: RecordCaseEvent
) -> CaseWritten:
    stored = await uow.streams.read(case_stream(command.case_id))
    if (earlier := _earlier_answer(stored, command)) is not None:
        return earlier
    state = cases.case_from([s.envelope for s in stored])
    if state is None:
        raise CaseNotFound(command.case_id)
    payload = case_event(state, command, sector=uow.sector, now=recording.recorded_at)
    envelope = envelope_for(
        payload,
        recording=recording,
        subject=state.person_id,
        place=state.place,
        occurred_at=command.occurred_at,
        event_id=command.event_id,
    )
    return await _append_to(uow, state, envelope)


def _earlier_answer(stored: Sequence[StoredEvent], command: RecordCaseEvent) -> CaseWritten | None:
    """Return the answer a retry of an event already on the case gets (raises EventIdTaken
    when its id names another event there)."""
    for event in stored:
        if event.envelope.event_id == command.event_id:
            if not is_retry_of(event.envelope, command):
                raise EventIdTaken()
            return CaseWritten(command.case_id, event.envelope.event_id, event.stream_version)
    return None


async def close_case(uow: UnitOfWork, *, recording: Recording, command: CloseCase) -> CaseWritten:
    """Close an open case with its outcome."""
    return await retrying_conflicts(
        lambda: _close_once(uow, recording, command),
        attempts=_attempts(command.expected_version),
    )


async def _close_once(uow: UnitOfWork, recording: Recording, command: CloseCase) -> CaseWritten:
    state = await load_case(uow, command.case_id)
    payload = cases.close_case(state, command)
    envelope = envelope_for(
        payload, recording=recording, subject=state.person_id, place=state.place
    )
    return await _append_to(uow, state, envelope)


async def get_case(uow: UnitOfWork, case_id: UUID) -> CaseState:
    """Return a case's state, or raise CaseNotFound."""
    return await load_case(uow, case_id)


def _attempts(expected_version: int | None) -> int:
    """A client that named the version it read wants a conflict, not a silent retry."""
    return 1 if expected_version is not None else CONFLICT_ATTEMPTS


async def _append_to(uow: UnitOfWork, state: CaseState, envelope: Envelope) -> CaseWritten:
    return await _append(
        uow, case_id=state.case_id, expected_version=state.version, envelope=envelope
    )


async def _append(
    uow: UnitOfWork,
    *,
    case_id: UUID,
    expected_version: int,
    envelope: Envelope,
) -> CaseWritten:
    version = await uow.streams.append(
        case_stream(case_id), expected_version=expected_version, events=[envelope]
    )
    return CaseWritten(case_id, envelope.event_id, version)


async def retract_case_event(
    uow: UnitOfWork, *, recording: Recording, command: RetractCaseEvent
) -> CaseWritten:
    """Record that an event on the case was entered in error (the case reads as if it had
    not been; the event stays in the history, marked)."""
    return await retrying_conflicts(lambda: _retract_once(uow, recording, command))


async def _retract_once(
    uow: UnitOfWork, recording: Recording, command: RetractCaseEvent
) -> CaseWritten:
    state = await load_case(uow, command.case_id)
    payload = cases.retract(
        state, command.event_id, command.reason, erase_values=command.erase_values
    )
    envelope = envelope_for(
        payload, recording=recording, subject=state.person_id, place=state.place
    )
    written = await _append_to(uow, state, envelope)
    if command.erase_values:
        await uow.streams.erase_values(command.event_id)
    return written
