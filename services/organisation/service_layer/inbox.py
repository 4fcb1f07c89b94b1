"""Receive referrals other organisations made to this one: the receiving side's first step.

Every id written here derives from the `referral.made` event, so handling it again is a no-op.
"""

from datetime import datetime

import structlog

from events.envelope import Envelope, OrgId, referral_inbox_actor
from events.shared import ReferralMade
from services.organisation.domain import referrals
from services.organisation.domain.people import PersonState, details_from_referral
from services.organisation.domain.recording import Recording, envelope_for
from services.organisation.domain.referrals import derived_event_id, referred_person_id
from services.organisation.service_layer.people import record_registration
from services.organisation.service_layer.streams import load_person, referral_stream
from services.organisation.service_layer.unit_of_work import UnitOfWork
from services.runtime.parked_events import Unreadable, decoded_or_unreadable
from services.runtime.person_keys import RecordErased

REFERRAL_MADE = ReferralMade.event_type
logger = structlog.get_logger(__name__)


def is_referral_to(source: Envelope, org: OrgId) -> bool:
    """Tell whether an event from another organisation's log is a referral to `org`
    (where it goes is never sealed)."""
    if source.type != REFERRAL_MADE or source.org == org:
        return False
    return source.data.get("to_org") == org


async def receive_referral(
    uow: UnitOfWork, *, source: Envelope, received_at: datetime
) -> Unreadable | None:
    """Put a referral in this organisation's inbox, against its own record of the person;
    return why this release cannot read it (nothing is written then: the caller parks it).

    A referral about a person the sender has since erased is dropped: nothing is left of it.
    """
    opened = await uow.streams.open(source)
    if opened is None:
        logger.info("referral_of_erased_person_dropped", event_id=str(source.event_id))
        return None
    made = decoded_or_unreadable(opened)  # known only once opened: its values are sealed
    if isinstance(made, Unreadable):
        return made
    assert isinstance(made, ReferralMade)  # callers pass referral.made events only
    try:
        async with uow.attempt():  # nothing of a refused referral stays
            await _receive(uow, opened, made, received_at)
    except RecordErased:  # the receiver's own record of the person was erased meanwhile
        logger.info("referral_of_erased_person_dropped", event_id=str(source.event_id))
    return None


async def _receive(
    uow: UnitOfWork, source: Envelope, made: ReferralMade, received_at: datetime
) -> None:
    recording = Recording(
        org=uow.org,
        actor=referral_inbox_actor(uow.org),
        correlation_id=source.correlation_id,
        causation_id=str(source.event_id),
        recorded_at=received_at,
    )
    person = await _receiving_person(uow, made, source=source, recording=recording)
    payload = referrals.receive_referral(made, from_org=source.org, person_id=person.person_id)
    envelope = envelope_for(
        payload,
        recording=recording,
        subject=person.person_id,
        place=person.place,
        event_id=derived_event_id(source.event_id, payload.event_type),
    )
    stream_id = referral_stream(made.referral_id)
    await uow.streams.append(stream_id, expected_version=0, events=[envelope])


async def _receiving_person(
    uow: UnitOfWork,
    made: ReferralMade,
    *,
    source: Envelope,
    recording: Recording,
) -> PersonState:
    """Find the referred person by NHS number, else register them from the referral's details."""
    nhs_number = made.person.nhs_number
    known = await uow.people.find_by_nhs_number(nhs_number) if nhs_number else None
    if known is not None:
        return await load_person(uow, known)
    person_id = referred_person_id(made.referral_id)
    existing = await record_registration(
        uow,
        recording=recording,
        person_id=person_id,
        details=details_from_referral(made.person),
        place=source.place,
        event_id=derived_event_id(source.event_id, "person.registered"),
    )
    return await load_person(uow, existing.person_id if existing else person_id)
