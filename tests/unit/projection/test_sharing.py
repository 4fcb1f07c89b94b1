"""Sharing rules: default deny, categories by family, roles, and a relationship to the person."""

from pathlib import Path
from uuid import UUID, uuid4

import pytest

from events.envelope import Envelope
from events.shared import CaseClosed, ReferralAccepted, ReferralMade
from services.projection.adapters.sharing_config import load_sharing_policy
from services.projection.domain.sharing import SharingPolicy, Viewer, has_relationship
from services.runtime.toml_config import ConfigFileInvalid
from tests.unit.projection.factories import PersonAt, details, folded, minutes
from tests.unit.projection.stories import three_organisations_story

POLICY = SharingPolicy.model_validate(
    {
        "grant": [
            {"viewers": ["housing"], "from": ["mental_health"], "categories": ["health.care_team"]},
            {
                "viewers": ["mental_health"],
                "roles": ["frontline"],
                "from": ["housing"],
                "categories": ["housing.*"],
            },
        ]
    }
)


def test_nothing_is_shared_unless_a_grant_says_so() -> None:
    housing = Viewer(org="housing", role="frontline", policy=POLICY)
    assert housing.may_see("mental_health", "health.care_team")
    assert not housing.may_see("mental_health", "health.clinical")
    assert not housing.may_see("voluntary", "voluntary.support")
    assert housing.may_see("housing", "anything.at_all")  # its own records, always


def test_a_family_grant_covers_its_members_only_and_roles_narrow_it() -> None:
    clinician = Viewer(org="mental_health", role="frontline", policy=POLICY)
    assert clinician.may_see("housing", "housing.tenancy")
    assert not clinician.may_see("housing", "housingx.tenancy")
    assert not clinician.may_see("housing", "case.involvement")
    ops = Viewer(org="mental_health", role="ops", policy=POLICY)
    assert not ops.may_see("housing", "housing.tenancy")


def test_a_relationship_is_an_open_case_or_an_accepted_referral() -> None:
    view = folded(e for log in three_organisations_story().values() for e in log)
    assert all(has_relationship(view, org) for org in ("housing", "mental_health", "voluntary"))


def test_the_default_rules_load_and_a_broken_file_names_the_field(tmp_path: Path) -> None:
    assert load_sharing_policy(None).grants
    broken = tmp_path / "sharing.toml"
    broken.write_text('[[grant]]\nviewers = ["housing"]\nfrom = ["police"]\ncategories = ["*"]\n')
    with pytest.raises(ConfigFileInvalid, match=r"grant\.0\.from\.0"):
        load_sharing_policy(broken)
    broken.write_text(
        '[[grant]]\nviewers = ["housing"]\nfrom = ["housing"]\ncategories = ["a b"]\n'
    )
    with pytest.raises(ConfigFileInvalid, match="not a category"):
        load_sharing_policy(broken)


def _charity_accepts_a_housing_referral() -> tuple[list[Envelope], PersonAt, UUID]:
    """Housing refers; the charity accepts and opens a case for the referral (its only one)."""
    housing, charity = PersonAt("housing"), PersonAt("voluntary")
    referral_id, case_id = uuid4(), uuid4()
    said = {"referral_id": referral_id, "reason": "food", "urgency": "routine"}
    events = [
        housing.registered(minutes(0), details()),
        housing.event(
            ReferralMade(person_id=housing.person_id, to_org="voluntary", person=details(), **said),
            minutes(1),
        ),
        charity.registered(minutes(2), details()),
        charity.event(
            ReferralAccepted(
                referral_id=referral_id, person_id=charity.person_id, from_org="housing",
                case_id=case_id,
            ),
            minutes(3),
        ),
        charity.case_opened(minutes(3), case_id),
    ]  # fmt: skip
    return events, charity, case_id


def test_an_accepted_referral_counts_until_the_case_opened_for_it_is_closed() -> None:
    events, charity, case_id = _charity_accepts_a_housing_referral()
    assert has_relationship(folded(events), "voluntary")
    closed = charity.event(CaseClosed(case_id=case_id, outcome="support ended"), minutes(9))
    assert not has_relationship(folded([*events, closed]), "voluntary")


def test_a_referral_nobody_made_is_no_relationship() -> None:
    """The charity records an acceptance of a housing referral housing never made."""
    events, _, _ = _charity_accepts_a_housing_referral()
    claimed = [e for e in events if e.type not in {"referral.made", "case.opened"}]
    assert not has_relationship(folded(claimed), "voluntary")
    assert has_relationship(folded([e for e in events if e.type != "case.opened"]), "voluntary")
