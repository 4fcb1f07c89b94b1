"""The projection's HTTP API, through the app and its lifespan, against the real read model."""

from collections.abc import AsyncIterator
from typing import Any
from uuid import uuid4

import httpx
import pytest
from fhir.resources.R4B.bundle import Bundle

from events.envelope import Envelope
from events.organisations import DEFAULT_ORGANISATIONS
from services.projection.bootstrap import create_projection_app
from services.projection.domain.sharing import SharingPolicy
from services.runtime.api_keys import ApiKeyStore
from tests.integration.projection.conftest import ID_SECRET, Organisations
from tests.unit.projection.factories import NHS_NUMBER
from tests.unit.projection.stories import three_organisations_story

# these tests are about search, views and timelines: every organisation shares everything
# (tests/integration/projection/test_sharing.py is about who sees what)
SHARE_ALL = SharingPolicy.model_validate(
    {
        "grant": [
            {
                "viewers": DEFAULT_ORGANISATIONS.ids,
                "from": DEFAULT_ORGANISATIONS.ids,
                "categories": ["*"],
            }
        ]
    }
)


@pytest.fixture
async def client(orgs: Organisations, database_url: str) -> AsyncIterator[httpx.AsyncClient]:
    """A client of the projection API with a housing frontline key, after the story is consumed."""
    await orgs.record(
        sorted(
            (e for log in three_organisations_story().values() for e in log),
            key=Envelope.occurred_sort_key,
        )
    )
    await orgs.catch_up()
    app = create_projection_app(
        database_url=database_url, id_secret=ID_SECRET, schema=orgs.schema, sharing=SHARE_ALL
    )
    async with app.router.lifespan_context(app):
        key = await ApiKeyStore(orgs.pool).issue(org="housing", role="frontline")
        transport = httpx.ASGITransport(app=app)
        headers = {"Authorization": f"Bearer {key}"}
        async with httpx.AsyncClient(
            transport=transport, base_url="http://test", headers=headers
        ) as c:
            yield c


async def citizen_id(client: httpx.AsyncClient) -> str:
    found = await client.get("/v1/citizens", params={"nhs_number": NHS_NUMBER})
    value: str = found.json()["citizens"][0]["citizen_id"]
    return value


def error_fields(response: httpx.Response) -> list[tuple[str, str]]:
    body: dict[str, Any] = response.json()
    return [(f["field"], f["rule"]) for f in body["error"]["fields"]]


async def test_reading_needs_a_valid_api_key(client: httpx.AsyncClient) -> None:
    """No key, or an unknown one: 401, whether or not the citizen exists."""
    known = await citizen_id(client)
    for headers in ({"Authorization": ""}, {"Authorization": "Bearer cw_nope_nope"}):
        for path in (
            f"/v1/citizens/{known}",
            f"/v1/citizens/{uuid4()}",
            "/v1/citizens?nhs_number=1",
        ):
            response = await client.get(path, headers=headers)
            assert response.status_code == 401
            assert response.json()["error"]["code"] == "unauthenticated"


async def test_search_by_nhs_number_finds_the_citizen(client: httpx.AsyncClient) -> None:
    """The NHS number as people write it (with spaces) finds the one citizen, with who they are."""
    response = await client.get("/v1/citizens", params={"nhs_number": "943 476 5919"})
    assert response.status_code == 200
    [found] = response.json()["citizens"]
    assert found | {"citizen_id": None} == {
        "citizen_id": None, "nhs_number": NHS_NUMBER, "given_name": "Davey",
        "family_name": "Smith", "date_of_birth": "1979-03-12", "match_score": None,
        "matched_on": ["nhs_number"],
    }  # fmt: skip


async def test_search_by_name_and_date_of_birth_ignores_case(client: httpx.AsyncClient) -> None:
    """Family name and date of birth (and optionally given name) match whatever the case."""
    found = await client.get(
        "/v1/citizens", params={"family_name": "SMITH", "date_of_birth": "1979-03-12"}
    )
    [citizen] = found.json()["citizens"]
    assert citizen["matched_on"] == ["family_name", "date_of_birth"]
    assert citizen["match_score"] == 10.5


async def test_search_by_name_and_date_of_birth_forgives_typos_and_nicknames(
    client: httpx.AsyncClient,
) -> None:
    """A receptionist's 'Dave Smyth, 03/12/1979' still finds David Smith born 12 March 1979."""
    exact = (
        await client.get(
            "/v1/citizens",
            params={"family_name": "Smith", "date_of_birth": "1979-03-12", "given_name": "David"},
        )
    ).json()["citizens"]
    fuzzy = (
        await client.get(
            "/v1/citizens",
            params={"family_name": "Smyth", "date_of_birth": "1979-12-03", "given_name": "dave"},
        )
    ).json()["citizens"]
    stranger = (
        await client.get(
            "/v1/citizens",
            params={"family_name": "Okafor", "date_of_birth": "1979-03-12", "given_name": "David"},
        )
    ).json()["citizens"]

    assert [c["citizen_id"] for c in fuzzy] == [c["citizen_id"] for c in exact]
    assert fuzzy[0]["match_score"] < exact[0]["match_score"]
    assert set(fuzzy[0]["matched_on"]) == {"given_name", "family_name", "date_of_birth"}
    assert stranger == []


async def test_a_search_without_enough_criteria_names_what_is_missing(
    client: httpx.AsyncClient,
) -> None:
    """Nothing, or a family name alone, is a 422 that names the missing fields."""
    nothing = await client.get("/v1/citizens")
    assert nothing.status_code == 422
    assert [field for field, _ in error_fields(nothing)] == [
        "query.nhs_number", "query.family_name", "query.date_of_birth",
    ]  # fmt: skip
    partial = await client.get("/v1/citizens", params={"family_name": "Smith"})
    assert partial.status_code == 422
    assert error_fields(partial) == [("query.date_of_birth", "missing")]


async def test_an_invalid_nhs_number_is_rejected_with_its_rule(client: httpx.AsyncClient) -> None:
    """A number failing the modulus-11 check, or not ten digits: 422 with the rule broken."""
    wrong_digit = await client.get("/v1/citizens", params={"nhs_number": "9434765918"})
    assert wrong_digit.status_code == 422
    assert error_fields(wrong_digit) == [("query.nhs_number", "nhs_number_check_digit")]
    too_short = await client.get("/v1/citizens", params={"nhs_number": "12345"})
    assert error_fields(too_short) == [("query.nhs_number", "nhs_number_format")]


async def test_the_single_view_shows_every_organisation(client: httpx.AsyncClient) -> None:
    """The view names each organisation's involvement, the flags and the referral's status."""
    response = await client.get(f"/v1/citizens/{await citizen_id(client)}")
    assert response.status_code == 200
    view = response.json()
    assert [i["org"] for i in view["involvements"]] == ["housing", "mental_health", "voluntary"]
    assert view["identity"]["nhs_number"] == {
        "value": NHS_NUMBER,
        "org": "housing",  # all three attest it; housing registered it first
        "as_of": view["identity"]["nhs_number"]["as_of"],
    }
    assert view["referrals"][0]["status"] == "accepted"
    assert {"eviction_notice_served", "crisis_plan_in_place"} <= {f["flag"] for f in view["flags"]}


async def test_an_unknown_or_malformed_citizen_id(client: httpx.AsyncClient) -> None:
    """An id nobody has: 404; something that is not a UUID: 422 naming the path parameter."""
    unknown = await client.get(f"/v1/citizens/{uuid4()}")
    assert unknown.status_code == 404
    assert (await client.get(f"/v1/citizens/{uuid4()}/timeline")).status_code == 404
    malformed = await client.get("/v1/citizens/not-a-uuid")
    assert malformed.status_code == 422
    assert error_fields(malformed)[0][0] == "path.citizen_id"


async def test_the_timeline_pages_through_every_organisations_events_in_order(
    client: httpx.AsyncClient,
) -> None:
    """Events from all three organisations, ordered by when they occurred, a page at a time."""
    path = f"/v1/citizens/{await citizen_id(client)}/timeline"
    events = (await client.get(path)).json()["events"]
    assert len(events) == 18
    assert [e["occurred_at"] for e in events] == sorted(e["occurred_at"] for e in events)
    assert {e["org"] for e in events} == {"housing", "mental_health", "voluntary"}
    assert set(events[0]) == {
        "event_id", "type", "schema_version", "org", "category", "occurred_at", "recorded_at",
        "correlation_id", "data", "retracted_at",
    }  # fmt: skip
    assert {e["retracted_at"] for e in events} == {None}  # nothing entered in error
    page = (await client.get(path, params={"limit": 5, "offset": 15})).json()["events"]
    assert page == events[15:]
    assert (await client.get(path, params={"limit": 0})).status_code == 422
    huge = await client.get(path, params={"offset": 2**63})
    assert huge.status_code == 422
    assert error_fields(huge)[0][0] == "query.offset"


async def test_openapi_describes_the_citizen_routes(client: httpx.AsyncClient) -> None:
    """Each route is published with its tag and a summary."""
    paths = (await client.get("/openapi.json")).json()["paths"]
    for path in ("/v1/citizens", "/v1/citizens/{citizen_id}", "/v1/citizens/{citizen_id}/timeline"):
        operation = paths[path]["get"]
        assert operation["tags"] == ["citizens"]
        assert operation["summary"]


async def test_the_single_view_as_a_fhir_bundle_validates(client: httpx.AsyncClient) -> None:
    known = await citizen_id(client)

    response = await client.get(f"/v1/citizens/{known}/fhir")

    assert response.status_code == 200
    assert response.headers["content-type"].startswith("application/fhir+json")
    bundle = Bundle.model_validate(response.json())
    patient = next(
        e.resource for e in bundle.entry or [] if e.resource.get_resource_type() == "Patient"
    )
    assert patient.id == known
    assert (await client.get(f"/v1/citizens/{uuid4()}/fhir")).status_code == 404
    assert (
        await client.get(f"/v1/citizens/{known}/fhir", headers={"Authorization": ""})
    ).status_code == 401


async def test_the_timeline_narrows_to_an_organisation_a_category_and_a_period(
    client: httpx.AsyncClient,
) -> None:
    path = f"/v1/citizens/{await citizen_id(client)}/timeline"
    events = (await client.get(path)).json()["events"]

    by_org = (await client.get(path, params={"org": "mental_health"})).json()["events"]
    assert by_org == [e for e in events if e["org"] == "mental_health"]
    assert by_org

    category = events[0]["category"]
    by_category = (await client.get(path, params={"category": category})).json()["events"]
    assert by_category == [e for e in events if e["category"] == category]

    start, end = events[3]["occurred_at"], events[8]["occurred_at"]
    period = (await client.get(path, params={"from": start, "to": end})).json()["events"]
    assert period == [e for e in events if start <= e["occurred_at"] < end]
    assert len(period) == 5


async def test_a_bad_timeline_filter_names_the_parameter_and_the_rule(
    client: httpx.AsyncClient,
) -> None:
    path = f"/v1/citizens/{await citizen_id(client)}/timeline"
    cases = [
        ({"org": "police"}, "query.org"),
        ({"category": "DROP TABLE"}, "query.category"),
        ({"category": "housing.tenancyy"}, "query.category"),  # a typo is not "no events"
        ({"from": "2026-01-01T00:00:00"}, "query.from"),  # no time zone
        ({"from": "2026-02-01T00:00:00Z", "to": "2026-01-01T00:00:00Z"}, "query.to"),
    ]
    for params, field in cases:
        response = await client.get(path, params=params)
        assert response.status_code == 422, params
        assert error_fields(response)[0][0] == field, params
