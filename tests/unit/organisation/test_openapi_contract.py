"""What each service's OpenAPI document promises partners: its event vocabulary typed, the
bearer key, every error answer in the one shape, examples of its own, docs that work
offline. (That each example is a request the running service takes: tests/integration/
organisation/test_openapi_examples.py.)"""

import json
from typing import Any

import httpx
import pytest
from fastapi import FastAPI

from events.envelope import OrgId
from events.organisations import DEFAULT_ORGANISATIONS
from events.registry import latest_model
from services.organisation.bootstrap import create_sector_app
from services.organisation.domain.case_vocabulary import recordable_types
from services.projection.bootstrap import create_projection_app
from services.runtime.http.openapi_contract import operations

OFFLINE = "postgresql://nowhere/never"  # the apps are built, never started


def _app(service: str) -> FastAPI:
    if service == "projection":
        return create_projection_app(database_url=OFFLINE, id_secret=b"s" * 32)
    return create_sector_app(sector=service, database_url=OFFLINE)  # type: ignore[arg-type]


def _document(service: str) -> dict[str, Any]:
    return _app(service).openapi()


SERVICES = ["projection", *DEFAULT_ORGANISATIONS.ids]


@pytest.mark.parametrize("org", DEFAULT_ORGANISATIONS.ids)
def test_each_organisation_publishes_its_own_event_vocabulary_one_schema_per_type(
    org: OrgId,
) -> None:
    """A generated client knows every type the service records and each one's data: the
    request is one of them, chosen by `type`; `data` never asks for `case_id` (the path
    gives it) and takes nothing else."""
    schemas = _document(org)["components"]["schemas"]
    request = schemas["CaseEventCreate"]
    mapping = request["discriminator"]["mapping"]
    assert request["discriminator"]["propertyName"] == "type"
    assert list(mapping) == list(recordable_types(org))
    assert [ref["$ref"] for ref in request["oneOf"]] == list(mapping.values())
    for event_type, ref in mapping.items():
        typed = schemas[ref.rsplit("/", 1)[-1]]
        assert typed["properties"]["type"]["const"] == event_type
        data = typed["properties"]["data"]
        fields = set(latest_model(event_type).model_fields) - {"case_id"}
        assert set(data["properties"]) == fields, event_type
        assert "case_id" not in data.get("required", [])
        assert data["additionalProperties"] is False
        assert typed["additionalProperties"] is False
    others = [o for o in DEFAULT_ORGANISATIONS.ids if o != org]
    assert not any(t.startswith(tuple(f"{o}." for o in others)) for t in mapping)


@pytest.mark.parametrize("service", SERVICES)
def test_every_call_but_probes_declares_the_bearer_key(service: str) -> None:
    """`/docs` gets an Authorize button; clients know to send the key everywhere it is
    needed, and that health probes need none."""
    document = _document(service)
    assert document["components"]["securitySchemes"]["bearer"] == {
        "type": "http",
        "scheme": "bearer",
        "description": document["components"]["securitySchemes"]["bearer"]["description"],
    }
    for path, method, operation in operations(document):
        keyed = not path.startswith("/health/") and path != "/v1/inbound/{source}"  # signed
        assert operation["security"] == ([{"bearer": []}] if keyed else []), (method, path)


@pytest.mark.parametrize("service", SERVICES)
def test_every_route_declares_the_errors_it_can_give_in_the_one_error_shape(
    service: str,
) -> None:
    """Without a key (401), over the rate (429), the database away (503); a body that is
    not JSON, too large, not sent as JSON, or breaking a rule (400, 413, 415, 422); at an
    organisation's service, another organisation's key (403). Each in `ErrorPublic`."""
    document = _document(service)
    for path, method, operation in operations(document):
        answers = operation["responses"]
        declared = {int(status) for status in answers}
        if path.startswith("/v1/"):
            assert {401, 429, 503} <= declared, (method, path)
            if service != "projection" and path != "/v1/inbound/{source}":
                assert 403 in declared, (method, path)  # another organisation's key
        if "requestBody" in operation:
            assert {400, 413, 415, 422} <= declared, (method, path)
        for status, answer in answers.items():
            if int(status) >= 400:
                schema = answer["content"]["application/json"]["schema"]
                assert schema == {"$ref": "#/components/schemas/ErrorPublic"}, (path, status)
    assert "HTTPValidationError" not in json.dumps(document)  # FastAPI's shape, not ours


@pytest.mark.parametrize("org", DEFAULT_ORGANISATIONS.ids)
def test_each_service_shows_examples_of_its_own(org: OrgId) -> None:
    """The mental health and voluntary services no longer show housing's requests (which
    they refuse): each event example is of the service's vocabulary, each referral goes to
    another organisation, each consent names the service as the source."""
    schemas = _document(org)["components"]["schemas"]
    [event] = schemas["CaseEventCreate"]["examples"]
    assert event["type"] in recordable_types(org)
    [referral] = schemas["ReferralCreate"]["examples"]
    assert referral["to_org"] != org
    [consent] = schemas["ConsentCreate"]["examples"]
    assert consent["sources"] == [org]
    assert org not in consent["recipients"]


@pytest.mark.parametrize("service", SERVICES)
async def test_the_docs_page_works_offline_from_the_services_own_files(service: str) -> None:
    """Swagger UI's script, styles and icon come from the service, never a CDN."""
    transport = httpx.ASGITransport(app=_app(service))
    async with httpx.AsyncClient(transport=transport, base_url="http://service") as client:
        await _offline_docs(client)


async def _offline_docs(client: httpx.AsyncClient) -> None:
    page = await client.get("/docs")
    assert page.status_code == 200
    assets = [
        part.split('"')[1]
        for part in page.text.split()
        if part.startswith(("src=", "href=")) and part.count('"') >= 2
    ]
    assert assets
    assert "cdn" not in page.text
    for asset in assets:
        assert asset.startswith("/"), asset
        assert (await client.get(asset)).status_code == 200, asset
    assert (await client.get("/openapi.json")).json()["info"]["title"]
