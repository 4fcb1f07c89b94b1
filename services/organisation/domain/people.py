"""A person the organisation knows: registered once, with the details it knows them by."""

from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import datetime
from uuid import UUID

from events.envelope import Envelope
from events.registry import decode_payload
from events.shared import PersonDetails, PersonRegistered


@dataclass(frozen=True)
class PersonState:
    """A registered person, as their stream says."""

    person_id: UUID
    details: PersonDetails
    place: str
    registered_at: datetime
    version: int


@dataclass(frozen=True)
class ExistingPerson:
    """A person already holding an identifier a new registration asked for."""

    person_id: UUID
    nhs_number: str | None
    local_id: str | None


def person_from(events: Sequence[Envelope]) -> PersonState | None:
    """Fold a person's stream into their state (None when the stream is empty)."""
    state: PersonState | None = None
    for envelope in events:
        payload = decode_payload(envelope.type, envelope.schema_version, envelope.data)
        if isinstance(payload, PersonRegistered):
            state = PersonState(
                payload.person_id, payload.details, envelope.place, envelope.occurred_at, 0
            )
    return replace(state, version=len(events)) if state else None


def register_person(person_id: UUID, details: PersonDetails) -> PersonRegistered:
    """Decide the event that registers a person under a new id."""
    return PersonRegistered(person_id=person_id, details=details)


def details_from_referral(details: PersonDetails) -> PersonDetails:
    """Return a referred person's details as the receiver keeps them: no sender's local id."""
    return details.model_copy(update={"local_id": None})
