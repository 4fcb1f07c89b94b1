"""A person the organisation knows: registered once, with the details it knows them by."""

from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import datetime
from uuid import UUID

from events.consent import ConsentDecision, ConsentWithdrawn, Purpose
from events.envelope import Envelope, OrgId
from events.registry import decode_payload
from events.shared import DetailsChange, PersonDetails, PersonDetailsChanged, PersonRegistered

REFERRAL_PURPOSES: frozenset[Purpose] = frozenset({"direct_care", "care_coordination"})


@dataclass(frozen=True)
class SharingDecision:
    """A decision the person made about sharing, as this organisation recorded it."""

    withdrawn: bool
    sources: tuple[OrgId, ...] | None  # whose records (None: everyone's); given: the recorder's
    recipients: tuple[OrgId, ...]
    purposes: tuple[Purpose, ...]
    order: tuple[datetime, datetime, UUID]  # occurred, recorded, id: the latest stands


@dataclass(frozen=True)
class PersonState:
    """A registered person, as their stream says."""

    person_id: UUID
    details: PersonDetails
    place: str
    registered_at: datetime
    version: int
    sharing: tuple[SharingDecision, ...] = ()

    def withholds(self, *, source: OrgId, recipient: OrgId) -> bool:
        """Tell whether the person's decisions recorded here keep `source`'s records from
        `recipient` for the purposes a referral is for (for some purpose, the latest
        decision covering them is a withdrawal). Decisions recorded by other organisations
        are not known here: the single view applies them all."""
        for purpose in REFERRAL_PURPOSES:
            covering = [
                d
                for d in self.sharing
                if purpose in d.purposes
                and recipient in d.recipients
                and (d.sources is None or source in d.sources)
            ]
            if covering and max(covering, key=lambda d: d.order).withdrawn:
                return True
        return False


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
        elif state is not None and isinstance(payload, PersonDetailsChanged):
            state = replace(state, details=payload.changes.applied_to(state.details))
        elif state is not None and isinstance(payload, ConsentDecision):
            state = replace(state, sharing=(*state.sharing, _decision(envelope, payload)))
    return replace(state, version=len(events)) if state else None


def _decision(envelope: Envelope, payload: ConsentDecision) -> SharingDecision:
    withdrawn = isinstance(payload, ConsentWithdrawn)
    sources = payload.sources if isinstance(payload, ConsentWithdrawn) else (envelope.org,)
    order = (envelope.occurred_at, envelope.recorded_at, envelope.event_id)
    return SharingDecision(withdrawn, sources, payload.recipients, payload.purposes, order)


def change_details(person: PersonState, asked: DetailsChange) -> PersonDetailsChanged | None:
    """Decide the event recording what the request changes of how the person is known:
    only the values that differ from the current ones (None when none does)."""
    current = person.details
    changed = {
        name: getattr(asked, name)
        for name in asked.model_fields_set
        if getattr(asked, name) != getattr(current, name)
    }
    if not changed:
        return None
    return PersonDetailsChanged(
        person_id=person.person_id, changes=DetailsChange.model_validate(changed)
    )


def register_person(person_id: UUID, details: PersonDetails) -> PersonRegistered:
    """Decide the event that registers a person under a new id."""
    return PersonRegistered(person_id=person_id, details=details)


def details_from_referral(details: PersonDetails) -> PersonDetails:
    """Return a referred person's details as the receiver keeps them: no sender's local id."""
    return details.model_copy(update={"local_id": None})
