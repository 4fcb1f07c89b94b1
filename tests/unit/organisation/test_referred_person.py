"""A referral finds its person among the receiver's records: by NHS number, by one clear
match, or held for a worker to choose; and the choice, in the referral's own words."""

from datetime import date
from uuid import uuid4

import pytest

from events.shared import PersonDetails, ReferralCandidate, referred_person_id
from services.identity_matching.matching import Thresholds
from services.organisation.domain.commands import MakeReferral, WithdrawReferral
from services.organisation.domain.errors import (
    NotTheReferredPerson,
    PersonAlreadyChosen,
    PersonNotChosen,
    ReferralNotReceived,
    ReferralWithdrawn,
)
from services.organisation.domain.people import PersonState
from services.organisation.domain.referrals import (
    ReferralState,
    accept_referral,
    choose_person,
    hold_referral,
    make_referral,
    referral_from,
    withdraw_referral,
    withdrawal_to_receiver,
)
from services.organisation.domain.referred_person import (
    KnownPerson,
    NewPerson,
    PersonToChoose,
    find_referred_person,
)
from tests.unit.organisation.domain_examples import NOW, PLACE, recorded

BORN = date(1990, 2, 3)
REFERRED = PersonDetails(
    given_name="Jo", family_name="Bloggs", date_of_birth=BORN, postcode="BS1 4DJ"
)
DEFAULTS = Thresholds()  # link 15, review 6


def _person(**changes: object) -> PersonState:
    return PersonState(uuid4(), REFERRED.model_copy(update=changes), PLACE, NOW, 1)


def test_the_record_holding_the_referred_nhs_number_is_the_person() -> None:
    """Whatever the names say (a name changed since), the NHS number decides."""
    held = _person(nhs_number="9434765919", family_name="Smith", postcode=None)
    referred = REFERRED.model_copy(update={"nhs_number": "9434765919"})
    assert find_referred_person(referred, [_person(), held], DEFAULTS) == KnownPerson(
        held.person_id
    )


def test_one_record_matching_above_the_link_threshold_is_the_person() -> None:
    """Names, birth date and postcode agree (18 bits): taken in against it, with its score."""
    same = _person()
    found = find_referred_person(REFERRED, [same, _person(given_name="Kim")], DEFAULTS)
    assert found == KnownPerson(same.person_id, 18.0)


def test_a_middling_match_waits_for_a_worker_with_what_agreed() -> None:
    """Names and birth date agree, the postcode is known on one side only (14 bits): held,
    the candidate named with its score and the fields that agreed."""
    alike = _person(postcode=None)
    found = find_referred_person(REFERRED, [alike], DEFAULTS)
    assert found == PersonToChoose(
        (
            ReferralCandidate(
                person_id=alike.person_id,
                match_score=14.0,
                matched_on=["given_name", "family_name", "date_of_birth"],
            ),
        )
    )


def test_two_records_above_the_link_threshold_are_for_a_worker_to_choose_best_first() -> None:
    """Two of the receiver's records look like the person (its own duplicates): no guess."""
    exact, alike, middling = _person(), _person(), _person(postcode=None)
    found = find_referred_person(REFERRED, [middling, alike, exact], DEFAULTS)
    assert isinstance(found, PersonToChoose)
    assert {c.person_id for c in found.candidates[:2]} == {exact.person_id, alike.person_id}
    assert [c.match_score for c in found.candidates] == [18.0, 18.0, 14.0]
    assert found.candidates[2].person_id == middling.person_id


def test_a_record_with_another_nhs_number_is_never_the_person() -> None:
    """A twin, or a namesake born the same day: another NHS number, another person."""
    twin = _person(nhs_number="9434765870")
    referred = REFERRED.model_copy(update={"nhs_number": "9434765919"})
    assert find_referred_person(referred, [twin], DEFAULTS) == NewPerson()


def test_nothing_alike_registers_the_person_anew() -> None:
    """Another person of the same family name only (names and birth date disagree): new."""
    other = _person(given_name="Sam", date_of_birth=date(1960, 1, 1), postcode="M1 1AA")
    assert find_referred_person(REFERRED, [other], DEFAULTS) == NewPerson()
    assert find_referred_person(REFERRED, [], DEFAULTS) == NewPerson()


def test_the_places_thresholds_decide() -> None:
    """A stricter place holds what the defaults would join."""
    same = _person()
    strict = Thresholds(link=19, review=6)
    assert isinstance(find_referred_person(REFERRED, [same], strict), PersonToChoose)


REFERRAL_ID = uuid4()
SENDER = _person(nhs_number="9434765919")
MADE = make_referral(
    SENDER,
    MakeReferral(SENDER.person_id, "voluntary", "Food support", "urgent"),
    own_org="housing",
    referral_id=REFERRAL_ID,
)
CANDIDATE = ReferralCandidate(
    person_id=uuid4(), match_score=14.0, matched_on=["given_name", "family_name"]
)


def _held(*later: object) -> ReferralState:
    held = hold_referral(MADE, from_org="housing", referred=REFERRED, candidates=(CANDIDATE,))
    state = referral_from(recorded(held, *later, org="voluntary"))  # type: ignore[arg-type]
    assert state is not None
    return state


def test_a_held_referral_keeps_the_senders_details_and_its_candidates() -> None:
    """The worker compares the referral's details with each candidate record."""
    state = _held()
    assert (state.status, state.referred, state.candidates) == ("held", REFERRED, (CANDIDATE,))
    assert state.person_id == referred_person_id(REFERRAL_ID)
    assert state.place == PLACE


def test_a_held_referral_cannot_be_decided_before_its_person_is_chosen() -> None:
    """Accepting (or declining) who? The worker says first."""
    with pytest.raises(PersonNotChosen):
        accept_referral(_held(), own_org="voluntary", case_id=None, key_worker=None)


def test_choosing_a_record_takes_the_referral_in_against_it() -> None:
    """The referral is then received, for the chosen record, found by the receiver."""
    chosen = _person(postcode=None)
    received = choose_person(_held(), own_org="voluntary", chosen=chosen)
    assert (received.person_id, received.found_by) == (chosen.person_id, "receiver")
    state = _held(received)
    assert (state.status, state.person_id, state.found_by) == (
        "received",
        chosen.person_id,
        "receiver",
    )
    assert (state.referred, state.candidates) == (None, ())
    assert [step.type for step in state.history] == ["referral.held", "referral.received"]


def test_choosing_none_registers_the_person_under_the_referrals_own_id() -> None:
    """`new_record`: the record registered from the referral's copy of the details."""
    received = choose_person(_held(), own_org="voluntary", chosen=None)
    assert (received.person_id, received.found_by) == (
        referred_person_id(REFERRAL_ID),
        "new_record",
    )


def test_a_record_with_another_nhs_number_cannot_be_chosen() -> None:
    """The worker cannot join two people the NHS numbers keep apart."""
    referred = REFERRED.model_copy(update={"nhs_number": "9434765919"})
    held = hold_referral(MADE, from_org="housing", referred=referred, candidates=(CANDIDATE,))
    state = referral_from(recorded(held, org="voluntary"))
    assert state is not None
    with pytest.raises(NotTheReferredPerson):
        choose_person(state, own_org="voluntary", chosen=_person(nhs_number="9434765870"))


def test_the_person_is_chosen_once_and_only_by_the_receiver() -> None:
    """Chosen already, withdrawn meanwhile, or asked of the sender: refused."""
    chosen = choose_person(_held(), own_org="voluntary", chosen=None)
    with pytest.raises(PersonAlreadyChosen):
        choose_person(_held(chosen), own_org="voluntary", chosen=None)
    with pytest.raises(ReferralNotReceived):
        choose_person(_held(), own_org="housing", chosen=None)
    withdrawn = withdrawal_to_receiver(_held())
    assert withdrawn is not None
    assert _held(withdrawn).status == "withdrawn"
    with pytest.raises(ReferralWithdrawn):
        choose_person(_held(withdrawn), own_org="voluntary", chosen=None)


def test_the_sender_may_withdraw_a_referral_the_receiver_holds() -> None:
    """Held is not decided: the sender's side still says made, so it may withdraw."""
    sent = referral_from(recorded(MADE, org="housing"))
    assert sent is not None
    withdrawal = withdraw_referral(sent, WithdrawReferral(REFERRAL_ID, "Housed"), own_org="housing")
    assert withdrawal.to_org == "voluntary"
