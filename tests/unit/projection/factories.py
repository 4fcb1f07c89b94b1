"""Typed events for projection tests: payload models from events/, in real envelopes."""

from collections.abc import Iterable, Sequence
from datetime import UTC, date, datetime, timedelta
from random import Random
from typing import Any
from uuid import UUID, uuid4

from events.envelope import Envelope, OrgId
from events.registry import EventPayload, decode_payload
from events.shared import (
    CaseOpened,
    KeyWorker,
    PersonDetails,
    PersonRegistered,
)
from services.projection.domain.fold import apply, new_view
from services.projection.domain.view import CitizenView
from tests.factories import an_envelope

NHS_NUMBER = "9434765919"
START = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)


def minutes(n: float) -> datetime:
    """Return the moment `n` minutes into the story."""
    return START + timedelta(minutes=n)


def recorded(
    payload: EventPayload, *, org: OrgId, subject: str, at: datetime, **fields: Any
) -> Envelope:
    """Return the envelope an organisation's service would write for `payload`."""
    values: dict[str, Any] = {
        "type_": payload.event_type,
        "schema_version": payload.schema_version,
        "category": payload.category,
        "data": payload.model_dump(mode="json"),
        "occurred_at": at,
        "recorded_at": at,
        "actor": f"{org}/frontline/key{org[:3]}",
        **fields,
    }
    return an_envelope(org=org, subject=subject, **values)


def details(
    *,
    nhs_number: str | None = NHS_NUMBER,
    given_name: str = "David",
    postcode: str | None = None,
    family_name: str = "Smith",
    date_of_birth: date = date(1979, 3, 12),
    address: str | None = None,
) -> PersonDetails:
    """Return the details a registration or referral carries about the story's person."""
    return PersonDetails(
        nhs_number=nhs_number,
        given_name=given_name,
        family_name=family_name,
        date_of_birth=date_of_birth,
        postcode=postcode,
        address=address,
    )


class PersonAt:
    """One organisation's record of a person: builds its events about them."""

    def __init__(self, org: OrgId, person_id: UUID | None = None) -> None:
        self.org = org
        self.person_id = person_id or uuid4()

    @property
    def subject(self) -> str:
        """Return the envelope subject: the organisation's person id as text."""
        return str(self.person_id)

    def event(self, payload: EventPayload, at: datetime, **fields: Any) -> Envelope:
        """Return the envelope of an event this organisation records about the person."""
        return recorded(payload, org=self.org, subject=self.subject, at=at, **fields)

    def registered(self, at: datetime, person: PersonDetails, **fields: Any) -> Envelope:
        """Return the person's registration with this organisation."""
        return self.event(PersonRegistered(person_id=self.person_id, details=person), at, **fields)

    def case_opened(self, at: datetime, case_id: UUID, reason: str = "support") -> Envelope:
        """Return the opening of a case led by a key worker."""
        worker = KeyWorker(name=f"{self.org} worker", role="key worker")
        payload = CaseOpened(
            case_id=case_id, person_id=self.person_id, reason=reason, key_worker=worker
        )
        return self.event(payload, at)


def interleaved(logs: Sequence[Sequence[Envelope]], seed: int) -> list[Envelope]:
    """Return the logs merged in a random order that keeps each log's own order."""
    rng = Random(seed)
    queues = [list(log) for log in logs]
    merged: list[Envelope] = []
    while any(queues):
        merged.append(rng.choice([queue for queue in queues if queue]).pop(0))
    return merged


def folded(events: Iterable[Envelope], view: CitizenView | None = None) -> CitizenView:
    """Return `view` (or a new one) with `events` applied one at a time, as `apply` does."""
    view = view or new_view(uuid4())
    for envelope in events:
        payload = decode_payload(envelope.type, envelope.schema_version, envelope.data)
        view = apply(view, envelope, payload)
    return view
