"""Referrals fold per side (made; received → accepted | declined) and are decided once."""

from uuid import uuid4

import pytest

from events.registry import EventPayload
from events.shared import ReferralMade
from services.organisation.domain.commands import DeclineReferral, MakeReferral
from services.organisation.domain.errors import (
    ReferralAlreadyDecided,
    ReferralNotReceived,
    ReferralToOwnOrganisation,
)
from services.organisation.domain.people import PersonState
from services.organisation.domain.referrals import (
    ReferralState,
    accept_referral,
    decline_referral,
    derived_event_id,
    make_referral,
    receive_referral,
    referral_from,
    referred_person_id,
)
from tests.unit.organisation.domain_examples import DETAILS, NOW, PLACE, recorded

REFERRAL_ID = uuid4()
SENDER_PERSON = PersonState(uuid4(), DETAILS, PLACE, NOW, 1)
RECEIVER_PERSON_ID = uuid4()
TO_VOLUNTARY = MakeReferral(SENDER_PERSON.person_id, "voluntary", "Food support", "urgent")


def _made() -> ReferralMade:
    return make_referral(SENDER_PERSON, TO_VOLUNTARY, own_org="housing", referral_id=REFERRAL_ID)


def _received(*later: EventPayload) -> ReferralState:
    received = receive_referral(_made(), from_org="housing", person_id=RECEIVER_PERSON_ID)
    state = referral_from(recorded(received, *later, org="voluntary"))
    assert state is not None
    return state


def test_a_referral_carries_the_persons_details_to_the_receiver() -> None:
    """The receiver learns who the person is from the referral itself."""
    made = _made()
    assert (made.person, made.to_org, made.urgency) == (DETAILS, "voluntary", "urgent")


def test_an_organisation_cannot_refer_to_itself() -> None:
    """A housing referral to housing is refused, naming to_org."""
    with pytest.raises(ReferralToOwnOrganisation) as refused:
        make_referral(SENDER_PERSON, TO_VOLUNTARY, own_org="voluntary", referral_id=REFERRAL_ID)
    assert refused.value.problems[0]["loc"] == ("to_org",)


def test_the_sender_sees_a_referral_it_made() -> None:
    """On the sending side the referral is `made`, from the sender to the receiver."""
    state = referral_from(recorded(_made(), org="housing"))
    assert state is not None
    assert (state.status, state.from_org, state.to_org) == ("made", "housing", "voluntary")
    assert state.person_id == SENDER_PERSON.person_id


def test_the_receiver_sees_it_received_for_its_own_person() -> None:
    """On the receiving side the referral is `received`, for the receiver's person."""
    state = _received()
    assert (state.status, state.from_org, state.to_org) == ("received", "housing", "voluntary")
    assert (state.person_id, state.reason, state.urgency) == (
        RECEIVER_PERSON_ID,
        "Food support",
        "urgent",
    )
    assert [step.type for step in state.history] == ["referral.received"]


def test_accepting_names_the_case_and_ends_the_decision() -> None:
    """Once accepted, a referral cannot be accepted or declined again."""
    case_id = uuid4()
    state = _received(accept_referral(_received(), case_id=case_id))
    assert (state.status, state.case_id, state.version) == ("accepted", case_id, 2)
    with pytest.raises(ReferralAlreadyDecided):
        accept_referral(state, case_id=None)
    with pytest.raises(ReferralAlreadyDecided):
        decline_referral(state, DeclineReferral(REFERRAL_ID, "Changed our mind"))


def test_declining_records_why() -> None:
    """A declined referral keeps the reason, and its history shows both steps."""
    state = _received(decline_referral(_received(), DeclineReferral(REFERRAL_ID, "Out of area")))
    assert (state.status, state.decline_reason) == ("declined", "Out of area")
    assert [step.type for step in state.history] == ["referral.received", "referral.declined"]


def test_the_sender_cannot_decide_its_own_referral() -> None:
    """Only the receiving organisation decides; to the sender the referral is not in its inbox."""
    state = referral_from(recorded(_made(), org="housing"))
    assert state is not None
    with pytest.raises(ReferralNotReceived):
        accept_referral(state, case_id=None)


def test_derived_ids_are_the_same_every_time_and_differ_by_label() -> None:
    """Receiving a referral again derives the same ids, so writing them again is a no-op."""
    source = uuid4()
    assert referred_person_id(REFERRAL_ID) == referred_person_id(REFERRAL_ID)
    assert derived_event_id(source, "a") == derived_event_id(source, "a")
    assert derived_event_id(source, "a") != derived_event_id(source, "b")
