"""Each organisation's involvement with the citizen: its registration and its cases.

Everything here is keyed by one organisation's own references (its person id, its case
ids), so only that organisation's events touch it, and they arrive in order.
"""

from collections.abc import Callable
from datetime import datetime
from typing import Any
from uuid import UUID

from events.envelope import Envelope
from events.mental_health import CareCoordinatorAssigned
from events.registry import EventPayload
from events.shared import CaseClosed, CaseEvent, CaseOpened, KeyWorker, PersonRegistered
from events.voluntary import KeyWorkerAssigned
from services.projection.domain.view import (
    CaseView,
    Involvement,
    KeyWorkerContact,
    KnownAs,
    Registration,
)

Involvements = tuple[Involvement, ...]


def apply_to_involvements(
    involvements: Involvements, envelope: Envelope, payload: EventPayload
) -> Involvements:
    """Return the involvements with one event applied (the same tuple when it changes none)."""
    if not isinstance(payload, _INVOLVEMENT_EVENTS):
        return involvements
    index = next(
        (
            n
            for n, i in enumerate(involvements)
            if i.person_id == envelope.subject and i.org == envelope.org
        ),
        None,
    )
    if index is None:
        added = _changed(
            Involvement(org=envelope.org, person_id=envelope.subject), envelope, payload
        )
        return tuple(sorted((*involvements, added), key=lambda i: (i.org, i.person_id)))
    changed = _changed(involvements[index], envelope, payload)
    return (*involvements[:index], changed, *involvements[index + 1 :])


def _changed(involvement: Involvement, envelope: Envelope, payload: EventPayload) -> Involvement:
    if isinstance(payload, PersonRegistered):
        return involvement.model_copy(update={"registration": _registration(envelope, payload)})
    assert isinstance(payload, CaseEvent)
    cases = _apply_to_cases(involvement.cases, envelope.occurred_at, payload)
    return involvement.model_copy(update={"cases": cases})


def _registration(envelope: Envelope, payload: PersonRegistered) -> Registration:
    known_as = KnownAs(**payload.details.__dict__)
    return Registration(occurred_at=envelope.occurred_at, place=envelope.place, known_as=known_as)


def _apply_to_cases(
    cases: tuple[CaseView, ...], at: datetime, payload: CaseEvent
) -> tuple[CaseView, ...]:
    index = next((n for n, c in enumerate(cases) if c.case_id == payload.case_id), None)
    current = (
        CaseView(case_id=payload.case_id, last_contact_at=at) if index is None else cases[index]
    )
    update = _CASE_CHANGES.get(type(payload), _no_change)(payload, at)
    update["last_contact_at"] = max(current.last_contact_at, at)
    changed = current.model_copy(update=update)
    if index is not None and _case_order(changed) == _case_order(current):
        return (*cases[:index], changed, *cases[index + 1 :])
    others = cases if index is None else (*cases[:index], *cases[index + 1 :])
    return tuple(sorted((*others, changed), key=_case_order))


def _case_order(case: CaseView) -> tuple[datetime, UUID]:
    return (case.opened_at or case.last_contact_at, case.case_id)


def _opened(payload: Any, at: datetime) -> dict[str, Any]:
    return {
        "status": "open",
        "reason": payload.reason,
        "key_worker": _contact(payload.key_worker),
        "opened_at": at,
    }


def _closed(payload: Any, at: datetime) -> dict[str, Any]:
    return {"status": "closed", "outcome": payload.outcome, "closed_at": at}


def _coordinator(payload: Any, at: datetime) -> dict[str, Any]:
    return {"key_worker": _contact(payload.coordinator)}


def _key_worker(payload: Any, at: datetime) -> dict[str, Any]:
    return {"key_worker": _contact(payload.key_worker)}


def _no_change(payload: Any, at: datetime) -> dict[str, Any]:
    return {}


def _contact(worker: KeyWorker) -> KeyWorkerContact:
    return KeyWorkerContact(**worker.__dict__)


_INVOLVEMENT_EVENTS = (PersonRegistered, CaseEvent)
_CASE_CHANGES: dict[type[EventPayload], Callable[[Any, datetime], dict[str, Any]]] = {
    CaseOpened: _opened,
    CaseClosed: _closed,
    CareCoordinatorAssigned: _coordinator,
    KeyWorkerAssigned: _key_worker,
}
