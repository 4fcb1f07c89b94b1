"""Each organisation's involvement with the citizen: its registration and its cases.

Everything here is keyed by one organisation's own references (its person id, its case
ids), so only that organisation's events touch it, and they arrive in order.

A fold works on `Involvements`, a mutable working copy keyed by (organisation, person id);
`involvements_of` turns it back into the view's sorted tuple once, however many events
changed it.
"""

from collections.abc import Callable, Iterable
from datetime import UTC, datetime
from typing import Any
from uuid import UUID

from events.envelope import Envelope, recorded_by_referral_inbox
from events.mental_health import CareCoordinatorAssigned
from events.registry import EventPayload
from events.shared import (
    CaseClosed,
    CaseEvent,
    CaseOpened,
    KeyWorker,
    PersonDetailsChanged,
    PersonRegistered,
)
from events.voluntary import KeyWorkerAssigned
from services.projection.domain.view import (
    CaseView,
    Involvement,
    KeyWorkerContact,
    KnownAs,
    Registration,
)

PersonKey = tuple[str, str]  # (organisation, its person id)

_NEVER = datetime.min.replace(tzinfo=UTC)  # orders a case with no dates first


class WorkingInvolvement:
    """One involvement while a fold changes it: its stored form until an event touches it."""

    __slots__ = ("cases", "org", "person_id", "registration", "stored")

    def __init__(self, org: str, person_id: str, stored: Involvement | None = None) -> None:
        self.org, self.person_id, self.stored = org, person_id, stored
        self.registration = stored.registration if stored is not None else None
        # each case's fields while it changes (a stored case stays a model until then)
        self.cases: dict[UUID, CaseView | dict[str, Any]] | None = None

    def involvement(self) -> Involvement:
        """Return the involvement as the view shows it (the stored one when nothing changed)."""
        if self.stored is not None and self.cases is None:
            if self.registration is self.stored.registration:
                return self.stored
            return self.stored.model_copy(update={"registration": self.registration})
        cases = tuple(sorted(map(_case_view, (self.cases or {}).values()), key=_case_order))
        if self.stored is not None and self.registration is self.stored.registration:
            return self.stored.model_copy(update={"cases": cases})
        update: dict[str, Any] = {"cases": cases, "registration": self.registration}
        base = self.stored or Involvement(org=self.org, person_id=self.person_id)
        return base.model_copy(update=update)

    def case_fields(self, case_id: UUID) -> dict[str, Any] | None:
        """Return the changing fields of one case (None for a case not seen before)."""
        if self.cases is None:
            stored = self.stored.cases if self.stored is not None else ()
            self.cases = {case.case_id: case for case in stored}
        case = self.cases.get(case_id)
        if isinstance(case, CaseView):
            case = self.cases[case_id] = dict(case.__dict__)
        return case


Involvements = dict[PersonKey, WorkingInvolvement]


def working_involvements(involvements: Iterable[Involvement]) -> Involvements:
    """Return a working copy of a view's involvements."""
    return {(i.org, i.person_id): WorkingInvolvement(i.org, i.person_id, i) for i in involvements}


def involvements_of(involvements: Involvements) -> tuple[Involvement, ...]:
    """Return the view's involvements, in (organisation, person id) order."""
    return tuple(involvements[key].involvement() for key in sorted(involvements))


def concerns_involvements(kind: type[EventPayload]) -> bool:
    """Return whether events of this payload type can change involvements."""
    return issubclass(kind, _INVOLVEMENT_EVENTS)


def apply_to_involvements(
    involvements: Involvements, envelope: Envelope, payload: EventPayload
) -> bool:
    """Apply one event to the involvements; return whether it changed them."""
    if not isinstance(payload, _INVOLVEMENT_EVENTS):
        return False
    key = (envelope.org, envelope.subject)
    involvement = involvements.get(key)
    if involvement is None:
        involvement = involvements[key] = WorkingInvolvement(envelope.org, envelope.subject)
    if isinstance(payload, PersonRegistered):
        involvement.registration = _registration(envelope, payload)
        return True
    if isinstance(payload, PersonDetailsChanged):
        return _details_changed(involvement, envelope, payload)
    assert isinstance(payload, CaseEvent)
    _apply_to_case(involvement, envelope.occurred_at, payload)
    return True


def _registration(envelope: Envelope, payload: PersonRegistered) -> Registration:
    known_as = KnownAs(**payload.details.__dict__)
    return Registration(
        occurred_at=envelope.occurred_at,
        place=envelope.place,
        known_as=known_as,
        from_referral=recorded_by_referral_inbox(envelope.actor),
    )


def _details_changed(
    involvement: "WorkingInvolvement", envelope: Envelope, payload: PersonDetailsChanged
) -> bool:
    """Apply what changed to the registration (nothing before it: a record's events keep
    their order, so its registration comes first)."""
    registration = involvement.registration
    if registration is None:
        return False
    known_as = registration.known_as.model_copy(
        update={name: getattr(payload.changes, name) for name in payload.changes.model_fields_set}
    )
    involvement.registration = registration.model_copy(
        update={"known_as": known_as, "changed_at": envelope.occurred_at}
    )
    return True


def _apply_to_case(involvement: WorkingInvolvement, at: datetime, payload: CaseEvent) -> None:
    case = involvement.case_fields(payload.case_id)
    if case is None:
        case = {**_NEW_CASE, "case_id": payload.case_id, "last_contact_at": at}
        assert involvement.cases is not None
        involvement.cases[payload.case_id] = case
    last_contact_at = max(case["last_contact_at"], at)
    case.update(_CASE_CHANGES.get(type(payload), _no_change)(payload, at))
    case["last_contact_at"] = last_contact_at


def _case_view(case: CaseView | dict[str, Any]) -> CaseView:
    return case if isinstance(case, CaseView) else CaseView.model_validate(case)


def _case_order(case: CaseView) -> tuple[datetime, UUID]:
    return (case.opened_at or case.last_contact_at or _NEVER, case.case_id)


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


_INVOLVEMENT_EVENTS = (PersonRegistered, PersonDetailsChanged, CaseEvent)
_NEW_CASE = {
    name: field.default for name, field in CaseView.model_fields.items() if not field.is_required()
}
_CASE_CHANGES: dict[type[EventPayload], Callable[[Any, datetime], dict[str, Any]]] = {
    CaseOpened: _opened,
    CaseClosed: _closed,
    CareCoordinatorAssigned: _coordinator,
    KeyWorkerAssigned: _key_worker,
}
