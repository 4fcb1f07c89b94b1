"""Take in what other organisations' logs say about this one's referrals: a referral made to
it (the receiving side's first step), the receiver's answers to one it made (received,
accepted, declined), and the sender's withdrawal of one it received.

Every id written here derives from the event taken in, so handling it again is a no-op.
"""

from datetime import datetime
from uuid import UUID

import structlog

from events.envelope import Envelope, OrgId, referral_inbox_actor
from events.registry import EventPayload
from events.shared import (
    FoundBy,
    PersonDetails,
    ReferralAccepted,
    ReferralDeclined,
    ReferralHeld,
    ReferralMade,
    ReferralReceived,
    ReferralWithdrawn,
    referred_person_id,
)
from services.identity_matching.comparisons import mistyped_dates
from services.organisation.domain import referrals
from services.organisation.domain.errors import PersonNotFound, ReferralNotFound
from services.organisation.domain.people import PersonState, details_from_referral
from services.organisation.domain.recording import Recording, envelope_for
from services.organisation.domain.referrals import ReferralState, derived_event_id
from services.organisation.domain.referred_person import (
    KnownPerson,
    NewPerson,
    PersonToChoose,
    find_referred_person,
)
from services.organisation.domain.worklists import search_token
from services.organisation.service_layer.people import record_registration
from services.organisation.service_layer.streams import (
    load_people,
    load_person,
    load_referral,
    referral_stream,
    retrying_conflicts,
)
from services.organisation.service_layer.unit_of_work import UnitOfWork
from services.runtime.parked_events import Unreadable, decoded_or_unreadable
from services.runtime.person_keys import RecordErased

REFERRAL_MADE = ReferralMade.event_type
TO_THE_RECEIVER = frozenset({REFERRAL_MADE, ReferralWithdrawn.event_type})
TO_THE_SENDER = frozenset(
    {
        ReferralHeld.event_type,  # in the inbox: the sender learns "received", nothing more
        ReferralReceived.event_type,
        ReferralAccepted.event_type,
        ReferralDeclined.event_type,
    }
)
INBOX_TYPES = TO_THE_RECEIVER | TO_THE_SENDER
SEARCHED = 50  # the receiver's records compared with a referred person, by each search
logger = structlog.get_logger(__name__)


def is_for(source: Envelope, org: OrgId) -> bool:
    """Tell whether an event from another organisation's log is for `org`'s inbox: a
    referral made to it or withdrawn from it, or an answer to one it made (where a referral
    goes and who made it are never sealed)."""
    if source.org == org:
        return False
    if source.type in TO_THE_RECEIVER:
        return source.data.get("to_org") == org
    if source.type in TO_THE_SENDER:
        return source.data.get("from_org") == org
    return False


async def take_in(uow: UnitOfWork, *, source: Envelope, received_at: datetime) -> Unreadable | None:
    """Take in an event `is_for` this organisation; return why this release cannot read it
    (nothing is written then: the caller parks it)."""
    if source.type == REFERRAL_MADE:
        return await receive_referral(uow, source=source, received_at=received_at)
    opened = await uow.streams.open(source)
    if opened is None:
        logger.info("referral_step_of_erased_person_dropped", event_id=str(source.event_id))
        return None
    payload = decoded_or_unreadable(opened)
    if isinstance(payload, Unreadable):
        return payload
    try:
        async with uow.attempt():  # nothing of a step refused half-way stays
            await retrying_conflicts(lambda: _record_step(uow, opened, payload, received_at))
    except (RecordErased, PersonNotFound):  # this side's record of the person was erased
        logger.info("referral_step_of_erased_person_dropped", event_id=str(source.event_id))
    return None


async def _record_step(
    uow: UnitOfWork, source: Envelope, payload: EventPayload, received_at: datetime
) -> None:
    """Record on this side what the other side did: its answer, or its withdrawal."""
    referral_id = getattr(payload, "referral_id", None)
    try:
        state = await load_referral(uow, referral_id) if referral_id else None
    except ReferralNotFound:
        state = None
    if state is None:  # e.g. this side's streams were restored from before it
        logger.warning("referral_step_for_unknown_referral", event_id=str(source.event_id))
        return
    answering = state.from_org == uow.org and source.org == state.to_org
    withdrawing = state.to_org == uow.org and source.org == state.from_org
    step: EventPayload | None = None  # none: not between this organisation and that one
    if source.type in TO_THE_SENDER and answering:
        person = await load_person(uow, state.person_id)
        step = referrals.answer_to_sender(
            state,
            payload,
            by_org=source.org,
            answered_at=source.occurred_at,
            withheld=person.withholds(source=source.org, recipient=uow.org),
        )
        subject, place = person.person_id, person.place
    elif source.type in TO_THE_RECEIVER and withdrawing:
        step = referrals.withdrawal_to_receiver(state)
        subject, place = await _whom_it_is_about(uow, state)
    if step is None:  # known already, or decided first: the decision stands
        return
    recording = _inbox_recording(uow, source, received_at)
    envelope = envelope_for(
        step,
        recording=recording,
        subject=subject,
        place=place,
        event_id=derived_event_id(source.event_id, step.event_type),
    )
    await uow.streams.append(
        referral_stream(state.referral_id), expected_version=state.version, events=[envelope]
    )


async def _whom_it_is_about(uow: UnitOfWork, state: ReferralState) -> tuple[UUID, str]:
    """Return the person a referral on this side is recorded against, and where: a held
    one's own person id (no record yet) and the place it was made in."""
    if state.place is not None:  # held (or withdrawn while held): no record of them yet
        return state.person_id, state.place
    person = await load_person(uow, state.person_id)
    return person.person_id, person.place


def _inbox_recording(uow: UnitOfWork, source: Envelope, received_at: datetime) -> Recording:
    """Return how the inbox records what it took in: as itself, caused by the source."""
    return Recording(
        org=uow.org,
        actor=referral_inbox_actor(uow.org),
        correlation_id=source.correlation_id,
        causation_id=str(source.event_id),
        recorded_at=received_at,
    )


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
    stream_id = referral_stream(made.referral_id)
    if await uow.streams.read(stream_id):  # taken in before: what was found then stands
        return
    recording = _inbox_recording(uow, source, received_at)
    referred = details_from_referral(made.person)
    thresholds = uow.matching.thresholds_for(source.place)
    found = find_referred_person(
        referred, await _records_like(uow, referred), thresholds, uow.matching.model
    )
    payload: EventPayload
    if isinstance(found, PersonToChoose):
        payload = referrals.hold_referral(
            made, from_org=source.org, referred=referred, candidates=found.candidates
        )
        subject, place = payload.person_id, source.place
    else:
        person = await _receiving_person(uow, found, made, source=source, recording=recording)
        payload = referrals.receive_referral(
            made,
            from_org=source.org,
            person_id=person.person_id,
            found_by=_found_by(found, person.person_id, made),
            match_score=found.score if isinstance(found, KnownPerson) else None,
        )
        subject, place = person.person_id, person.place
    envelope = envelope_for(
        payload,
        recording=recording,
        subject=subject,
        place=place,
        event_id=derived_event_id(source.event_id, payload.event_type),
    )
    await uow.streams.append(stream_id, expected_version=0, events=[envelope])


async def _records_like(uow: UnitOfWork, referred: PersonDetails) -> list[PersonState]:
    """Return this organisation's people who may be the referred person: the one holding
    their NHS number, those found by their family name (as a worker searching the people
    list would find them), and those born on their birth date or on one a typist could have
    meant (a digit, the day and month swapped: a slip in the name as well still meets)."""
    found: dict[UUID, None] = {}
    if referred.nhs_number:
        holder = await uow.people.find_by_nhs_number(referred.nhs_number)
        if holder is not None:
            found[holder] = None
    key = uow.search_key
    by_name = await uow.worklists.people(
        family_name_token=search_token(key, "family_name", referred.family_name),
        date_of_birth_token=None, limit=SEARCHED, cursor=None,
    )  # fmt: skip
    found.update((row.person_id, None) for row in by_name.rows)
    born = [search_token(key, "date_of_birth", d) for d in mistyped_dates(referred.date_of_birth)]
    born_then = await uow.worklists.people_born_on(born, limit=SEARCHED)
    found.update((person_id, None) for person_id in born_then)
    return list((await load_people(uow, list(found))).values())  # but those erased since


def _found_by(found: KnownPerson | NewPerson, person_id: UUID, made: ReferralMade) -> FoundBy:
    if person_id == referred_person_id(made.referral_id):
        return "new_record"
    if isinstance(found, KnownPerson) and found.score is not None:
        return "details"
    return "nhs_number"  # found so, or registered meanwhile under their NHS number


async def _receiving_person(
    uow: UnitOfWork,
    found: KnownPerson | NewPerson,
    made: ReferralMade,
    *,
    source: Envelope,
    recording: Recording,
) -> PersonState:
    """Return the record found for the referred person, else register one from the
    referral's details (or the one holding their NHS number, registered meanwhile)."""
    if isinstance(found, KnownPerson):
        return await load_person(uow, found.person_id)
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
