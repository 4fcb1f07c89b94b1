"""What flags and referrals do to the single view, whichever side arrives first."""

from datetime import date
from uuid import uuid4

from events.housing import AccommodationSecured, EvictionNoticeServed, TenancyAtRisk
from events.shared import (
    FlagLifted,
    FlagRaised,
    ReferralAccepted,
    ReferralDeclined,
    ReferralMade,
    ReferralReceived,
)
from tests.unit.projection.factories import PersonAt, details, folded, minutes


def test_flags_are_raised_and_lifted_per_organisation() -> None:
    """Housing lifting its flag leaves the same flag raised by mental health in place."""
    housing, health, h_case, m_case = (
        PersonAt("housing"),
        PersonAt("mental_health"),
        uuid4(),
        uuid4(),
    )
    view = folded(
        [
            housing.event(FlagRaised(case_id=h_case, flag="risk_to_staff", note="dog"), minutes(1)),
            health.event(FlagRaised(case_id=m_case, flag="risk_to_staff"), minutes(2)),
            housing.event(FlagRaised(case_id=h_case, flag="risk_to_staff"), minutes(3)),
        ]
    )
    assert [(f.org, f.raised_at, f.note) for f in view.flags] == [
        ("housing", minutes(1), "dog"),  # raised again: still up since the first time
        ("mental_health", minutes(2), None),
    ]
    lifted = folded(
        [housing.event(FlagLifted(case_id=h_case, flag="risk_to_staff"), minutes(4))], view
    )
    assert [(f.org, f.flag) for f in lifted.flags] == [("mental_health", "risk_to_staff")]
    assert lifted.flags[0].raised_by == "mental_health/frontline/keymen"


def test_derived_housing_flags_are_lifted_when_accommodation_is_secured() -> None:
    """Tenancy at risk and an eviction notice raise flags; settled accommodation lifts both."""
    housing, case_id = PersonAt("housing"), uuid4()
    at_risk = folded(
        [
            housing.event(TenancyAtRisk(case_id=case_id, risk="disrepair"), minutes(1)),
            housing.event(
                EvictionNoticeServed(
                    case_id=case_id, notice="section_8", served_on=date(2026, 3, 1)
                ),
                minutes(2),
            ),
        ]
    )
    assert [f.flag for f in at_risk.flags] == ["eviction_notice_served", "tenancy_at_risk"]
    assert at_risk.flags[1].raised_by_event == "housing.tenancy_at_risk"
    secured = AccommodationSecured(
        case_id=case_id, tenure="social_rent", start_date=date(2026, 4, 1)
    )
    assert folded([housing.event(secured, minutes(3))], at_risk).flags == ()


def test_a_referral_never_goes_back_when_the_receiver_is_replayed_first() -> None:
    """Received and declined arrive before made: status stays declined, the sender's words win."""
    housing, charity, referral_id = PersonAt("housing"), PersonAt("voluntary"), uuid4()
    made = housing.event(
        ReferralMade(
            referral_id=referral_id, person_id=housing.person_id, to_org="voluntary",
            reason="sender's reason", urgency="emergency", person=details(),
        ),
        minutes(1),
    )  # fmt: skip
    received = charity.event(
        ReferralReceived(
            referral_id=referral_id, person_id=charity.person_id, from_org="housing",
            reason="receiver's copy", urgency="routine",
        ),
        minutes(2),
    )  # fmt: skip
    declined = charity.event(
        ReferralDeclined(
            referral_id=referral_id, person_id=charity.person_id, from_org="housing", reason="full"
        ),
        minutes(3),
    )
    referral = folded([received, declined, made]).referrals[0]
    assert (referral.status, referral.reason, referral.urgency) == (
        "declined",
        "sender's reason",
        "emergency",
    )
    assert (referral.made_at, referral.decline_reason) == (minutes(1), "full")
    assert [(c.status, c.org) for c in referral.history] == [
        ("made", "housing"), ("received", "voluntary"), ("declined", "voluntary"),
    ]  # fmt: skip
    assert folded([made, received, declined]).referrals == (referral,)


def test_an_acceptance_names_the_receivers_case() -> None:
    """An accepted referral shows the case the receiver opened for it."""
    charity, referral_id, case_id = PersonAt("voluntary"), uuid4(), uuid4()
    accepted = charity.event(
        ReferralAccepted(
            referral_id=referral_id,
            person_id=charity.person_id,
            from_org="housing",
            case_id=case_id,
        ),
        minutes(1),
    )
    referral = folded([accepted]).referrals[0]
    assert (referral.status, referral.case_id, referral.reason) == ("accepted", case_id, None)
