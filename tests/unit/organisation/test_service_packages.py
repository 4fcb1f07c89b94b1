"""Each sector is its own microservice, built from the same code, serving the sector's
organisations as the place's organisations file lists them."""

import importlib
from pathlib import Path

import pytest

from events.organisations import SECTORS, Sector
from services.runtime.settings import Settings

PLACE = Path(__file__).parents[3] / "deploy" / "organisations.example.toml"


@pytest.mark.parametrize("sector", SECTORS)
def test_each_service_package_builds_the_app_of_its_sector(sector: Sector) -> None:
    """`services.<sector>.create_app(settings)` serves the sector's organisations (by default
    the one named after it), without connecting yet."""
    package = importlib.import_module(f"services.{sector}")
    app = package.create_app(Settings(database_url="postgresql://nowhere.invalid/db"))
    assert sector == package.SECTOR
    assert (app.state.sector, app.state.orgs) == (sector, (sector,))
    assert "/v1/cases/{case_id}/events" in app.openapi()["paths"]


def test_a_sector_service_serves_every_organisation_of_its_sector_the_place_lists() -> None:
    settings = Settings(database_url="postgresql://nowhere.invalid/db", organisations_file=PLACE)
    voluntary = importlib.import_module("services.voluntary").create_app(settings)
    assert voluntary.state.orgs == ("eastside_food_bank", "riverside_day_centre")
    described = voluntary.openapi()["info"]["description"]
    assert "`riverside_day_centre`: Riverside Day Centre" in described
    housing = importlib.import_module("services.housing").create_app(settings)
    assert housing.state.orgs == ("northtown_housing",)


def test_a_sector_without_organisations_has_no_service(tmp_path: Path) -> None:
    place = tmp_path / "organisations.toml"
    place.write_text('[organisations.food_bank]\nname = "Food Bank"\nsector = "voluntary"\n')
    settings = Settings(database_url="postgresql://nowhere.invalid/db", organisations_file=place)
    with pytest.raises(ValueError, match="no organisation of the mental_health sector"):
        importlib.import_module("services.mental_health").create_app(settings)


def test_a_service_without_a_database_url_refuses_to_start() -> None:
    """Without CASEWEAVE_DATABASE_URL the organisation service says what it needs."""
    from services.housing import create_app  # noqa: PLC0415 - the package under test

    with pytest.raises(ValueError, match="CASEWEAVE_DATABASE_URL"):
        create_app(Settings(database_url=None))
