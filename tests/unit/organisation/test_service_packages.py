"""Each organisation is its own microservice, built from the same code for its organisation."""

import importlib

import pytest

from events.envelope import ORGANISATIONS, OrgId
from services.runtime.settings import Settings


@pytest.mark.parametrize("org", ORGANISATIONS)
def test_each_service_package_builds_the_app_of_its_organisation(org: OrgId) -> None:
    """`services.<org>.create_app(settings)` serves that organisation, without connecting yet."""
    package = importlib.import_module(f"services.{org}")
    app = package.create_app(Settings(database_url="postgresql://nowhere.invalid/db"))
    assert org == package.ORG
    assert app.state.org == org
    assert "/v1/cases/{case_id}/events" in app.openapi()["paths"]


def test_a_service_without_a_database_url_refuses_to_start() -> None:
    """Without CASEWEAVE_DATABASE_URL the organisation service says what it needs."""
    from services.housing import create_app  # noqa: PLC0415 - the package under test

    with pytest.raises(ValueError, match="CASEWEAVE_DATABASE_URL"):
        create_app(Settings(database_url=None))
