"""What registrations and case events do to the single view."""

from uuid import uuid4

from events.mental_health import CareCoordinatorAssigned, Discharged
from events.registry import decode_payload
from events.shared import (
    CaseClosed,
    KeyWorker,
)
from events.voluntary import EngagementRecorded, KeyWorkerAssigned
from services.projection.domain.fold import apply, new_view
from tests.unit.projection.factories import NHS_NUMBER, PersonAt, details, folded, minutes
from tests.unit.projection.stories import three_organisations_story


def test_the_story_shows_every_organisation_flags_and_the_referral() -> None:
    """Three organisations' logs give one view: involvements, key workers, flags, referral."""
    story = three_organisations_story()
    view = folded(event for log in story.values() for event in log)
    assert [i.org for i in view.involvements] == ["housing", "mental_health", "voluntary"]
    health, charity = view.involvements[1], view.involvements[2]
    assert health.cases[0].key_worker is not None
    assert health.cases[0].key_worker.name == "Ada Lovelace"
    assert charity.cases[0].key_worker is not None
    assert charity.cases[0].key_worker.name == "Jo Reid"
    assert [(f.org, f.flag) for f in view.flags] == [
        ("housing", "eviction_notice_served"),
        ("housing", "tenancy_at_risk"),
        ("mental_health", "crisis_plan_in_place"),
        ("mental_health", "risk_to_self"),
    ]
    referral = view.referrals[0]
    assert (referral.from_org, referral.to_org, referral.status) == (
        "housing",
        "voluntary",
        "accepted",
    )
    assert [c.status for c in referral.history] == ["made", "received", "accepted"]


def test_identity_takes_each_value_from_the_latest_registration_that_has_it() -> None:
    """The newest registration names the person; an older one still gives a missing postcode."""
    story = three_organisations_story()
    identity = folded(event for log in story.values() for event in log).identity
    assert identity.given_name is not None
    assert (identity.given_name.value, identity.given_name.org) == ("Davey", "voluntary")
    assert identity.postcode is not None
    assert (identity.postcode.value, identity.postcode.org) == ("BS5 6XX", "housing")
    assert identity.nhs_number is not None
    assert identity.nhs_number.value == NHS_NUMBER
    assert identity.place is not None
    assert identity.place.value == "E05001236"


def test_registrations_at_the_same_moment_are_ranked_by_organisation_name() -> None:
    """A tie on time is broken by organisation name, whichever registration arrived first
    (two forms of one name: names that disagree under one NHS number are a conflict)."""
    housing, charity = PersonAt("housing"), PersonAt("voluntary")
    both = [
        charity.registered(minutes(0), details(given_name="Davey")),
        housing.registered(minutes(0), details(given_name="Dave")),
    ]
    for events in (both, both[::-1]):
        given = folded(events).identity.given_name
        assert given is not None
        assert (given.value, given.org) == ("Dave", "housing")


def test_a_case_shows_status_key_worker_and_last_contact() -> None:
    """Closing a case, a new coordinator and a backdated event: status, worker, latest contact."""
    health, case_id = PersonAt("mental_health"), uuid4()
    coordinator = KeyWorker(name="Grace Hopper", phone="0117 000 0001")
    view = folded(
        [
            health.registered(minutes(0), details()),
            health.case_opened(minutes(1), case_id, "crisis"),
            health.event(
                CareCoordinatorAssigned(case_id=case_id, coordinator=coordinator), minutes(9)
            ),
            health.event(CaseClosed(case_id=case_id, outcome="recovered"), minutes(10)),
            health.event(Discharged(case_id=case_id, destination="gp_care"), minutes(4)),
        ]
    )
    case = view.involvements[0].cases[0]
    assert (case.status, case.outcome, case.opened_at, case.closed_at) == (
        "closed", "recovered", minutes(1), minutes(10),
    )  # fmt: skip
    assert case.key_worker is not None
    assert (case.key_worker.name, case.key_worker.phone) == ("Grace Hopper", "0117 000 0001")
    assert case.last_contact_at == minutes(10)


def test_voluntary_key_worker_assignment_replaces_the_opening_worker() -> None:
    """A charity's key worker assignment becomes the case's contact."""
    charity, case_id = PersonAt("voluntary"), uuid4()
    view = folded(
        [
            charity.case_opened(minutes(1), case_id),
            charity.event(
                KeyWorkerAssigned(case_id=case_id, key_worker=KeyWorker(name="Jo")), minutes(2)
            ),
            charity.event(EngagementRecorded(case_id=case_id, channel="phone"), minutes(3)),
        ]
    )
    case = view.involvements[0].cases[0]
    assert case.key_worker is not None
    assert case.key_worker.name == "Jo"
    assert case.last_contact_at == minutes(3)


def test_apply_leaves_the_given_view_unchanged() -> None:
    """The fold is pure: the view passed in keeps its content after an event is applied."""
    envelope = PersonAt("housing").registered(minutes(0), details())
    payload = decode_payload(envelope.type, envelope.schema_version, envelope.data)
    before = new_view(uuid4())
    after = apply(before, envelope, payload)
    assert before == new_view(before.citizen_id)
    assert after.involvements[0].registration is not None
