"""A place's organisations: the file, its rules (each broken one named), and what a sector,
a sharing grant and the single view make of them."""

import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from events.organisations import DEFAULT_ORGANISATIONS, Organisations
from services.cli.main import main
from services.projection.adapters.sharing_config import load_sharing_policy
from services.projection.domain.sharing import SharingPolicy, Viewer, organisations_named
from services.projection.service_layer.reading import recorders_of
from services.runtime.organisations_file import load_organisations
from services.runtime.settings import get_settings
from services.runtime.toml_config import ConfigFileInvalid
from tests.unit.projection.factories import PersonAt, details, folded, minutes

PLACE_FILE = Path(__file__).parents[2] / "deploy" / "organisations.example.toml"


@pytest.fixture
def place() -> Organisations:
    """The shipped example: a council, a trust and two charities."""
    return load_organisations(PLACE_FILE)


def test_the_file_lists_each_organisation_with_its_sector_in_order(place: Organisations) -> None:
    assert place.ids == (
        "northtown_housing", "avon_mental_health", "eastside_food_bank", "riverside_day_centre",
    )  # fmt: skip
    assert place.of_sector("voluntary") == ("eastside_food_bank", "riverside_day_centre")
    assert place.sectors == ("housing", "mental_health", "voluntary")
    assert place.name_of("riverside_day_centre") == "Riverside Day Centre"
    assert place.sector_of("police") is None


def test_without_a_file_the_place_has_one_organisation_per_sector_named_after_it() -> None:
    assert load_organisations(None) == DEFAULT_ORGANISATIONS
    assert [(o.id, o.sector) for o in DEFAULT_ORGANISATIONS.organisations] == [
        ("housing", "housing"), ("mental_health", "mental_health"), ("voluntary", "voluntary"),
    ]  # fmt: skip


@pytest.mark.parametrize(
    ("entry", "named"),
    [
        ('[organisations.food_bank]\nname = "F"\nsector = "police"\n', "food_bank.sector"),
        (
            '[organisations.Food-Bank]\nname = "F"\nsector = "voluntary"\n',
            "Food-Bank: String should match",
        ),
        ('[organisations.food_bank]\nsector = "voluntary"\n', "food_bank.name"),
        ('[organisations.food_bank]\nname = "F"\nsector = "voluntary"\nhq = 1\n', "food_bank.hq"),
        ('[organisations.projection]\nname = "P"\nsector = "voluntary"\n', "Caseweave keeps"),
        ('[organisations.caseweave_auth]\nname = "P"\nsector = "housing"\n', "Caseweave keeps"),
        ('[organisations.x_erasures]\nname = "P"\nsector = "housing"\n', "Caseweave keeps"),
        ('[organisations.housing]\nname = "H"\nsector = "voluntary"\n', "named after a sector"),
        ("[organisations]\n", "at least 1"),
    ],
)
def test_a_broken_file_stops_start_up_naming_the_field_and_rule(
    tmp_path: Path, entry: str, named: str
) -> None:
    path = tmp_path / "organisations.toml"
    path.write_text(entry)
    with pytest.raises(ConfigFileInvalid, match=named) as refused:
        load_organisations(path)
    assert str(path) in str(refused.value)


def test_an_unreadable_or_missing_file_says_so(tmp_path: Path) -> None:
    with pytest.raises(ConfigFileInvalid, match="cannot read"):
        load_organisations(tmp_path / "missing.toml")
    (tmp_path / "bad.toml").write_text("[organisations\n")
    with pytest.raises(ConfigFileInvalid, match="not valid TOML"):
        load_organisations(tmp_path / "bad.toml")


def test_the_default_grants_name_sectors_so_they_hold_for_every_charity(
    place: Organisations,
) -> None:
    policy = load_sharing_policy(None, place)
    food_bank = Viewer(org="eastside_food_bank", role="frontline", policy=policy)
    assert food_bank.may_see("riverside_day_centre", "case.involvement")  # who else is involved
    assert food_bank.may_see("northtown_housing", "housing.tenancy")
    assert not food_bank.may_see("riverside_day_centre", "voluntary.support")  # its work: no
    council = Viewer(org="northtown_housing", role="frontline", policy=policy)
    assert council.may_see("riverside_day_centre", "voluntary.support")
    assert not council.may_see("avon_mental_health", "health.clinical")


def test_a_grant_may_name_one_charity_and_every_organisation_it_names_must_exist(
    place: Organisations, tmp_path: Path
) -> None:
    policy = SharingPolicy.model_validate({"grant": [{
        "viewers": ["riverside_day_centre"], "from": ["eastside_food_bank"],
        "categories": ["voluntary.support"],
    }]}).for_place(place)  # fmt: skip
    day_centre = Viewer(org="riverside_day_centre", role="frontline", policy=policy)
    assert day_centre.may_see("eastside_food_bank", "voluntary.support")
    food_bank = Viewer(org="eastside_food_bank", role="frontline", policy=policy)
    assert not food_bank.may_see("riverside_day_centre", "voluntary.support")  # one way
    rules = tmp_path / "sharing.toml"
    rules.write_text(
        '[[grant]]\nviewers = ["riverside_day_centre"]\nfrom = ["eastside_food_bank", "police"]'
        '\ncategories = ["*"]\n'
    )
    with pytest.raises(ConfigFileInvalid, match=r"grant\.0\.from\.1: 'police' is not an"):
        load_sharing_policy(rules, place)
    rules.write_text('[[grant]]\nviewer_sectors = ["voluntary"]\ncategories = ["*"]\n')
    with pytest.raises(ConfigFileInvalid, match="`from` or `from_sectors`"):
        load_sharing_policy(rules, place)


def test_a_sectors_vocabulary_is_recorded_by_each_organisation_of_the_sector(
    place: Organisations,
) -> None:
    assert recorders_of("voluntary.support", place) == {
        "eastside_food_bank", "riverside_day_centre",
    }  # fmt: skip
    assert recorders_of("health.clinical", place) == {"avon_mental_health"}
    assert recorders_of("safeguarding.risk", place) == set(place.ids)  # flags: everyone's


def test_the_single_view_names_each_organisation_it_shows(place: Organisations) -> None:
    council, day_centre = PersonAt("northtown_housing"), PersonAt("riverside_day_centre")
    view = folded([
        council.registered(minutes(0), details()), day_centre.registered(minutes(1), details()),
    ])  # fmt: skip
    named = organisations_named(view, place)
    assert [(o.id, o.name) for o in named] == [
        ("northtown_housing", "Northtown Council housing options"),
        ("riverside_day_centre", "Riverside Day Centre"),
    ]
    assert named[0].contact == "housing.options@northtown.example.gov.uk"


@pytest.fixture
def place_file(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[Path]:
    """CASEWEAVE_ORGANISATIONS_FILE for the commands run here (the settings read afresh)."""
    path = tmp_path / "organisations.toml"
    path.write_text(PLACE_FILE.read_text())
    monkeypatch.setenv("CASEWEAVE_ORGANISATIONS_FILE", str(path))
    get_settings.cache_clear()
    yield path
    get_settings.cache_clear()


def test_the_command_lists_each_organisation_and_the_service_serving_it(
    place_file: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["organisations", "list", "--json"]) == 0
    listed = json.loads(capsys.readouterr().out)
    assert [(o["id"], o["sector"], o["port"]) for o in listed] == [
        ("northtown_housing", "housing", 8001), ("avon_mental_health", "mental_health", 8002),
        ("eastside_food_bank", "voluntary", 8003), ("riverside_day_centre", "voluntary", 8003),
    ]  # fmt: skip
    assert main(["organisations", "check", str(PLACE_FILE)]) == 0
    assert "4 organisation(s) (1 housing, 1 mental health, 2 voluntary sector)" in (
        capsys.readouterr().out
    )


def test_commands_refuse_a_broken_file_or_an_organisation_the_place_lacks(
    place_file: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["keys", "create", "--org", "voluntary", "--role", "frontline"]) == 2
    said = capsys.readouterr().err
    assert "--org voluntary: not an organisation of this place" in said
    assert "riverside_day_centre" in said
    place_file.write_text('[organisations.food_bank]\nname = "Food Bank"\nsector = "charity"\n')
    assert main(["organisations", "check", str(place_file)]) == 2
    assert "organisations.food_bank.sector" in capsys.readouterr().err
    assert main(["up"]) == 2  # said before anything starts
    assert "organisations.food_bank.sector" in capsys.readouterr().err
