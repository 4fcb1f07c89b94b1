"""A case: opened for a person with a key worker, events recorded on it, then closed."""

from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Literal
from uuid import UUID

from events.envelope import Envelope
from events.mental_health import CareCoordinatorAssigned, CrisisEpisodeEnded, CrisisEpisodeStarted
from events.recording_rules import ALREADY_RECORDED
from events.registry import EventPayload, decode_payload
from events.shared import (
    CaseClosed,
    CaseOpened,
    EnteredInError,
    FlagLifted,
    FlagName,
    FlagRaised,
    KeyWorker,
)
from events.voluntary import KeyWorkerAssigned
from services.organisation.domain.commands import CloseCase, OpenCase
from services.organisation.domain.errors import (
    CaseAlreadyClosed,
    CrisisEpisodeNotStarted,
    EventNotOnCase,
    FlagNotRaised,
    NotRetractable,
    VersionConflict,
)
from services.organisation.domain.people import PersonState

CaseStatus = Literal["open", "closed"]


@dataclass(frozen=True)
class CaseState:
    """A case as its stream says: who it is for, who leads it, whether it is still open."""

    case_id: UUID
    person_id: UUID
    status: CaseStatus
    reason: str
    key_worker: KeyWorker
    place: str
    opened_at: datetime
    version: int = 0
    referral_id: UUID | None = None
    flags: frozenset[FlagName] = frozenset()
    in_crisis: bool = False
    closed_at: datetime | None = None
    outcome: str | None = None
    recorded: tuple[tuple[UUID, str], ...] = ()  # every event on it, id and type, in order
    retracted: frozenset[UUID] = frozenset()


def case_from(events: Sequence[Envelope]) -> CaseState | None:
    """Fold a case's stream into its state (None when the stream is empty): as if the events
    entered in error (`event.entered_in_error`) had not been."""
    retractions = [
        decode_payload(e.type, e.schema_version, e.data)
        for e in events
        if e.type == EnteredInError.event_type
    ]
    retracted = frozenset(
        p.retracted_event_id for p in retractions if isinstance(p, EnteredInError)
    )
    state: CaseState | None = None
    for envelope in events:  # a retracted event is never read: its values may be erased
        if envelope.event_id in retracted or envelope.type == EnteredInError.event_type:
            continue
        payload = decode_payload(envelope.type, envelope.schema_version, envelope.data)
        if isinstance(payload, CaseOpened):
            state = _opened(envelope, payload)
        elif state is not None:
            state = _apply(state, envelope, payload)
    if state is None:
        return None
    recorded = tuple((e.event_id, e.type) for e in events)
    return replace(state, version=len(events), recorded=recorded, retracted=retracted)


def retract(
    state: CaseState, event_id: UUID, reason: str, *, erase_values: bool = False
) -> EnteredInError:
    """Decide the event saying an event on the case was entered in error (not its opening:
    close the case instead; not a retraction; once), and whether its personal values are
    erased with it."""
    kind = dict(state.recorded).get(event_id)
    if kind is None:
        raise EventNotOnCase(state.case_id, event_id)
    if kind in (CaseOpened.event_type, EnteredInError.event_type):
        raise NotRetractable(f"a {kind} event cannot be retracted")
    if event_id in state.retracted:
        raise NotRetractable(f"event {event_id} was retracted already")
    return EnteredInError(
        case_id=state.case_id,
        retracted_event_id=event_id,
        retracted_type=kind,
        reason=reason,
        values_erased=erase_values,
    )


def _opened(envelope: Envelope, payload: CaseOpened) -> CaseState:
    return CaseState(
        case_id=payload.case_id,
        person_id=payload.person_id,
        status="open",
        reason=payload.reason,
        key_worker=payload.key_worker,
        place=envelope.place,
        opened_at=envelope.occurred_at,
        referral_id=payload.referral_id,
    )


def _apply(state: CaseState, envelope: Envelope, payload: EventPayload) -> CaseState:
    if isinstance(payload, CaseClosed):
        return replace(
            state, status="closed", closed_at=envelope.occurred_at, outcome=payload.outcome
        )
    if isinstance(payload, FlagRaised | FlagLifted):
        change = {payload.flag}
        flags = state.flags | change if isinstance(payload, FlagRaised) else state.flags - change
        return replace(state, flags=flags)
    if isinstance(payload, CrisisEpisodeStarted | CrisisEpisodeEnded):
        return replace(state, in_crisis=isinstance(payload, CrisisEpisodeStarted))
    if isinstance(payload, CareCoordinatorAssigned):
        return replace(state, key_worker=payload.coordinator)
    if isinstance(payload, KeyWorkerAssigned):
        return replace(state, key_worker=payload.key_worker)
    return state


def open_case(person: PersonState, command: OpenCase, *, case_id: UUID) -> CaseOpened:
    """Decide the event that opens a case for a registered person.

    A case opened on accepting a referral takes the referral's reason as it was recorded.
    """
    opened = {
        "case_id": case_id,
        "person_id": person.person_id,
        "reason": command.reason,
        "key_worker": command.key_worker,
        "referral_id": command.referral_id,
    }
    context = ALREADY_RECORDED if command.referral_id is not None else None
    return CaseOpened.model_validate(opened, context=context)


def ensure_writable(state: CaseState, *, expected_version: int | None) -> None:
    """Refuse to write to a closed case, or to one that moved past the version the client read."""
    if state.status == "closed":
        raise CaseAlreadyClosed(state.case_id)
    if expected_version is not None and expected_version != state.version:
        raise VersionConflict(expected=expected_version, actual=state.version)


def ensure_follows_history(state: CaseState, payload: EventPayload) -> None:
    """Refuse an event that lifts or ends what the case does not have (raised, or started)."""
    if isinstance(payload, FlagLifted) and payload.flag not in state.flags:
        raise FlagNotRaised(state.case_id, payload.flag)
    if isinstance(payload, CrisisEpisodeEnded) and not state.in_crisis:
        raise CrisisEpisodeNotStarted(state.case_id)


def close_case(state: CaseState, command: CloseCase) -> CaseClosed:
    """Decide the event that closes an open case with its outcome."""
    ensure_writable(state, expected_version=command.expected_version)
    return CaseClosed(case_id=state.case_id, outcome=command.outcome)
