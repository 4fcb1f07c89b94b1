"""Make referrals to other organisations; accept or decline the ones this organisation received."""

from typing import NamedTuple
from uuid import UUID, uuid4

from events.registry import EventPayload
from services.organisation.domain import referrals
from services.organisation.domain.commands import (
    AcceptReferral,
    ChooseReferredPerson,
    DeclineReferral,
    MakeReferral,
    OpenCase,
    WithdrawReferral,
)
from services.organisation.domain.errors import PersonAlreadyRegistered
from services.organisation.domain.people import PersonState
from services.organisation.domain.recording import Recording, envelope_for
from services.organisation.domain.referrals import ReferralState
from services.organisation.service_layer.cases import open_case
from services.organisation.service_layer.people import record_registration
from services.organisation.service_layer.streams import (
    load_person,
    load_referral,
    referral_stream,
    retrying_conflicts,
)
from services.organisation.service_layer.unit_of_work import UnitOfWork


class ReferralDecided(NamedTuple):
    """A referral accepted or declined, with the person and any case opened for it."""

    referral_id: UUID
    status: str
    person_id: UUID
    case_id: UUID | None


async def make_referral(uow: UnitOfWork, *, recording: Recording, command: MakeReferral) -> UUID:
    """Refer a registered person to another organisation; return the referral's id."""
    person = await load_person(uow, command.person_id)
    referral_id = uuid4()
    payload = referrals.make_referral(person, command, own_org=uow.org, referral_id=referral_id)
    envelope = envelope_for(
        payload, recording=recording, subject=person.person_id, place=person.place
    )
    stream_id = referral_stream(referral_id)
    await uow.streams.append(stream_id, expected_version=0, events=[envelope])
    return referral_id


async def accept_referral(
    uow: UnitOfWork, *, recording: Recording, command: AcceptReferral
) -> ReferralDecided:
    """Accept a received referral, opening a case for the person when a key worker is named."""
    return await retrying_conflicts(lambda: _accept_once(uow, recording, command))


async def _accept_once(
    uow: UnitOfWork, recording: Recording, command: AcceptReferral
) -> ReferralDecided:
    state = await load_referral(uow, command.referral_id)
    referrals.ensure_decidable(state, uow.org)  # before its person: a held one has none yet
    person = await load_person(uow, state.person_id)
    case_id = (command.case_id or uuid4()) if command.key_worker is not None else None
    payload = referrals.accept_referral(
        state,
        own_org=uow.org,
        case_id=case_id,
        key_worker=command.key_worker,
        shared_with_sender=_shared_with_sender(uow, state, person),
    )
    await _record_decision(uow, state, person, payload, recording)
    if command.key_worker is not None:
        opening = OpenCase(
            state.person_id, state.reason, command.key_worker, referral_id=state.referral_id
        )
        await open_case(uow, recording=recording, command=opening, case_id=case_id)
    return ReferralDecided(state.referral_id, "accepted", state.person_id, case_id)


async def decline_referral(
    uow: UnitOfWork, *, recording: Recording, command: DeclineReferral
) -> ReferralDecided:
    """Decline a received referral, with the reason."""
    return await retrying_conflicts(lambda: _decline_once(uow, recording, command))


async def _decline_once(
    uow: UnitOfWork, recording: Recording, command: DeclineReferral
) -> ReferralDecided:
    state = await load_referral(uow, command.referral_id)
    referrals.ensure_decidable(state, uow.org)  # before its person: a held one has none yet
    person = await load_person(uow, state.person_id)
    shared = _shared_with_sender(uow, state, person)
    payload = referrals.decline_referral(state, command, own_org=uow.org, shared_with_sender=shared)
    await _record_decision(uow, state, person, payload, recording)
    return ReferralDecided(state.referral_id, "declined", state.person_id, None)


async def choose_referred_person(
    uow: UnitOfWork, *, recording: Recording, command: ChooseReferredPerson
) -> ReferralDecided:
    """Take in a held referral against the record a worker chose (`person_id`), or against
    a new record registered from the referral's details (`person_id` None). Choosing an
    existing record shreds the referral's copy of the details: the record has its own."""
    return await retrying_conflicts(lambda: _choose_once(uow, recording, command))


async def _choose_once(
    uow: UnitOfWork, recording: Recording, command: ChooseReferredPerson
) -> ReferralDecided:
    state = await load_referral(uow, command.referral_id)
    if command.person_id is None:
        payload = referrals.choose_person(state, own_org=uow.org, chosen=None)
        person = await _register_referred(uow, state, recording)
    else:
        person = await load_person(uow, command.person_id)
        payload = referrals.choose_person(state, own_org=uow.org, chosen=person)
    await _record_decision(uow, state, person, payload, recording)
    if person.person_id != state.person_id:
        await uow.streams.shred(state.person_id)
    return ReferralDecided(state.referral_id, "received", person.person_id, None)


async def _register_referred(
    uow: UnitOfWork, state: ReferralState, recording: Recording
) -> PersonState:
    """Register the held referral's person from its copy of the sender's details (refused
    when another record holds their NHS number: that record is the person)."""
    assert state.referred is not None  # `choose_person` refused a referral not held
    assert state.place is not None
    existing = await record_registration(
        uow,
        recording=recording,
        person_id=state.person_id,
        details=state.referred,
        place=state.place,
    )
    if existing is not None:
        raise PersonAlreadyRegistered(existing.person_id, field="nhs_number")
    return await load_person(uow, state.person_id)


async def withdraw_referral(
    uow: UnitOfWork, *, recording: Recording, command: WithdrawReferral
) -> ReferralDecided:
    """Withdraw a referral this organisation made, before the receiver decides it."""
    return await retrying_conflicts(lambda: _withdraw_once(uow, recording, command))


async def _withdraw_once(
    uow: UnitOfWork, recording: Recording, command: WithdrawReferral
) -> ReferralDecided:
    state = await load_referral(uow, command.referral_id)
    payload = referrals.withdraw_referral(state, command, own_org=uow.org)
    await _record_decision(uow, state, await load_person(uow, state.person_id), payload, recording)
    return ReferralDecided(state.referral_id, "withdrawn", state.person_id, None)


def _shared_with_sender(uow: UnitOfWork, state: ReferralState, person: PersonState) -> bool:
    """Tell whether the sender may learn this organisation's decision: not where the
    person's decisions recorded here keep this organisation's records from the sender."""
    return not person.withholds(source=uow.org, recipient=state.from_org)


async def _record_decision(
    uow: UnitOfWork,
    state: ReferralState,
    person: PersonState,
    payload: EventPayload,
    recording: Recording,
) -> None:
    envelope = envelope_for(
        payload, recording=recording, subject=person.person_id, place=person.place
    )
    await uow.streams.append(
        referral_stream(state.referral_id),
        expected_version=state.version,
        events=[envelope],
    )


async def get_referral(uow: UnitOfWork, referral_id: UUID) -> ReferralState:
    """Return this organisation's side of a referral, or raise ReferralNotFound."""
    return await load_referral(uow, referral_id)
