"""Register people, record changes in how they are known, and look them up."""

from typing import NamedTuple
from uuid import UUID, uuid4

from events.shared import PersonDetails
from services.organisation.domain import people
from services.organisation.domain.commands import ChangePersonDetails, RegisterPerson
from services.organisation.domain.errors import PersonAlreadyRegistered
from services.organisation.domain.people import ExistingPerson, PersonState
from services.organisation.domain.recording import Recording, envelope_for
from services.organisation.service_layer.streams import (
    load_person,
    person_stream,
    retrying_conflicts,
)
from services.organisation.service_layer.unit_of_work import UnitOfWork


class Registered(NamedTuple):
    """A person registered: their id and their stream's version."""

    person_id: UUID
    version: int


async def register_person(
    uow: UnitOfWork, *, recording: Recording, command: RegisterPerson
) -> Registered:
    """Register a new person, refusing an NHS number or local id another person holds."""
    person_id = uuid4()
    existing = await record_registration(
        uow,
        recording=recording,
        person_id=person_id,
        details=command.details,
        place=command.place,
    )
    if existing is not None:
        raise PersonAlreadyRegistered(existing.person_id, field=_clashing(existing, command))
    return Registered(person_id, 1)


def _clashing(existing: ExistingPerson, command: RegisterPerson) -> str:
    nhs_number = command.details.nhs_number
    return "nhs_number" if nhs_number and existing.nhs_number == nhs_number else "local_id"


async def record_registration(
    uow: UnitOfWork,
    *,
    recording: Recording,
    person_id: UUID,
    details: PersonDetails,
    place: str,
    event_id: UUID | None = None,
) -> ExistingPerson | None:
    """Register a person unless another holds their identifiers; return that other, if any."""
    existing = await uow.people.claim(
        person_id=person_id, nhs_number=details.nhs_number, local_id=details.local_id
    )
    if existing is None:
        payload = people.register_person(person_id, details)
        envelope = envelope_for(
            payload, recording=recording, subject=person_id, place=place, event_id=event_id
        )
        stream_id = person_stream(person_id)
        await uow.streams.append(stream_id, expected_version=0, events=[envelope])
    return existing


class DetailsChanged(NamedTuple):
    """What a change recorded: the fields that changed (none: all already so), and the
    person's stream version after it."""

    person_id: UUID
    changed: tuple[str, ...]
    version: int


async def change_person_details(
    uow: UnitOfWork, *, recording: Recording, command: ChangePersonDetails
) -> DetailsChanged:
    """Record what changed in how the person is known; a value already so is no change, and
    an NHS number or local id another person holds is refused (PersonAlreadyRegistered)."""
    return await retrying_conflicts(lambda: _change_once(uow, recording, command))


async def _change_once(
    uow: UnitOfWork, recording: Recording, command: ChangePersonDetails
) -> DetailsChanged:
    person = await load_person(uow, command.person_id)
    payload = people.change_details(person, command.changes)
    if payload is None:
        return DetailsChanged(person.person_id, (), person.version)
    changed = payload.changes.model_fields_set
    if changed & {"nhs_number", "local_id"}:
        after = payload.changes.applied_to(person.details)
        existing = await uow.people.change(
            person_id=person.person_id, nhs_number=after.nhs_number, local_id=after.local_id
        )
        if existing is not None:
            field = "nhs_number" if existing.nhs_number == after.nhs_number else "local_id"
            raise PersonAlreadyRegistered(existing.person_id, field=field)
    envelope = envelope_for(
        payload, recording=recording, subject=person.person_id, place=person.place
    )
    await uow.streams.append(
        person_stream(person.person_id), expected_version=person.version, events=[envelope]
    )
    return DetailsChanged(person.person_id, tuple(sorted(changed)), person.version + 1)


async def get_person(uow: UnitOfWork, person_id: UUID) -> PersonState:
    """Return a registered person, or raise PersonNotFound."""
    return await load_person(uow, person_id)
