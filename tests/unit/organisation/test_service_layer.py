"""The organisation's use cases on the in-memory unit of work: their rules, in milliseconds.

The same unit of work contract holds on PostgreSQL (tests/integration/organisation/
test_unit_of_work_contract.py); the HTTP and inbox paths over it are tested there too.
"""

from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from uuid import UUID, uuid4

import pytest

from events.envelope import Envelope
from events.shared import KeyWorker, referred_person_id
from services.organisation.domain.commands import (
    AcceptReferral,
    ChooseReferredPerson,
    MakeReferral,
    OpenCase,
    RecordCaseEvent,
    RegisterPerson,
)
from services.organisation.domain.errors import (
    EventIdTaken,
    PersonAlreadyRegistered,
    PersonNotChosen,
    PersonNotFound,
    VersionConflict,
)
from services.organisation.service_layer import cases, inbox, people, referrals, worklists
from services.organisation.service_layer.streams import (
    case_stream,
    person_stream,
    referral_stream,
)
from tests.unit.organisation.domain_examples import DETAILS, KEY_WORKER, PLACE, a_recording
from tests.unit.organisation.fake_unit_of_work import (
    FakeUnitOfWork,
    InMemoryStores,
    fake_unit_of_work,
)

FLAG = {"flag": "risk_to_staff"}


async def _registered(uow: FakeUnitOfWork) -> people.Registered:
    command = RegisterPerson(DETAILS, PLACE)
    return await people.register_person(uow, recording=a_recording(), command=command)


async def _open_case(uow: FakeUnitOfWork) -> cases.CaseWritten:
    person = await _registered(uow)
    command = OpenCase(person.person_id, "Rent arrears", KEY_WORKER)
    return await cases.open_case(uow, recording=a_recording(), command=command)


async def test_a_second_registration_of_an_nhs_number_is_refused_naming_the_first() -> None:
    _, new_uow = fake_unit_of_work()
    async with new_uow() as uow:
        first = await _registered(uow)
        with pytest.raises(PersonAlreadyRegistered) as refused:
            await _registered(uow)
    assert str(first.person_id) in str(refused.value)


async def test_a_case_for_nobody_is_not_opened() -> None:
    stores, new_uow = fake_unit_of_work()
    command = OpenCase(uuid4(), "Rent arrears", KEY_WORKER)
    async with new_uow() as uow:
        with pytest.raises(PersonNotFound):
            await cases.open_case(uow, recording=a_recording(), command=command)
        await uow.commit()
    assert stores.streams == {}


async def test_a_retried_case_event_gets_its_first_answer_and_is_written_once() -> None:
    _, new_uow = fake_unit_of_work()
    async with new_uow() as uow:
        case = await _open_case(uow)
        command = RecordCaseEvent(case.case_id, "flag.raised", FLAG, event_id=uuid4())
        first = await cases.record_case_event(uow, recording=a_recording(), command=command)
        again = await cases.record_case_event(uow, recording=a_recording(), command=command)
        stream = await uow.streams.read(case_stream(case.case_id))
    assert first == again
    assert [s.envelope.type for s in stream] == ["case.opened", "flag.raised"]


async def test_an_event_id_reused_for_another_event_is_refused() -> None:
    _, new_uow = fake_unit_of_work()
    async with new_uow() as uow:
        case = await _open_case(uow)
        command = RecordCaseEvent(case.case_id, "flag.raised", FLAG, event_id=uuid4())
        await cases.record_case_event(uow, recording=a_recording(), command=command)
        other = replace(command, data={"flag": "risk_to_staff", "note": "another"})
        with pytest.raises(EventIdTaken):
            await cases.record_case_event(uow, recording=a_recording(), command=other)


async def test_a_client_naming_a_stale_version_gets_a_conflict_not_a_silent_retry() -> None:
    _, new_uow = fake_unit_of_work()
    async with new_uow() as uow:
        case = await _open_case(uow)
        first = RecordCaseEvent(case.case_id, "flag.raised", FLAG, expected_version=1)
        await cases.record_case_event(uow, recording=a_recording(), command=first)
        with pytest.raises(VersionConflict):
            await cases.record_case_event(uow, recording=a_recording(), command=first)


async def test_accepting_a_referral_with_a_key_worker_opens_a_case_for_it() -> None:
    housing, new_housing_uow = fake_unit_of_work("housing")
    _, new_voluntary_uow = fake_unit_of_work("voluntary")
    async with new_housing_uow() as uow:
        person = await _registered(uow)
        make = MakeReferral(person.person_id, "voluntary", "food bank", "routine")
        referral_id = await referrals.make_referral(uow, recording=a_recording(), command=make)
        await uow.commit()
    [made] = housing.streams[referral_stream(referral_id)]
    async with new_voluntary_uow() as uow:
        await inbox.receive_referral(uow, source=made.envelope, received_at=datetime.now(UTC))
        worker = KeyWorker(name="Jo Bloggs", team="Drop-in")
        accept = AcceptReferral(referral_id, key_worker=worker)
        decided = await referrals.accept_referral(
            uow, recording=a_recording("voluntary"), command=accept
        )
        assert decided.case_id is not None
        [opened] = await uow.streams.read(case_stream(decided.case_id))
    assert decided.status == "accepted"
    assert opened.envelope.data["referral_id"] == str(referral_id)


async def test_a_referral_for_a_person_the_receiver_knows_joins_their_record() -> None:
    """Matched by NHS number: no second person; receiving it again changes nothing."""
    _, new_housing_uow = fake_unit_of_work("housing")
    voluntary, new_voluntary_uow = fake_unit_of_work("voluntary")
    async with new_housing_uow() as uow:
        person = await _registered(uow)
        make = MakeReferral(person.person_id, "voluntary", "food bank", "routine")
        referral_id = await referrals.make_referral(uow, recording=a_recording(), command=make)
        [made] = await uow.streams.read(referral_stream(referral_id))
    async with new_voluntary_uow() as uow:
        known = await _registered(uow)
        for _ in range(2):
            await inbox.receive_referral(uow, source=made.envelope, received_at=datetime.now(UTC))
        await uow.commit()
    [received] = voluntary.streams[referral_stream(referral_id)]
    assert received.envelope.subject == str(known.person_id)
    assert len(voluntary.people) == 1


async def test_what_a_use_case_wrote_is_gone_unless_committed() -> None:
    stores, new_uow = fake_unit_of_work()
    async with new_uow() as uow:
        await _open_case(uow)
    assert stores.streams == {}
    assert stores.commits == 0


async def test_the_sender_takes_in_answers_only_from_the_organisation_it_referred_to() -> None:
    """Voluntary's acceptance of housing's referral reaches housing's side, once; the same
    acceptance claimed by mental health (which was never asked) records nothing."""
    housing, new_housing_uow = fake_unit_of_work("housing")
    voluntary, new_voluntary_uow = fake_unit_of_work("voluntary")
    async with new_housing_uow() as uow:
        person = await _registered(uow)
        make = MakeReferral(person.person_id, "voluntary", "food bank", "routine")
        referral_id = await referrals.make_referral(uow, recording=a_recording(), command=make)
        await uow.commit()
    [made] = housing.streams[referral_stream(referral_id)]
    async with new_voluntary_uow() as uow:
        await inbox.take_in(uow, source=made.envelope, received_at=datetime.now(UTC))
        accept = AcceptReferral(referral_id, key_worker=KeyWorker(name="Jo Bloggs"))
        await referrals.accept_referral(uow, recording=a_recording("voluntary"), command=accept)
        await uow.commit()
    received, accepted = voluntary.streams[referral_stream(referral_id)][:2]
    forged = accepted.envelope.model_copy(update={"org": "mental_health", "event_id": uuid4()})

    async with new_housing_uow() as uow:
        await inbox.take_in(uow, source=forged, received_at=datetime.now(UTC))
        assert (await referrals.get_referral(uow, referral_id)).status == "made"
        for source in (received, accepted, accepted):  # an answer taken in twice: once
            await inbox.take_in(uow, source=source.envelope, received_at=datetime.now(UTC))
        state = await referrals.get_referral(uow, referral_id)
    assert (state.status, state.key_worker) == ("accepted", KeyWorker(name="Jo Bloggs"))
    assert [step.type for step in state.history] == [
        "referral.made", "referral.answered", "referral.answered",
    ]  # fmt: skip


@dataclass(frozen=True)
class HeldReferral:
    """A referral voluntary holds: its stores, units of work, the referral, the record it
    may be about, and housing's `referral.made` (the inbox's source)."""

    voluntary: InMemoryStores
    new_uow: Callable[[], FakeUnitOfWork]
    referral_id: UUID
    known: UUID
    made: Envelope


async def _held_at_voluntary(**known_as: object) -> HeldReferral:
    """Housing refers a person voluntary may know (names and birth date agree, no NHS
    number nor postcode on voluntary's record: 14 bits, below the link threshold; or as
    `known_as` says)."""
    _, new_housing_uow = fake_unit_of_work("housing")
    voluntary, new_voluntary_uow = fake_unit_of_work("voluntary")
    async with new_housing_uow() as uow:
        person = await _registered(uow)
        make = MakeReferral(person.person_id, "voluntary", "food bank", "routine")
        referral_id = await referrals.make_referral(uow, recording=a_recording(), command=make)
        [made] = await uow.streams.read(referral_stream(referral_id))
    alike = DETAILS.model_copy(
        update={"nhs_number": None, "local_id": "V-1", "postcode": None, **known_as}
    )
    async with new_voluntary_uow() as uow:
        known = await people.register_person(
            uow, recording=a_recording("voluntary"), command=RegisterPerson(alike, PLACE)
        )
        [registered] = await uow.streams.read(person_stream(known.person_id))
        await worklists.apply_to_worklists(uow, [registered.envelope])
        await inbox.take_in(uow, source=made.envelope, received_at=datetime.now(UTC))
        await uow.commit()
    return HeldReferral(voluntary, new_voluntary_uow, referral_id, known.person_id, made.envelope)


async def _choose(held: HeldReferral, person_id: UUID | None) -> referrals.ReferralDecided:
    async with held.new_uow() as uow:
        choice = ChooseReferredPerson(held.referral_id, person_id)
        chosen = await referrals.choose_referred_person(
            uow, recording=a_recording("voluntary"), command=choice
        )
        await uow.commit()
    return chosen


async def test_a_middling_match_holds_the_referral_until_a_worker_chooses_the_record() -> None:
    """Held with the candidate; chosen, it is received for that record, and the
    referral's copy of the details is shredded (the stream still counts its versions)."""
    held = await _held_at_voluntary()
    async with held.new_uow() as uow:
        state = await referrals.get_referral(uow, held.referral_id)
        assert state.status == "held"
        assert [c.person_id for c in state.candidates] == [held.known]
        accept = AcceptReferral(held.referral_id)
        with pytest.raises(PersonNotChosen):
            await referrals.accept_referral(uow, recording=a_recording("voluntary"), command=accept)
    chosen = await _choose(held, held.known)
    assert (chosen.status, chosen.person_id) == ("received", held.known)
    assert str(referred_person_id(held.referral_id)) in held.voluntary.shredded
    async with held.new_uow() as uow:
        state = await referrals.get_referral(uow, held.referral_id)
        assert (state.status, state.person_id, state.version) == ("received", held.known, 2)
        accept = AcceptReferral(held.referral_id)
        await referrals.accept_referral(uow, recording=a_recording("voluntary"), command=accept)
        assert (await referrals.get_referral(uow, held.referral_id)).status == "accepted"


async def test_a_record_with_slips_in_both_family_name_and_birth_date_is_still_a_candidate() -> (
    None
):
    """Neither the family name nor the birth date searches find it; one of the birth dates
    a typist could have meant does, and the details score high enough to hold the referral."""
    born = DETAILS.date_of_birth
    slipped = {
        "family_name": DETAILS.family_name + "e",
        "date_of_birth": born.replace(day=born.day % 28 + 1),
    }
    held = await _held_at_voluntary(**slipped)
    async with held.new_uow() as uow:
        state = await referrals.get_referral(uow, held.referral_id)
    assert state.status == "held"
    assert [c.person_id for c in state.candidates] == [held.known]


async def test_choosing_no_record_registers_the_person_from_the_referral() -> None:
    held = await _held_at_voluntary()
    chosen = await _choose(held, None)
    async with held.new_uow() as uow:
        person = await people.get_person(uow, chosen.person_id)
    assert chosen.person_id == referred_person_id(held.referral_id) != held.known
    assert person.details == DETAILS.model_copy(update={"local_id": None})
    assert held.voluntary.shredded == set()


async def test_a_referral_taken_in_again_after_the_choice_stays_as_it_was() -> None:
    """The inbox reading the same referral again (a replay) finds it taken in already:
    no second hold, no record registered for it."""
    held = await _held_at_voluntary()
    await _choose(held, held.known)
    streams_before = {k: list(v) for k, v in held.voluntary.streams.items()}
    async with held.new_uow() as uow:
        await inbox.take_in(uow, source=held.made, received_at=datetime.now(UTC))
        await uow.commit()
    assert held.voluntary.streams == streams_before
