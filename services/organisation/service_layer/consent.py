"""Record a person's decisions about sharing, on their own stream."""

from typing import NamedTuple
from uuid import UUID

from services.organisation.domain import consent
from services.organisation.domain.commands import RecordConsent
from services.organisation.domain.recording import Recording, envelope_for
from services.organisation.service_layer.streams import (
    Stores,
    load_person,
    person_stream,
    retrying_conflicts,
)
from services.runtime.database import Connection


class ConsentRecorded(NamedTuple):
    """A decision recorded: its event, and the person's stream version after it."""

    event_id: UUID
    version: int


async def record_consent(
    conn: Connection, stores: Stores, *, recording: Recording, command: RecordConsent
) -> ConsentRecorded:
    """Record the person's decision (raises PersonNotFound, Invalid)."""
    return await retrying_conflicts(lambda: _record_once(conn, stores, recording, command))


async def _record_once(
    conn: Connection, stores: Stores, recording: Recording, command: RecordConsent
) -> ConsentRecorded:
    person = await load_person(conn, stores, command.person_id)
    payload = consent.record_consent(person, command, own_org=stores.org, now=recording.recorded_at)
    envelope = envelope_for(
        payload,
        recording=recording,
        subject=person.person_id,
        place=person.place,
        occurred_at=command.occurred_at,
    )
    await stores.events.append(
        conn,
        stream_id=person_stream(person.person_id),
        expected_version=person.version,
        events=[envelope],
    )
    return ConsentRecorded(envelope.event_id, person.version + 1)
