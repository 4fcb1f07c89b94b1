"""Referrals fold per side (made; received → accepted | declined) and are decided once; a
person's sharing decisions and changed details fold into their state."""

from dataclasses import replace
from datetime import timedelta
from uuid import uuid4

import pytest

from events.consent import Purpose
from events.envelope import OrgId
from events.registry import EventPayload
from events.shared import (
    DetailsChange,
    KeyWorker,
    PersonRegistered,
    ReferralMade,
    referred_person_id,
)
from services.organisation.domain.commands import (
    DeclineReferral,
    MakeReferral,
    WithdrawReferral,
)
from services.organisation.domain.errors import (
    NotTheSender,
    ReferralAlreadyDecided,
    ReferralNotReceived,
    ReferralToOwnOrganisation,
    ReferralWithdrawn,
)
from services.organisation.domain.people import (
    PersonState,
    SharingDecision,
    change_details,
    person_from,
)
from services.organisation.domain.referrals import (
    ReferralState,
    accept_referral,
    answer_to_sender,
    decline_referral,
    derived_event_id,
    make_referral,
    receive_referral,
    referral_from,
    withdraw_referral,
    withdrawal_to_receiver,
)
from tests.unit.organisation.domain_examples import DETAILS, NOW, PLACE, recorded

REFERRAL_ID = uuid4()
SENDER_PERSON = PersonState(uuid4(), DETAILS, PLACE, NOW, 1)
RECEIVER_PERSON_ID = uuid4()
TO_VOLUNTARY = MakeReferral(SENDER_PERSON.person_id, "voluntary", "Food support", "urgent")
WORKER = KeyWorker(name="Jo Reid", email="jo.reid@example.org")


def _made() -> ReferralMade:
    return make_referral(SENDER_PERSON, TO_VOLUNTARY, own_org="housing", referral_id=REFERRAL_ID)


def _received(*later: EventPayload) -> ReferralState:
    received = receive_referral(
        _made(), from_org="housing", person_id=RECEIVER_PERSON_ID, found_by="nhs_number"
    )
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
    state = _received(
        accept_referral(_received(), own_org="voluntary", case_id=case_id, key_worker=WORKER)
    )
    assert (state.status, state.case_id, state.version) == ("accepted", case_id, 2)
    assert state.key_worker == WORKER
    with pytest.raises(ReferralAlreadyDecided):
        accept_referral(state, own_org="voluntary", case_id=None, key_worker=None)
    with pytest.raises(ReferralAlreadyDecided):
        decline_referral(
            state, DeclineReferral(REFERRAL_ID, "Changed our mind"), own_org="voluntary"
        )


def test_declining_records_why() -> None:
    """A declined referral keeps the reason, and its history shows both steps."""
    state = _received(
        decline_referral(
            _received(), DeclineReferral(REFERRAL_ID, "Out of area"), own_org="voluntary"
        )
    )
    assert (state.status, state.decline_reason) == ("declined", "Out of area")
    assert [step.type for step in state.history] == ["referral.received", "referral.declined"]


def test_the_sender_cannot_decide_its_own_referral() -> None:
    """Only the receiving organisation decides; to the sender the referral is not in its inbox."""
    state = referral_from(recorded(_made(), org="housing"))
    assert state is not None
    with pytest.raises(ReferralNotReceived):
        accept_referral(state, own_org="housing", case_id=None, key_worker=None)


def test_derived_ids_are_the_same_every_time_and_differ_by_label() -> None:
    """Receiving a referral again derives the same ids, so writing them again is a no-op."""
    source = uuid4()
    assert referred_person_id(REFERRAL_ID) == referred_person_id(REFERRAL_ID)
    assert derived_event_id(source, "a") == derived_event_id(source, "a")
    assert derived_event_id(source, "a") != derived_event_id(source, "b")


def _sent(*later: EventPayload) -> ReferralState:
    """The sender's side: made, then whatever it recorded since."""
    state = referral_from(recorded(_made(), *later, org="housing"))
    assert state is not None
    return state


def _answer(state: ReferralState, answer: EventPayload) -> EventPayload:
    step = answer_to_sender(state, answer, by_org="voluntary", answered_at=NOW)
    assert step is not None
    return step


def test_the_sender_learns_each_answer_with_who_leads_the_work() -> None:
    """Received, then accepted with the key worker: the sender's side says so, and when."""
    received = receive_referral(
        _made(), from_org="housing", person_id=RECEIVER_PERSON_ID, found_by="nhs_number"
    )
    first = _answer(_sent(), received)
    state = _sent(first)
    assert (state.status, state.answered_at) == ("received", NOW)
    accepted = accept_referral(_received(), own_org="voluntary", case_id=uuid4(), key_worker=WORKER)
    state = _sent(first, _answer(state, accepted))
    assert (state.status, state.key_worker) == ("accepted", WORKER)
    assert answer_to_sender(state, accepted, by_org="voluntary", answered_at=NOW) is None
    assert answer_to_sender(state, received, by_org="voluntary", answered_at=NOW) is None
    with pytest.raises(ReferralNotReceived):  # still the receiver's to decide, not the sender's
        decline_referral(state, DeclineReferral(REFERRAL_ID, "no"), own_org="housing")


def test_the_sender_learns_why_a_referral_was_declined() -> None:
    declined = decline_referral(
        _received(), DeclineReferral(REFERRAL_ID, "Out of area"), own_org="voluntary"
    )
    state = _sent(_answer(_sent(), declined))
    assert (state.status, state.decline_reason) == ("declined", "Out of area")


def test_a_referral_is_withdrawn_by_its_sender_only_while_undecided() -> None:
    withdraw = WithdrawReferral(REFERRAL_ID, "Housed meanwhile")
    withdrawn = withdraw_referral(_sent(), withdraw, own_org="housing")
    state = _sent(withdrawn)
    assert (state.status, state.withdrawal_reason) == ("withdrawn", "Housed meanwhile")
    with pytest.raises(ReferralAlreadyDecided):  # once is enough
        withdraw_referral(state, withdraw, own_org="housing")
    with pytest.raises(NotTheSender):
        withdraw_referral(_received(), withdraw, own_org="voluntary")
    accepted = accept_referral(_received(), own_org="voluntary", case_id=None, key_worker=None)
    decided = _sent(_answer(_sent(), accepted))
    with pytest.raises(ReferralAlreadyDecided):
        withdraw_referral(decided, withdraw, own_org="housing")


def test_the_receiver_cannot_decide_a_withdrawn_referral() -> None:
    noted = withdrawal_to_receiver(_received())
    assert noted is not None
    state = _received(noted)
    assert state.status == "withdrawn"
    with pytest.raises(ReferralWithdrawn):
        accept_referral(state, own_org="voluntary", case_id=None, key_worker=None)
    assert withdrawal_to_receiver(state) is None  # noted once


def test_a_decision_that_crossed_the_withdrawal_stands_on_both_sides() -> None:
    """The receiver accepted before the withdrawal reached it: it ignores the withdrawal,
    and the sender, having withdrawn, learns of the acceptance: accepted, withdrawal kept."""
    accepted = accept_referral(_received(), own_org="voluntary", case_id=None, key_worker=WORKER)
    receiver = _received(accepted)
    assert withdrawal_to_receiver(receiver) is None
    withdrawn = withdraw_referral(_sent(), WithdrawReferral(REFERRAL_ID, "x"), own_org="housing")
    sender = _sent(withdrawn)
    state = _sent(withdrawn, _answer(sender, accepted))
    assert (state.status, state.key_worker) == ("accepted", WORKER)
    assert state.withdrawn_at is not None


def _decision(
    withdrawn: bool,
    sources: tuple[OrgId, ...] | None,
    minutes: int,
    purposes: tuple[Purpose, ...] = ("direct_care",),
) -> SharingDecision:
    at = NOW + timedelta(minutes=minutes)
    return SharingDecision(withdrawn, sources, ("housing",), purposes, (at, at, uuid4()))


def test_an_objection_recorded_here_withholds_until_the_source_consents_later() -> None:
    objected = replace(SENDER_PERSON, sharing=(_decision(True, None, 1),))
    assert objected.withholds(source="voluntary", recipient="housing")
    assert not objected.withholds(source="voluntary", recipient="mental_health")
    lifted = replace(objected, sharing=(*objected.sharing, _decision(False, ("voluntary",), 2)))
    assert not lifted.withholds(source="voluntary", recipient="housing")
    assert lifted.withholds(source="mental_health", recipient="housing")  # not its consent
    older = replace(objected, sharing=(_decision(False, ("voluntary",), 0), *objected.sharing))
    assert older.withholds(source="voluntary", recipient="housing")
    other_purpose = replace(SENDER_PERSON, sharing=(_decision(True, None, 1, ("audit",)),))
    assert not other_purpose.withholds(source="voluntary", recipient="housing")


def test_a_decision_kept_from_the_sender_is_known_there_only_as_received() -> None:
    accepted = accept_referral(_received(), own_org="voluntary", case_id=None, key_worker=WORKER)
    step = answer_to_sender(_sent(), accepted, by_org="voluntary", answered_at=NOW, withheld=True)
    assert step is not None
    assert (step.answer, step.key_worker) == ("received", None)
    told_not_to = accept_referral(
        _received(), own_org="voluntary", case_id=None, key_worker=WORKER,
        shared_with_sender=False,
    )  # fmt: skip
    step = answer_to_sender(_sent(), told_not_to, by_org="voluntary", answered_at=NOW)
    assert step is not None
    assert step.answer == "received"


def test_a_change_records_only_what_differs_and_the_state_follows() -> None:
    asked = DetailsChange.model_validate(
        {"postcode": DETAILS.postcode or "BS1 4DJ", "family_name": "Reid"}
    )
    change = change_details(SENDER_PERSON, asked)
    assert change is not None
    assert change.changes.model_fields_set == (
        {"family_name"} if DETAILS.postcode else {"family_name", "postcode"}
    )
    state = person_from(
        recorded(PersonRegistered(person_id=SENDER_PERSON.person_id, details=DETAILS), change)
    )
    assert state is not None
    assert (state.details.family_name, state.version) == ("Reid", 2)
    assert change_details(state, DetailsChange.model_validate({"family_name": "Reid"})) is None
