"""Every read of a citizen's data is in the access log before it is answered; the person's
key workers can see who looked; ops export it; a replay keeps it."""

import io
import json
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from uuid import uuid4

import httpx
import pytest

from events.envelope import Envelope
from services.audit_command import export_access_log, export_alerts
from services.projection.bootstrap import create_projection_app, rebuild_projection
from services.runtime.api_keys import ApiKeyStore
from tests.integration.projection.conftest import ID_SECRET, Organisations
from tests.unit.projection.factories import NHS_NUMBER, PersonAt, details
from tests.unit.projection.stories import three_organisations_story


@pytest.fixture
async def api(orgs: Organisations, database_url: str) -> AsyncIterator[httpx.AsyncClient]:
    story = three_organisations_story()
    await orgs.record(
        sorted((e for log in story.values() for e in log), key=Envelope.occurred_sort_key)
    )
    await orgs.catch_up()
    app = create_projection_app(database_url=database_url, id_secret=ID_SECRET, schema=orgs.schema)
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
            yield client


async def _key(orgs: Organisations, org: str) -> tuple[dict[str, str], str]:
    store = ApiKeyStore(orgs.pool)
    key = await store.issue(org=org, role="frontline")  # type: ignore[arg-type]
    caller = await store.authenticate(key)
    assert caller is not None
    return {"Authorization": f"Bearer {key}"}, caller.key_id


async def test_each_read_is_logged_with_who_what_and_why(
    api: httpx.AsyncClient, orgs: Organisations
) -> None:
    housing, key_id = await _key(orgs, "housing")
    found = await api.get("/v1/citizens", params={"nhs_number": NHS_NUMBER}, headers=housing)
    citizen = found.json()["citizens"][0]["citizen_id"]
    safeguarding = {**housing, "X-Purpose-Of-Use": "safeguarding"}
    await api.get(f"/v1/citizens/{citizen}", headers=safeguarding)
    await api.get(f"/v1/citizens/{citizen}/timeline", headers=housing)
    await api.get(f"/v1/citizens/{citizen}/fhir", headers=housing)

    log = (await api.get(f"/v1/citizens/{citizen}/access-log", headers=housing)).json()
    reads = log["accesses"][::-1]  # oldest first
    assert [(r["read_kind"], r["purpose"]) for r in reads] == [
        ("search", "direct_care"),
        ("view", "safeguarding"),
        ("timeline", "direct_care"),
        ("fhir", "direct_care"),
    ]
    assert {(r["viewer_org"], r["viewer_role"], r["key_id"]) for r in reads} == {
        ("housing", "frontline", key_id)
    }
    assert reads[0]["categories"] == ["person.identity"]
    view_categories = set(reads[1]["categories"])
    assert {"person.identity", "case.involvement", "referral"} <= view_categories
    assert not view_categories & {"health.crisis", "health.clinical"}  # what housing got
    again = (await api.get(f"/v1/citizens/{citizen}/access-log", headers=housing)).json()
    newest = again["accesses"][0]  # reading the log is a read too
    assert (newest["read_kind"], newest["key_id"], newest["categories"]) == (
        "access_log",
        key_id,
        [],
    )


async def test_a_bad_purpose_is_refused_and_nothing_is_read_or_logged(
    api: httpx.AsyncClient, orgs: Organisations, database_url: str
) -> None:
    housing, _ = await _key(orgs, "housing")
    nosy = {**housing, "X-Purpose-Of-Use": "curiosity"}
    found = await api.get("/v1/citizens", params={"nhs_number": NHS_NUMBER}, headers=nosy)
    assert found.status_code == 422
    fields = found.json()["error"]["fields"]
    assert [f["field"] for f in fields] == ["header.X-Purpose-Of-Use"]  # once, not per reader
    out = io.StringIO()
    assert await export_access_log(database_url, out=out, schema=orgs.schema) == 0


async def test_only_the_persons_key_workers_see_the_access_log(
    api: httpx.AsyncClient, orgs: Organisations
) -> None:
    """Someone only housing works with: the charity may not see who looked at them."""
    other = "4010232137"
    person = PersonAt("housing")
    at = datetime(2026, 5, 4, 9, 0, tzinfo=UTC)
    await orgs.record(
        [person.registered(at, details(nhs_number=other)), person.case_opened(at, uuid4())]
    )
    await orgs.catch_up()
    housing, _ = await _key(orgs, "housing")
    found = await api.get("/v1/citizens", params={"nhs_number": other}, headers=housing)
    citizen = found.json()["citizens"][0]["citizen_id"]
    assert (await api.get(f"/v1/citizens/{citizen}/access-log", headers=housing)).status_code == 200
    charity, _ = await _key(orgs, "voluntary")
    refused = await api.get(f"/v1/citizens/{citizen}/access-log", headers=charity)
    assert refused.status_code == 403
    assert refused.json()["error"]["code"] == "relationship_required"


async def test_ops_export_it_all_and_a_replay_keeps_it(
    api: httpx.AsyncClient, orgs: Organisations, database_url: str
) -> None:
    housing, _ = await _key(orgs, "housing")
    found = await api.get("/v1/citizens", params={"nhs_number": NHS_NUMBER}, headers=housing)
    citizen = found.json()["citizens"][0]["citizen_id"]
    await api.get(f"/v1/citizens/{citizen}", headers=housing)
    await rebuild_projection(
        pool=orgs.pool, sources=orgs.sources, schema=orgs.schema, id_secret=ID_SECRET
    )
    out = io.StringIO()
    assert await export_access_log(database_url, out=out, schema=orgs.schema) == 2
    lines = [json.loads(line) for line in out.getvalue().splitlines()]
    assert [line["read_kind"] for line in lines] == ["search", "view"]
    rest = io.StringIO()
    after = lines[0]["position"]
    assert await export_access_log(database_url, after=after, out=rest, schema=orgs.schema) == 1


async def test_a_break_glass_grant_is_an_alert_event_ops_can_export(
    api: httpx.AsyncClient, orgs: Organisations, database_url: str
) -> None:
    """The charity breaks the glass on someone only housing knows: the grant is recorded as
    an `access.break_glass_granted` event, which `caseweave audit alerts` writes out."""
    outsider = PersonAt("housing")
    at = datetime(2026, 5, 4, tzinfo=UTC)
    await orgs.record([outsider.registered(at, details(nhs_number="4010232137"))])
    await orgs.catch_up()
    charity, _ = await _key(orgs, "voluntary")
    found = await api.get("/v1/citizens", params={"nhs_number": "4010232137"}, headers=charity)
    citizen = found.json()["citizens"][0]["citizen_id"]
    emergency = {"reason": "unconscious in the day centre garden"}
    granted = await api.post(f"/v1/citizens/{citizen}/break-glass", json=emergency, headers=charity)
    assert granted.status_code == 201
    out = io.StringIO()
    assert await export_alerts(database_url, out=out, schema=orgs.schema) == 1
    [alert] = [json.loads(line) for line in out.getvalue().splitlines()]
    assert (alert["type"], alert["org"]) == ("access.break_glass_granted", "voluntary")
    assert alert["event_id"] == granted.json()["grant_id"]
    assert alert["data"]["citizen_id"] == citizen
    assert alert["data"]["reason"] == emergency["reason"]
