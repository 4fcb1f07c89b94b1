"""What a client meets at every service's door under `caseweave up` with its defaults: the
media type it must send, and a failed-login limit it cannot dodge by naming other addresses."""

from collections.abc import Iterator

import httpx
import pytest

from tests.e2e.system import SERVICES, System, running
from tests.postgres import create_database

# a route of each service that reads a JSON body
JSON_ROUTES = {
    "projection": "/v1/identity/links",
    "housing": "/v1/people",
    "mental_health": "/v1/people",
    "voluntary": "/v1/referrals",
}


@pytest.fixture(scope="module")
async def database(postgres_server: str) -> str:
    return await create_database(postgres_server)


@pytest.fixture(scope="module")
def up(database: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[System]:
    """One `caseweave up` with default settings for the module's tests."""
    directory = tmp_path_factory.mktemp("http-edge")
    system = System(database_url=database, data_dir=directory / "data")
    with running(system, directory / "up.log"):
        yield system


@pytest.mark.parametrize("service", SERVICES)
def test_a_body_that_is_not_labelled_json_is_415_naming_the_header(
    up: System, service: str
) -> None:
    """text/plain on a JSON POST: 415 `unsupported_media_type` on `header.content-type`."""
    response = httpx.post(
        f"{up.url(service)}{JSON_ROUTES[service]}",
        content=b'{"reason": "checked"}',
        headers={"Content-Type": "text/plain", "Authorization": "Bearer not-checked-yet"},
        timeout=10,
    )
    assert response.status_code == 415, response.text
    error = response.json()["error"]
    assert error["code"] == "unsupported_media_type"
    assert [field["field"] for field in error["fields"]] == ["header.content-type"]


def test_a_client_cannot_dodge_the_failed_login_limit_by_naming_other_addresses(
    up: System,
) -> None:
    """No proxy is trusted by default: X-Forwarded-For is ignored, so bad keys sent with a
    different made-up address each time are still counted against the client, and limited."""
    statuses = [
        httpx.get(
            f"{up.url('voluntary')}/v1/referrals/00000000-0000-0000-0000-000000000000",
            headers={
                "Authorization": f"Bearer cw_wrong_{attempt}",
                "X-Forwarded-For": f"10.0.{attempt // 250}.{attempt % 250 + 1}",
            },
            timeout=10,
        ).status_code
        for attempt in range(60)
    ]
    assert 429 in statuses, statuses
    assert set(statuses) == {401, 429}
