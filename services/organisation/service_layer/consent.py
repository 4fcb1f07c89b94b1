"""Record a person's decisions about sharing, on their own stream."""

from typing import NamedTuple
from uuid import UUID

from services.organisation.domain import consent
from services.organisation.domain.commands import RecordConsent
from services.organisation.domain.recording import Recording, envelope_for
from services.organisation.service_layer.streams import (
    load_person,
    person_stream,
    retrying_conflicts,
)
from services.organisation.service_layer.unit_of_work import UnitOfWork


class ConsentRecorded(NamedTuple):
    """A decision recorded: its event, and the person's stream version after it."""

    event_id: UUID
    version: int


async def record_consent(
    uow: UnitOfWork, *, recording: Recording, command: RecordConsent
) -> ConsentRecorded:
    """Record the person's decision (raises PersonNotFound, Invalid)."""
    return await retrying_conflicts(lambda: _record_once(uow, recording, command))


async def _record_once(
    uow: UnitOfWork, recording: Recording, command: RecordConsent
) -> ConsentRecorded:
    person = await load_person(uow, command.person_id)
    payload = consent.record_consent(person, command, own_org=uow.org, now=recording.recorded_at)
    envelope = envelope_for(
        payload,
        recording=recording,
        subject=person.person_id,
        place=person.place,
        occurred_at=command.occurred_at,
    )
    await uow.streams.append(
        person_stream(person.person_id),
        expected_version=person.version,
        events=[envelope],
    )
    return ConsentRecorded(envelope.event_id, person.version + 1)
