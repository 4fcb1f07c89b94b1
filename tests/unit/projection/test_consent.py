"""The person's decisions about sharing: the latest stands, and what they withhold from whom."""

from datetime import datetime
from itertools import permutations
from typing import Any
from uuid import UUID, uuid4

import pytest
from pydantic import ValidationError

from events.consent import ConsentGiven, ConsentWithdrawn
from events.envelope import Envelope, OrgId
from events.registry import registered_types
from services.projection.adapters.sharing_config import load_sharing_policy
from services.projection.domain.consent import shares, withheld_sources
from services.projection.domain.finding import Sought, find_in, visible_records
from services.projection.domain.sharing import ConsentRules, Viewer, shared_view
from services.projection.domain.view import CitizenView
from tests.unit.projection.factories import NHS_NUMBER, PersonAt, folded, minutes
from tests.unit.projection.stories import three_organisations_story

DEFAULT = load_sharing_policy(None)
EVENT_CATEGORIES = {model.event_type: model.category for model in registered_types()}
HEALTH = PersonAt("mental_health")
TO_HOUSING: dict[str, Any] = {"recipients": ["housing"], "purposes": ["direct_care"]}
CARE: dict[str, Any] = {"purposes": ["direct_care"]}
Decision = tuple[OrgId, type[ConsentGiven | ConsentWithdrawn], dict[str, Any]]


def _decision(kind: str, at: datetime, **covering: Any) -> Envelope:
    model = ConsentGiven if kind == "given" else ConsentWithdrawn
    return HEALTH.event(model(person_id=HEALTH.person_id, **covering), at)


def _shares(events: list[Envelope], source: OrgId = "mental_health", **asked: Any) -> bool:
    view = folded(events)
    question = {"recipient": "housing", "purpose": "direct_care", "needs_consent": False} | asked
    return shares(view.consents, source=source, **question)


FOR_HOUSING = {"sources": ["mental_health"], "recipients": ["housing"], "purposes": ["direct_care"]}


def test_with_no_decision_the_place_decides() -> None:
    assert _shares([])
    assert not _shares([], needs_consent=True)


def test_the_latest_decision_stands_in_every_arrival_order() -> None:
    decisions = [
        _decision("withdrawn", minutes(1), **FOR_HOUSING),
        _decision("given", minutes(3), **TO_HOUSING),
        _decision("withdrawn", minutes(2), **FOR_HOUSING),
    ]
    answers = {_shares(list(order)) for order in permutations(decisions)}
    assert answers == {True}  # consent given at minute 3
    views = {folded(order).consents for order in permutations(decisions)}
    assert len(views) == 1


def test_a_decision_about_every_source_and_a_later_one_about_one_source() -> None:
    everyone = {"recipients": ["housing"], "purposes": ["direct_care"]}
    events = [_decision("withdrawn", minutes(1), **everyone)]
    assert not _shares(events, source="mental_health")
    assert not _shares(events, source="voluntary")
    assert _shares(events, source="housing")  # its own records
    events.append(_decision("given", minutes(2), **TO_HOUSING))
    assert _shares(events, source="mental_health")
    assert not _shares(events, source="voluntary")


def test_no_organisation_can_lift_an_objection_about_another_organisations_records() -> None:
    """Mental health recorded David's objection to housing seeing its records; housing, the
    charity, or anyone but mental health recording consent (however worded, whenever, in
    any order) does not lift it; mental health recording consent does."""
    objection = _decision("withdrawn", minutes(1), **FOR_HOUSING)
    by_housing = PersonAt("housing").event(
        ConsentGiven(
            person_id=uuid4(), recipients=("housing", "voluntary"), purposes=("direct_care",)
        ),
        minutes(5),
    )
    by_charity = PersonAt("voluntary").event(
        ConsentGiven(person_id=uuid4(), recipients=("housing",), purposes=("direct_care",)),
        minutes(6),
    )
    tried = [objection, by_housing, by_charity]
    assert {_shares(list(order)) for order in permutations(tried)} == {False}
    assert _shares(tried, source="voluntary")  # the charity did consent for its own records
    lifted = [*tried, _decision("given", minutes(7), **TO_HOUSING)]
    assert {_shares(list(order)) for order in permutations(lifted)} == {True}


def test_a_later_objection_about_everyone_hides_what_was_consented_before() -> None:
    consent = _decision("given", minutes(1), **TO_HOUSING)
    everyone = PersonAt("voluntary").event(
        ConsentWithdrawn(person_id=uuid4(), recipients=("housing",), purposes=("direct_care",)),
        minutes(2),
    )
    assert not _shares([consent, everyone])
    assert _shares([everyone, _decision("given", minutes(3), **TO_HOUSING)])


def test_a_decision_covers_only_the_recipients_and_purposes_it_names() -> None:
    events = [_decision("withdrawn", minutes(1), **FOR_HOUSING)]
    assert not _shares(events)
    assert _shares(events, recipient="voluntary")
    assert _shares(events, purpose="safeguarding")


def test_consent_given_is_what_a_purpose_needing_consent_needs() -> None:
    given = [_decision("given", minutes(1), **TO_HOUSING)]
    assert _shares(given, needs_consent=True)
    assert not _shares(given, needs_consent=True, purpose="care_coordination")
    view = folded(given)
    withheld = withheld_sources(
        view.consents, recipient="housing", purpose="direct_care", needs_consent=True,
        sources=("housing", "mental_health", "voluntary"),
    )  # fmt: skip
    assert withheld == {"voluntary"}


def test_a_decision_names_each_value_once() -> None:
    with pytest.raises(ValidationError, match="repeated"):
        ConsentWithdrawn(
            person_id=HEALTH.person_id, recipients=("housing", "housing"), purposes=("audit",)
        )


def _story_view(*decisions: Decision) -> CitizenView:
    """David's story folded, with his decisions recorded at minute 40."""
    logs = three_organisations_story()
    events = sorted((e for log in logs.values() for e in log), key=lambda e: e.occurred_sort_key())
    for org, model, covering in decisions:
        person = PersonAt(org, UUID(logs[org][0].subject))
        events.append(person.event(model(person_id=person.person_id, **covering), minutes(40)))
    return folded(events)


def test_withheld_records_leave_no_trace_in_the_shared_view() -> None:
    view = _story_view(
        ("mental_health", ConsentWithdrawn, {"sources": ["mental_health"], **TO_HOUSING}),
        ("voluntary", ConsentGiven, TO_HOUSING),
    )
    housing = Viewer(org="housing", role="frontline", policy=DEFAULT)
    shared, access = shared_view(view, housing, flag_categories=EVENT_CATEGORIES, related=True)
    assert access == "full"
    text = shared.model_dump_json()
    assert "mental_health" not in text
    assert {i.org for i in shared.involvements} == {"housing", "voluntary"}
    assert [c.recorded_by for c in shared.consents] == ["voluntary"]
    assert shared.identity.given_name is not None
    assert shared.identity.given_name.value != "Dave"  # mental health's registration


def test_a_search_sees_only_what_the_viewer_may_see() -> None:
    view = _story_view(("housing", ConsentWithdrawn, {"recipients": ["voluntary"], **CARE}))
    charity = Viewer(org="voluntary", role="frontline", policy=DEFAULT)
    born = view.identity.date_of_birth.value if view.identity.date_of_birth else None
    assert find_in(view, charity, Sought(nhs_number=NHS_NUMBER)) is not None  # its own record
    found = find_in(view, charity, Sought(family_name="Smith", date_of_birth=born))
    assert found is not None
    assert found.score is not None
    strict = DEFAULT.model_copy(update={"consent": ConsentRules(required_for=("direct_care",))})
    health = Viewer(org="mental_health", role="frontline", policy=strict)
    assert {r.org for r in visible_records(view, health)} == {"mental_health"}
