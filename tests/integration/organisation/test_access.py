"""Who may use an organisation service, and what its OpenAPI document tells them."""

import uuid

import pytest

from services.runtime.api_keys import ApiKeyStore
from tests.integration.organisation.running_services import RunningService
from tests.integration.organisation.sample_requests import a_person, registered


@pytest.mark.parametrize(
    "authorization", [None, "Bearer cw_nosuchkey_secret", "Bearer not-a-key", "Basic abc"]
)
async def test_without_a_valid_key_nothing_is_answered_or_written(
    housing: RunningService, authorization: str | None
) -> None:
    """No key, an unknown key or another scheme: 401 with a Bearer challenge, nothing written."""
    before = await housing.count_events()
    headers = {"Authorization": authorization} if authorization else {}
    written = await housing.client.post("/v1/people", json=a_person(), headers=headers)
    read = await housing.client.get(f"/v1/people/{uuid.uuid4()}", headers=headers)
    assert (written.status_code, read.status_code) == (401, 401)
    assert written.headers["WWW-Authenticate"] == "Bearer"
    assert written.json()["error"]["code"] == "unauthenticated"
    assert await housing.count_events() == before


async def test_a_housing_key_cannot_use_the_mental_health_service(
    housing: RunningService, mental_health: RunningService
) -> None:
    """Another organisation's key is refused with 403, for writes and reads alike."""
    before = await mental_health.count_events()
    person_id = await registered(mental_health)
    written = await mental_health.post("/v1/people", a_person(), key=housing.key)
    read = await mental_health.get(f"/v1/people/{person_id}", key=housing.key)
    assert (written.status_code, read.status_code) == (403, 403)
    assert written.json()["error"]["code"] == "wrong_organisation"
    assert await mental_health.count_events() == before + 1


@pytest.mark.parametrize("role", ["data_steward", "ig_lead", "ops"])
async def test_only_frontline_keys_use_an_organisation_service(
    housing: RunningService, role: str
) -> None:
    """A steward's, IG lead's or ops engineer's key of housing itself: 403, nothing written."""
    key = await ApiKeyStore(housing.pool).issue(org="housing", role=role)
    before = await housing.count_events()
    person_id = await registered(housing)
    written = await housing.post("/v1/people", a_person(), key=key)
    read = await housing.get(f"/v1/people/{person_id}", key=key)
    assert (written.status_code, read.status_code) == (403, 403)
    assert written.json()["error"]["code"] == "role_not_allowed"
    assert await housing.count_events() == before + 1


async def test_the_openapi_document_describes_every_endpoint(housing: RunningService) -> None:
    """Each operation has a tag and summary; request bodies are the named Create models."""
    document = (await housing.client.get("/openapi.json")).json()
    operations = [op for path in document["paths"].values() for op in path.values()]
    assert all(op.get("summary") and op.get("tags") for op in operations)
    assert {"PersonCreate", "CaseEventCreate", "ReferralCreate", "CasePublic"} <= set(
        document["components"]["schemas"]
    )
    assert "housing.tenancy_at_risk" in document["info"]["description"]
