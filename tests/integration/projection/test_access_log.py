"""Every read of a citizen's data is in the access log before it is answered; the person's
key workers can see who looked; ops export it; a replay keeps it."""

import asyncio
import io
import json
from collections.abc import AsyncIterator, Sequence
from datetime import UTC, datetime
from uuid import UUID, uuid4

import httpx
import pytest

from events.envelope import Envelope
from services.cli.audit import export_access_log, export_alerts
from services.projection.adapters.access_log import Access, AccessLog, audit_schema_of
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
    assert await export_access_log(database_url, after=after, out=rest, schema=orgs.schema) == 2
    kinds = [json.loads(line)["read_kind"] for line in rest.getvalue().splitlines()]
    assert kinds == ["view", "access_log_export"]  # the first export was a read too


async def test_exporting_the_access_log_is_in_the_log_of_each_person_it_names(
    api: httpx.AsyncClient, orgs: Organisations, database_url: str
) -> None:
    """Ops export the log: each person it names has the export in their access log (who ran
    it, when, why), which the next export carries, and which does not log again."""
    housing, _ = await _key(orgs, "housing")
    found = await api.get("/v1/citizens", params={"nhs_number": NHS_NUMBER}, headers=housing)
    citizen = found.json()["citizens"][0]["citizen_id"]
    first = io.StringIO()
    await export_access_log(database_url, out=first, schema=orgs.schema, requested_by="ops.jo")
    log = (await api.get(f"/v1/citizens/{citizen}/access-log", headers=housing)).json()
    export = next(a for a in log["accesses"] if a["read_kind"] == "access_log_export")
    assert (export["viewer_org"], export["viewer_role"], export["key_id"], export["purpose"]) == (
        "caseweave", "ig_lead", "cli:ops.jo", "audit",
    )  # fmt: skip
    after = json.loads(first.getvalue().splitlines()[-1])["position"]
    counts = []
    for _ in range(3):
        out = io.StringIO()
        counts.append(
            await export_access_log(database_url, after=after, out=out, schema=orgs.schema)
        )
        after = json.loads(out.getvalue().splitlines()[-1])["position"] if counts[-1] else after
    assert counts == [2, 1, 0]  # export, access-log read; then the second export's; then none


async def test_a_break_glass_grant_is_an_alert_event_ops_can_export(
    api: httpx.AsyncClient, orgs: Organisations, database_url: str
) -> None:
    """The charity breaks the glass on someone only housing knows: the grant is recorded as
    an `access.break_glass_granted` event, which `caseweave audit alerts` writes out."""
    citizen, charity = await _known_only_to_housing(api, orgs)
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


async def test_reading_break_glass_alerts_is_in_the_persons_access_log(
    api: httpx.AsyncClient, orgs: Organisations, database_url: str
) -> None:
    """An IG lead reviews the alerts (by API), and ops export them: both read what was written
    about the person, and both are in the person's access log before the answer."""
    citizen, charity = await _known_only_to_housing(api, orgs)
    emergency = {"reason": "unconscious in the day centre garden"}
    await api.post(f"/v1/citizens/{citizen}/break-glass", json=emergency, headers=charity)
    store = ApiKeyStore(orgs.pool)
    lead = await store.issue(org="housing", role="ig_lead")
    lead_caller = await store.authenticate(lead)
    assert lead_caller is not None
    alerts = await api.get("/v1/ig/break-glass", headers={"Authorization": f"Bearer {lead}"})
    assert len(alerts.json()["grants"]) == 1
    await export_alerts(database_url, out=io.StringIO(), schema=orgs.schema, requested_by="ig.al")

    out = io.StringIO()
    await export_access_log(database_url, out=out, schema=orgs.schema)
    reads = [json.loads(line) for line in out.getvalue().splitlines()]
    reviews = [
        (r["citizen_id"], r["key_id"], r["purpose"], r["categories"])
        for r in reads
        if r["read_kind"] == "break_glass_alerts"
    ]
    assert reviews == [
        (citizen, lead_caller.key_id, "audit", ["audit.break_glass"]),
        (citizen, "cli:ig.al", "audit", ["audit.break_glass"]),
    ]


async def test_a_correlation_id_naming_someone_is_replaced_and_never_stored(
    api: httpx.AsyncClient, orgs: Organisations, database_url: str
) -> None:
    """A partner app names its request after the person; the access log, the break-glass
    alert and the answer carry a fresh id instead, which still ties them together."""
    citizen, charity = await _known_only_to_housing(api, orgs)
    named = {**charity, "X-Correlation-ID": "David Smith 943 476 5919"}
    emergency = {"reason": "unconscious in the day centre garden"}
    granted = await api.post(f"/v1/citizens/{citizen}/break-glass", json=emergency, headers=named)
    read = await api.get(f"/v1/citizens/{citizen}", headers=named)
    assert (granted.status_code, read.status_code) == (201, 200)
    fresh = read.headers["X-Correlation-ID"]
    assert "Smith" not in fresh
    assert granted.json()["correlation_id"] == granted.headers["X-Correlation-ID"] != fresh
    out = io.StringIO()
    await export_access_log(database_url, out=out, schema=orgs.schema)
    assert fresh in {json.loads(line)["correlation_id"] for line in out.getvalue().splitlines()}
    stored = await orgs.pool.fetchval(
        f"SELECT (SELECT string_agg(a::text, ' ') FROM {orgs.schema}_audit.access_log a)"  # noqa: S608
        f" || (SELECT string_agg(b::text, ' ') FROM {orgs.schema}_audit.break_glass b)"
    )
    assert "Smith" not in stored


async def _known_only_to_housing(
    api: httpx.AsyncClient, orgs: Organisations
) -> tuple[str, dict[str, str]]:
    """Record someone only housing knows; return their citizen id, found by a charity key,
    and that key's headers (the charity has no relationship: break-glass is its way in)."""
    outsider = PersonAt("housing")
    at = datetime(2026, 5, 4, tzinfo=UTC)
    await orgs.record([outsider.registered(at, details(nhs_number="4010232137"))])
    await orgs.catch_up()
    charity, _ = await _key(orgs, "voluntary")
    found = await api.get("/v1/citizens", params={"nhs_number": "4010232137"}, headers=charity)
    citizen: str = found.json()["citizens"][0]["citizen_id"]
    return citizen, charity


class _CountingLog(AccessLog):
    """The real access log, counting the statements it writes with."""

    statements = 0

    async def _insert(self, accesses: Sequence[Access]) -> None:
        self.statements += 1
        await super()._insert(accesses)


def _read(citizen: UUID, key_id: str = "k1") -> Access:
    return Access(
        read_at=datetime.now(UTC), citizen_id=citizen, viewer_org="housing",
        viewer_role="frontline", key_id=key_id, read_kind="view", categories=[],
        purpose="direct_care", break_glass=False, correlation_id="c",
    )  # fmt: skip


async def test_reads_at_the_same_moment_share_one_commit_and_each_waits_for_it(
    orgs: Organisations,
) -> None:
    """Forty reads at once: every row is written before its read returns, in far fewer
    statements than reads; a write that fails fails every read of its group."""
    log = _CountingLog(orgs.pool, schema=audit_schema_of(orgs.schema))
    citizens = [uuid4() for _ in range(40)]

    async def read(citizen: UUID) -> int:
        await log.record([_read(citizen)])
        written: int = await orgs.pool.fetchval(
            f"SELECT count(*) FROM {log.schema}.access_log WHERE citizen_id = $1",  # noqa: S608
            citizen,
        )
        return written

    assert await asyncio.gather(*(read(c) for c in citizens)) == [1] * 40
    assert 1 <= log.statements < 10

    # PostgreSQL refuses a NUL byte; the good read grouped with it is not answered either
    refused = [log.record([_read(uuid4(), key_id="bad\x00")]), log.record([_read(uuid4())])]
    outcomes = await asyncio.gather(*refused, return_exceptions=True)
    assert all(isinstance(outcome, Exception) for outcome in outcomes)
    await log.record([_read(citizens[0])])  # the next group is written again
