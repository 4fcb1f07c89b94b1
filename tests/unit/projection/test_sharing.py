"""Sharing rules: default deny, categories by family, roles, and a relationship to the person."""

from pathlib import Path

import pytest

from services.projection.domain.sharing import SharingPolicy, Viewer, has_relationship
from services.projection.sharing_config import load_sharing_policy
from services.runtime.toml_config import ConfigFileInvalid
from tests.unit.projection.factories import folded
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
