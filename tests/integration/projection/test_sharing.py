"""Who sees what, tried the way someone would try to get round it, with the default rules.

The story: housing, mental health and a charity work with David; mental health records a
crisis (clinical), a care coordinator, a risk flag and a crisis plan. Each attack below is a
request a partner app could send; each asserts what must not come back.
"""

from collections.abc import AsyncIterator
from datetime import UTC, datetime
from uuid import uuid4

import httpx
import pytest

from events.shared import CaseClosed, FlagRaised
from services.projection.domain.sharing import SharingPolicy
from services.runtime.api_keys import ApiKeyStore
from tests.integration.projection.conftest import Organisations, eventually
from tests.integration.projection.reading import (
    citizen_of,
    everything_of,
    key_of,
    known_to_housing_and_mental_health,
    projection_api,
    story_order,
)
from tests.unit.projection.factories import NHS_NUMBER, PersonAt, details
from tests.unit.projection.stories import three_organisations_story

CLINICAL = {"health.crisis", "health.clinical"}


@pytest.fixture
async def api(orgs: Organisations, database_url: str) -> AsyncIterator[httpx.AsyncClient]:
    """The projection API with the default sharing rules, after the story is consumed."""
    story = three_organisations_story()
    await orgs.record(sorted((e for log in story.values() for e in log), key=story_order))
    await orgs.catch_up()
    async with projection_api(orgs, database_url) as client:
        yield client


async def test_a_housing_key_never_gets_clinical_detail_by_any_route(
    api: httpx.AsyncClient, orgs: Organisations
) -> None:
    housing = await key_of(orgs, "housing")
    citizen = await citizen_of(api, housing)
    view = (await api.get(f"/v1/citizens/{citizen}", headers=housing)).json()
    assert view["access"] == "full"
    assert "in_crisis" not in {f["flag"] for f in view["flags"]}
    assert not {e["category"] for e in view["recent"]} & CLINICAL
    timeline = (await api.get(f"/v1/citizens/{citizen}/timeline", headers=housing)).json()
    assert not {e["category"] for e in timeline["events"]} & CLINICAL
    for category in CLINICAL:  # asking for the category by name does not help
        asked = await api.get(
            f"/v1/citizens/{citizen}/timeline", params={"category": category}, headers=housing
        )
        assert asked.json()["events"] == []
    everything = await everything_of(api, citizen, housing)
    assert "crisis_episode" not in everything
    assert "home_treatment" not in everything  # the crisis setting, clinical detail


async def test_housing_sees_who_coordinates_mental_health_care_and_the_risk_flags(
    api: httpx.AsyncClient, orgs: Organisations
) -> None:
    housing = await key_of(orgs, "housing")
    citizen = await citizen_of(api, housing)
    view = (await api.get(f"/v1/citizens/{citizen}", headers=housing)).json()
    health = next(i for i in view["involvements"] if i["org"] == "mental_health")
    assert health["cases"][0]["key_worker"] is not None
    assert "risk_to_self" in {f["flag"] for f in view["flags"]}
    timeline = (await api.get(f"/v1/citizens/{citizen}/timeline", headers=housing)).json()
    assert "mental_health.care_coordinator_assigned" in {e["type"] for e in timeline["events"]}


async def test_a_clinician_sees_housing_risks_and_everything_of_their_own(
    api: httpx.AsyncClient, orgs: Organisations
) -> None:
    health = await key_of(orgs, "mental_health")
    citizen = await citizen_of(api, health)
    view = (await api.get(f"/v1/citizens/{citizen}", headers=health)).json()
    assert {"tenancy_at_risk", "risk_to_self"} <= {f["flag"] for f in view["flags"]}
    timeline = await api.get(f"/v1/citizens/{citizen}/timeline?limit=1000", headers=health)
    types = {e["type"] for e in timeline.json()["events"]}
    assert {"housing.tenancy_at_risk", "mental_health.crisis_episode_started"} <= types


async def test_hidden_events_leave_no_gap_in_the_timeline_pages(
    api: httpx.AsyncClient, orgs: Organisations
) -> None:
    """Paging counts only what the viewer may see: no short page, no offset jump."""
    housing = await key_of(orgs, "housing")
    citizen = await citizen_of(api, housing)
    whole = await api.get(f"/v1/citizens/{citizen}/timeline?limit=1000", headers=housing)
    events = whole.json()["events"]
    paged = []
    for offset in range(0, len(events), 3):
        page = await api.get(
            f"/v1/citizens/{citizen}/timeline", params={"limit": 3, "offset": offset},
            headers=housing,
        )  # fmt: skip
        assert len(page.json()["events"]) == min(3, len(events) - offset)
        paged += page.json()["events"]
    assert paged == events
    view = (await api.get(f"/v1/citizens/{citizen}", headers=housing)).json()
    assert [e["event_id"] for e in view["recent"]] == [e["event_id"] for e in events][::-1][:10]


async def test_an_organisation_without_a_relationship_sees_only_whom_to_contact(
    orgs: Organisations, database_url: str
) -> None:
    """The charity has no case and no accepted referral: contacts only, nothing else."""
    housing, health = PersonAt("housing"), PersonAt("mental_health")
    h_case, m_case = uuid4(), uuid4()
    at = datetime(2026, 5, 4, 9, 0, tzinfo=UTC)
    await orgs.record(
        [
            housing.registered(at, details(postcode="BS5 6XX")),
            housing.case_opened(at, h_case),
            health.registered(at, details()),
            health.case_opened(at, m_case),
        ]
    )
    await orgs.catch_up()
    async with projection_api(orgs, database_url) as api:
        charity = await key_of(orgs, "voluntary")
        citizen = await citizen_of(api, charity)
        view = (await api.get(f"/v1/citizens/{citizen}", headers=charity)).json()
        assert view["access"] == "contacts"
        assert view["identity"] == {
                k: None
                for k in ("given_name", "family_name", "date_of_birth", "nhs_number", "postcode",
                          "address", "place")
            }  # fmt: skip
        assert view["flags"] == view["referrals"] == view["recent"] == []
        assert {i["org"] for i in view["involvements"]} == {"housing", "mental_health"}
        for involvement in view["involvements"]:
            assert involvement["registration"] is None
            assert [c["reason"] for c in involvement["cases"]] == [None]
            assert involvement["cases"][0]["key_worker"]["name"]
        for path in ("timeline", "fhir"):
            refused = await api.get(f"/v1/citizens/{citizen}/{path}", headers=charity)
            assert refused.status_code == 403
            assert refused.json()["error"]["code"] == "relationship_required"
        unknown = await api.get(f"/v1/citizens/{uuid4()}/timeline", headers=charity)
        assert unknown.status_code == 404


async def test_an_organisation_whose_case_closed_still_sees_its_own_records_only(
    orgs: Organisations, database_url: str
) -> None:
    """Housing closed its case: contacts for everyone else's, but never kept from its own."""
    housing, health = PersonAt("housing"), PersonAt("mental_health")
    h_case, m_case = uuid4(), uuid4()
    at = datetime(2026, 5, 4, 9, 0, tzinfo=UTC)
    await orgs.record(
        [
            housing.registered(at, details(postcode="BS5 6XX")),
            housing.case_opened(at, h_case, reason="rent arrears"),
            housing.event(FlagRaised(case_id=h_case, flag="risk_to_staff"), at),
            housing.event(CaseClosed(case_id=h_case, outcome="rehoused"), at),
            health.registered(at, details(postcode="BS1 1AA")),
            health.case_opened(at, m_case, reason="crisis"),
            health.event(FlagRaised(case_id=m_case, flag="risk_to_self"), at),
        ]
    )  # fmt: skip
    await orgs.catch_up()
    async with projection_api(orgs, database_url) as api:
        key = await key_of(orgs, "housing")
        citizen = await citizen_of(api, key)
        view = (await api.get(f"/v1/citizens/{citizen}", headers=key)).json()
    assert view["access"] == "contacts"
    assert view["identity"]["postcode"]["value"] == "BS5 6XX"  # its own, not health's
    own = next(i for i in view["involvements"] if i["org"] == "housing")
    assert own["registration"] is not None
    assert [(c["reason"], c["status"]) for c in own["cases"]] == [("rent arrears", "closed")]
    assert [f["flag"] for f in view["flags"]] == ["risk_to_staff"]
    health_involvement = next(i for i in view["involvements"] if i["org"] == "mental_health")
    assert health_involvement["registration"] is None
    assert [c["reason"] for c in health_involvement["cases"]] == [None]  # whom to contact


async def test_a_revoked_key_reads_nothing(api: httpx.AsyncClient, orgs: Organisations) -> None:
    """Revoked while the service remembers it as verified: PostgreSQL tells the service at
    the revocation's commit, and from then on every route refuses it."""
    store = ApiKeyStore(orgs.pool)
    key = await store.issue(org="housing", role="frontline")
    headers = {"Authorization": f"Bearer {key}"}
    citizen = await citizen_of(api, headers)
    caller = await store.authenticate(key)
    assert caller is not None
    assert await store.revoke(caller.key_id)

    async def refused() -> bool:
        return (await api.get(f"/v1/citizens/{citizen}", headers=headers)).status_code == 401

    await eventually(refused, within=0.5, what="the revocation to be heard")
    for path in (f"/v1/citizens/{citizen}", f"/v1/citizens/{citizen}/timeline"):
        assert (await api.get(path, headers=headers)).status_code == 401


async def test_break_glass_opens_the_record_for_a_while_and_tells_the_ig_lead(
    orgs: Organisations, database_url: str
) -> None:
    """A charity worker in an emergency: states why, reads the full record, is logged, and
    their IG lead and housing's (whose record it is) see the alert; without the glass
    broken, and once it expires: contacts."""
    housing = PersonAt("housing")
    at = datetime(2026, 5, 4, 9, 0, tzinfo=UTC)
    await orgs.record([housing.registered(at, details()), housing.case_opened(at, uuid4())])
    await orgs.catch_up()
    async with projection_api(orgs, database_url, break_glass_minutes=1) as api:
        charity = await key_of(orgs, "voluntary")
        citizen = await citizen_of(api, charity)
        view = f"/v1/citizens/{citizen}"
        assert (await api.get(view, headers=charity)).json()["access"] == "contacts"

        too_short = await api.post(f"{view}/break-glass", json={"reason": "x"}, headers=charity)
        assert too_short.status_code == 422
        unknown = await api.post(
                f"/v1/citizens/{uuid4()}/break-glass",
                json={"reason": "collapsed at the day centre"}, headers=charity,
            )  # fmt: skip
        assert unknown.status_code == 404
        granted = await api.post(
                f"{view}/break-glass", json={"reason": "collapsed at the day centre"},
                headers=charity,
            )  # fmt: skip
        assert granted.status_code == 201
        housing_key = await key_of(orgs, "housing")  # works with him: no glass to break
        needless = await api.post(
                f"{view}/break-glass", json={"reason": "just checking on him"},
                headers=housing_key,
            )  # fmt: skip
        assert needless.status_code == 409
        assert needless.json()["error"]["code"] == "relationship_exists"

        assert (await api.get(view, headers=charity)).json()["access"] == "full"
        assert (await api.get(f"{view}/timeline", headers=charity)).status_code == 200
        other_charity_key = await key_of(orgs, "voluntary")  # the grant is the key's, not the org's
        assert (await api.get(view, headers=other_charity_key)).json()["access"] == "contacts"

        log = (await api.get(f"{view}/access-log", headers=housing_key)).json()["accesses"]
        by_charity = [a for a in log if a["viewer_org"] == "voluntary"]
        assert [(a["read_kind"], a["break_glass"]) for a in by_charity] == [  # newest first
            ("view", False),  # the other key: contacts only
            ("timeline", True),
            ("view", True),
            ("view", False),  # before the glass was broken
            ("search", False),
        ]

        lead = await key_of(orgs, "voluntary", "ig_lead")
        alerts = (await api.get("/v1/ig/break-glass", headers=lead)).json()
        assert [g["reason"] for g in alerts["grants"]] == ["collapsed at the day centre"]
        assert (await api.get("/v1/ig/break-glass", headers=charity)).status_code == 403
        housing_lead = await key_of(orgs, "housing", "ig_lead")  # housing's record was opened
        alerts = (await api.get("/v1/ig/break-glass", headers=housing_lead)).json()
        assert [g["viewer_org"] for g in alerts["grants"]] == ["voluntary"]
        health_lead = await key_of(orgs, "mental_health", "ig_lead")  # holds nothing of them
        assert (await api.get("/v1/ig/break-glass", headers=health_lead)).json()["grants"] == []

        await orgs.pool.execute(  # a minute later
            f"UPDATE {orgs.schema}_audit.break_glass SET expires_at = now()"  # noqa: S608
        )
        assert (await api.get(view, headers=charity)).json()["access"] == "contacts"
        expired = await api.get(f"{view}/timeline", headers=charity)
        assert expired.status_code == 403


async def test_a_search_never_turns_up_a_person_the_rules_hide(
    orgs: Organisations, database_url: str
) -> None:
    """Rules where the charity may not see who housing's people are: a search by NHS number
    or by name finds nothing (not even that someone matched), and nothing is logged."""
    private = SharingPolicy.model_validate(
        {"grant": [{"viewers": ["mental_health"], "from": ["housing"], "categories": ["*"]}]}
    )
    housing = PersonAt("housing")
    at = datetime(2026, 5, 4, 9, 0, tzinfo=UTC)
    await orgs.record([housing.registered(at, details()), housing.case_opened(at, uuid4())])
    await orgs.catch_up()
    async with projection_api(orgs, database_url, sharing=private) as api:
        charity = await key_of(orgs, "voluntary")
        for params in (
            {"nhs_number": NHS_NUMBER},
            {"family_name": "Smith", "date_of_birth": "1979-03-12"},
        ):
            found = await api.get("/v1/citizens", params=params, headers=charity)
            assert found.json() == {"citizens": []}
        health = await key_of(orgs, "mental_health")
        found = await api.get("/v1/citizens", params={"nhs_number": NHS_NUMBER}, headers=health)
        (hit,) = found.json()["citizens"]  # known; who they are is for those working with them
        assert (hit["nhs_number"], hit["family_name"]) == (NHS_NUMBER, None)
    logged = await orgs.pool.fetch(
        f"SELECT viewer_org FROM {orgs.schema}_audit.access_log"  # noqa: S608
    )
    assert [row["viewer_org"] for row in logged] == ["mental_health"]


STRICT = SharingPolicy.model_validate(
    {  # the charity may see housing's people and cases, nothing of mental health
        "grant": [
            {"viewers": ["voluntary"], "from": ["housing"], "categories": ["*"]},
            {"viewers": ["housing"], "from": ["voluntary", "mental_health"], "categories": ["*"]},
        ]
    }
)


async def _strict_api(
    orgs: Organisations, database_url: str
) -> AsyncIterator[tuple[httpx.AsyncClient, str, str]]:
    """Housing and mental health know David; the charity knows a Dave (no NHS number)."""
    at = datetime(2026, 5, 4, 9, 0, tzinfo=UTC)
    housing, health, charity = PersonAt("housing"), PersonAt("mental_health"), PersonAt("voluntary")
    await orgs.record(
        [
            housing.registered(at, details()), housing.case_opened(at, uuid4()),
            health.registered(at, details()), health.case_opened(at, uuid4()),
            charity.registered(at, details(nhs_number=None, given_name="Dave")),
            charity.case_opened(at, uuid4()),
        ]
    )  # fmt: skip
    await orgs.catch_up()
    async with projection_api(orgs, database_url, sharing=STRICT) as api:
        yield api, str(housing.person_id), str(health.person_id)


async def test_strict_rules_hold_for_stewards_contacts_and_the_access_log(
    orgs: Organisations, database_url: str
) -> None:
    async for api, housing_id, health_id in _strict_api(orgs, database_url):
        steward = await key_of(orgs, "voluntary", "data_steward")
        queue = (await api.get("/v1/identity/review", headers=steward)).json()
        sides = [side for pair in queue["pairs"] for side in (pair["a"], pair["b"])]
        assert {(pair["a"]["org"], pair["b"]["org"]) for pair in queue["pairs"]} == {
            ("housing", "voluntary"),
            ("mental_health", "voluntary"),
        }  # never a pair of two other organisations
        hidden = [side for side in sides if side["org"] == "mental_health"]
        assert hidden
        assert all(side["family_name"] is None and side["nhs_number"] is None for side in hidden)
        not_theirs = await api.post(
            "/v1/identity/links",
            json={"a": {"org": "housing", "person_id": housing_id},
                  "b": {"org": "mental_health", "person_id": health_id}, "reason": "mine now"},
            headers=steward,
        )  # fmt: skip
        assert not_theirs.status_code == 403
        assert not_theirs.json()["error"]["code"] == "not_your_records"

        ops = await key_of(orgs, "housing", "ops")
        citizen = (await api.get(
            "/v1/citizens", params={"nhs_number": NHS_NUMBER}, headers=await key_of(orgs, "housing")
        )).json()["citizens"][0]["citizen_id"]  # fmt: skip
        unknown = uuid4()
        for someone in (citizen, unknown):  # the same answer, whether the person exists or not
            log = await api.get(f"/v1/citizens/{someone}/access-log", headers=ops)
            assert log.status_code == 403
            assert log.json()["error"]["code"] == "role_not_allowed"
            for reason in ("an ops engineer's curiosity", "short"):  # and whatever the body
                glass = await api.post(
                    f"/v1/citizens/{someone}/break-glass", json={"reason": reason}, headers=ops
                )
                assert glass.status_code == 403
                assert glass.json()["error"]["code"] == "role_not_allowed"
        assert "ops" in glass.json()["error"]["message"]
        assert (await api.get("/v1/ig/break-glass", headers=ops)).json()["error"][
            "code"
        ] == "role_not_allowed"


async def test_strict_rules_hide_a_service_the_person_uses_from_a_contacts_view(
    orgs: Organisations, database_url: str
) -> None:
    """Someone only mental health and housing know: the charity (no relationship) sees
    housing's contact, and nothing says mental health is involved."""
    await known_to_housing_and_mental_health(orgs)
    async with projection_api(orgs, database_url, sharing=STRICT) as api:
        charity = await key_of(orgs, "voluntary")
        citizen = await citizen_of(api, charity)
        view = (await api.get(f"/v1/citizens/{citizen}", headers=charity)).json()
        assert view["access"] == "contacts"
        assert [i["org"] for i in view["involvements"]] == ["housing"]
        assert view["involvements"][0]["cases"][0]["last_contact_at"] is None
