"""The person's say over sharing, tried the way someone would try to get round it.

The story: housing, mental health and a charity work with David (default sharing rules).
David tells an organisation he does not want something shared, or changes his mind; each
test records that decision as the organisation's event, lets the projection read it, and
asserts what the next read must no longer (or must again) return.
"""

from collections.abc import AsyncIterator
from datetime import UTC, date, datetime
from typing import Any
from uuid import UUID, uuid4

import httpx
import pytest

from events.consent import PURPOSES, ConsentGiven, ConsentWithdrawn
from events.envelope import Envelope, OrgId
from events.shared import CaseClosed, ReferralAccepted, ReferralMade, ReferralReceived
from services.projection.adapters.sharing_config import load_sharing_policy
from services.projection.domain.sharing import ConsentRules
from tests.integration.projection.conftest import Organisations
from tests.integration.projection.reading import (
    citizen_of,
    everything_of,
    key_of,
    known_to_housing_and_mental_health,
    projection_api,
    story_order,
)
from tests.unit.projection.factories import NHS_NUMBER, PersonAt, details, minutes
from tests.unit.projection.stories import nhs_numbers, three_organisations_story

COORDINATOR = "Ada Lovelace"  # mental health's care coordinator in the story


class Story:
    """The three organisations' records of David, and a way to record his decisions."""

    def __init__(self, orgs: Organisations) -> None:
        self.orgs = orgs
        self.logs = three_organisations_story()
        self.people = {org: PersonAt(org, UUID(log[0].subject)) for org, log in self.logs.items()}

    async def record(self) -> None:
        """Record the story and let the projection read it."""
        events = (e for log in self.logs.values() for e in log)
        await self.orgs.record(sorted(events, key=story_order))
        await self.orgs.catch_up()

    async def decides(
        self, recorder: OrgId, decision: str, at: datetime, **covering: Any
    ) -> Envelope:
        """Record David's decision at `recorder` (consent given or withdrawn), and project it."""
        kind = ConsentGiven if decision == "given" else ConsentWithdrawn
        person = self.people[recorder]
        envelope = person.event(kind(person_id=person.person_id, **covering), at)
        await self.orgs.record([envelope])
        await self.orgs.catch_up()
        return envelope


@pytest.fixture
async def story(orgs: Organisations) -> Story:
    """David's story, recorded and projected."""
    told = Story(orgs)
    await told.record()
    return told


@pytest.fixture
async def api(orgs: Organisations, database_url: str) -> AsyncIterator[httpx.AsyncClient]:
    """The projection API with the default sharing rules."""
    async with projection_api(orgs, database_url) as client:
        yield client


def _orgs_in(view: dict[str, Any]) -> set[str]:
    return {i["org"] for i in view["involvements"]}


async def test_withdrawn_consent_hides_mental_health_from_housing_on_the_next_read(
    story: Story, api: httpx.AsyncClient, orgs: Organisations
) -> None:
    housing = await key_of(orgs, "housing")
    citizen = await citizen_of(api, housing)
    assert COORDINATOR in await everything_of(api, citizen, housing)  # shared before

    await story.decides(
        "mental_health", "withdrawn", minutes(40),
        sources=["mental_health"], recipients=["housing"], purposes=["direct_care"],
    )  # fmt: skip

    view = (await api.get(f"/v1/citizens/{citizen}", headers=housing)).json()
    assert _orgs_in(view) == {"housing", "voluntary"}
    assert "risk_to_self" not in {f["flag"] for f in view["flags"]}
    assert view["identity"]["given_name"]["value"] != "Dave"  # mental health's value
    assert all(c["recorded_by"] != "mental_health" for c in view["consents"])
    everything = await everything_of(api, citizen, housing)
    assert "mental_health" not in everything
    assert COORDINATOR not in everything
    assert '"Dave"' not in everything
    for category in ("health.care_team", "person.consent"):  # asking by name does not help
        asked = await api.get(
            f"/v1/citizens/{citizen}/timeline",
            params={"category": category, "org": "mental_health"}, headers=housing,
        )  # fmt: skip
        assert asked.json()["events"] == []
    found = await api.get("/v1/citizens", params={"nhs_number": NHS_NUMBER}, headers=housing)
    assert found.json()["citizens"][0]["given_name"] != "Dave"

    charity = await key_of(orgs, "voluntary")  # the decision named housing only
    assert COORDINATOR in await everything_of(api, citizen, charity)


async def test_a_withdrawal_covers_the_purposes_it_names_and_no_others(
    story: Story, api: httpx.AsyncClient, orgs: Organisations
) -> None:
    await story.decides(
        "mental_health", "withdrawn", minutes(40),
        sources=["mental_health"], recipients=["housing"], purposes=["direct_care"],
    )  # fmt: skip
    housing = await key_of(orgs, "housing")
    citizen = await citizen_of(api, housing)
    safeguarding = {**housing, "X-Purpose-Of-Use": "safeguarding"}
    view = (await api.get(f"/v1/citizens/{citizen}", headers=safeguarding)).json()
    assert "mental_health" in _orgs_in(view)
    direct_care = (await api.get(f"/v1/citizens/{citizen}", headers=housing)).json()
    assert "mental_health" not in _orgs_in(direct_care)


async def test_the_latest_decision_stands_whatever_order_decisions_arrive_in(
    story: Story, api: httpx.AsyncClient, orgs: Organisations
) -> None:
    housing = await key_of(orgs, "housing")
    citizen = await citizen_of(api, housing)
    covering = {
        "sources": ["mental_health"], "recipients": ["housing"], "purposes": ["direct_care"]
    }  # fmt: skip

    async def health_shown() -> bool:
        view = (await api.get(f"/v1/citizens/{citizen}", headers=housing)).json()
        return "mental_health" in _orgs_in(view)

    await story.decides("mental_health", "withdrawn", minutes(40), **covering)
    assert not await health_shown()
    consent = {"recipients": ["housing"], "purposes": ["direct_care"]}
    await story.decides("mental_health", "given", minutes(50), **consent)
    assert await health_shown()  # he changed his mind
    await story.decides("mental_health", "withdrawn", minutes(45), **covering)
    assert await health_shown()  # an older withdrawal, recorded late, does not undo it
    await story.decides("mental_health", "withdrawn", minutes(60), **covering)
    assert not await health_shown()


async def test_an_objection_recorded_anywhere_covers_every_organisations_records(
    story: Story, api: httpx.AsyncClient, orgs: Organisations
) -> None:
    """David tells housing he does not want the charity to see anything from anyone: the
    charity keeps its own records, referral included, and sees nobody else's."""
    await story.decides(
        "housing", "withdrawn", minutes(40),
        recipients=["voluntary"], purposes=["direct_care", "care_coordination"],
    )  # fmt: skip
    charity = await key_of(orgs, "voluntary")
    citizen = await citizen_of(api, charity)
    view = (await api.get(f"/v1/citizens/{citizen}", headers=charity)).json()
    assert view["access"] == "full"  # the charity still works with him
    assert _orgs_in(view) == {"voluntary"}
    assert [r["to_org"] for r in view["referrals"]] == ["voluntary"]  # its own referral
    assert view["flags"] == []
    assert {e["org"] for e in view["recent"]} == {"voluntary"}
    timeline = await api.get(f"/v1/citizens/{citizen}/timeline?limit=1000", headers=charity)
    assert {e["org"] for e in timeline.json()["events"]} == {"voluntary"}
    everything = await everything_of(api, citizen, charity)
    assert COORDINATOR not in everything
    assert "tenancy_at_risk" not in everything
    assert "mental_health" not in everything
    fhir = (await api.get(f"/v1/citizens/{citizen}/fhir", headers=charity)).json()
    organisations = {
        entry["resource"]["name"]
        for entry in fhir["entry"]
        if entry["resource"]["resourceType"] == "Organization"
    }
    assert "Mental health service" not in organisations

    housing = await key_of(orgs, "housing")  # housing still sees the charity's records
    view = (await api.get(f"/v1/citizens/{citizen}", headers=housing)).json()
    assert "voluntary" in _orgs_in(view)


async def test_where_the_place_needs_consent_nothing_is_shown_without_it(
    story: Story, orgs: Organisations, database_url: str
) -> None:
    needs_consent = load_sharing_policy(None).model_copy(
        update={"consent": ConsentRules(required_for=("care_coordination",))}
    )
    async with projection_api(orgs, database_url, sharing=needs_consent) as api:
        housing = await key_of(orgs, "housing")
        coordinating = {**housing, "X-Purpose-Of-Use": "care_coordination"}
        citizen = await citizen_of(api, housing)

        async def shown(headers: dict[str, str]) -> set[str]:
            return _orgs_in((await api.get(f"/v1/citizens/{citizen}", headers=headers)).json())

        assert await shown(housing) == {"housing", "mental_health", "voluntary"}  # direct care
        assert await shown(coordinating) == {"housing"}
        consent = {"recipients": ["housing"], "purposes": ["care_coordination"]}
        await story.decides("mental_health", "given", minutes(40), **consent)
        assert await shown(coordinating) == {"housing", "mental_health"}
        await story.decides(
            "voluntary", "withdrawn", minutes(41), sources=["mental_health"], **consent
        )
        assert await shown(coordinating) == {"housing"}  # withdrawn at the charity: it stands


async def test_a_withdrawal_hides_an_organisation_from_a_contacts_view_and_a_search(
    orgs: Organisations, database_url: str
) -> None:
    """The charity has no relationship with Sam: it may see who to contact, but Sam told
    mental health not to tell the charity; and told housing to share nothing with it."""
    housing, health = await known_to_housing_and_mental_health(orgs)
    async with projection_api(orgs, database_url) as api:
        charity = await key_of(orgs, "voluntary")
        citizen = await citizen_of(api, charity)
        view = (await api.get(f"/v1/citizens/{citizen}", headers=charity)).json()
        assert view["access"] == "contacts"
        assert _orgs_in(view) == {"housing", "mental_health"}

        objection = ConsentWithdrawn(
            person_id=health.person_id, recipients=("voluntary",), purposes=("direct_care",),
            sources=("mental_health",),
        )  # fmt: skip
        await orgs.record([health.event(objection, minutes(1))])
        await orgs.catch_up()
        view = (await api.get(f"/v1/citizens/{citizen}", headers=charity)).json()
        assert _orgs_in(view) == {"housing"}

        everything = ConsentWithdrawn(
            person_id=housing.person_id, recipients=("voluntary",), purposes=("direct_care",)
        )
        await orgs.record([housing.event(everything, minutes(2))])
        await orgs.catch_up()
        found = await api.get("/v1/citizens", params={"nhs_number": NHS_NUMBER}, headers=charity)
        assert found.json()["citizens"] == []
        hidden = await api.get(f"/v1/citizens/{citizen}", headers=charity)
        unknown = await api.get(f"/v1/citizens/{uuid4()}", headers=charity)
        assert hidden.status_code == unknown.status_code == 404
        assert hidden.json()["error"]["message"] == unknown.json()["error"]["message"]
        emergency = {"reason": "collapsed at the day centre, unconscious"}
        glass = await api.post(
            f"/v1/citizens/{citizen}/break-glass", json=emergency, headers=charity
        )
        assert glass.status_code == 404  # the glass does not open what the person withheld


async def test_a_search_finds_only_through_registrations_the_viewer_may_see(
    orgs: Organisations, database_url: str
) -> None:
    """Housing knows Sam Smith; mental health registered Sam since as Sam Okafor (same NHS
    number), then Sam withdrew mental health's records from housing. A search by the name
    housing holds finds Sam; a search by the name only mental health holds finds nobody."""
    housing, health = PersonAt("housing"), PersonAt("mental_health")
    await orgs.record(
        [
            housing.registered(minutes(0), details(given_name="Sam")),
            housing.case_opened(minutes(0), uuid4()),
            health.registered(minutes(5), details(given_name="Sam", family_name="Okafor")),
            health.event(
                ConsentWithdrawn(
                    person_id=health.person_id, recipients=("housing",),
                    purposes=("direct_care",), sources=("mental_health",),
                ),
                minutes(6),
            ),
        ]
    )  # fmt: skip
    await orgs.catch_up()
    async with projection_api(orgs, database_url) as api:
        key = await key_of(orgs, "housing")
        born = details().date_of_birth.isoformat()

        async def search(family_name: str) -> list[dict[str, Any]]:
            params = {"family_name": family_name, "date_of_birth": born, "given_name": "Sam"}
            found: list[dict[str, Any]] = (
                await api.get("/v1/citizens", params=params, headers=key)
            ).json()["citizens"]
            return found

        [sam] = await search("Smith")
        assert sam["family_name"] == "Smith"  # the value housing may see
        assert await search("Okafor") == []
        health_key = await key_of(orgs, "mental_health")  # mental health sees its own value
        found = await api.get("/v1/citizens", params={"nhs_number": NHS_NUMBER}, headers=health_key)
        assert found.json()["citizens"][0]["family_name"] == "Okafor"


async def test_a_data_steward_is_not_shown_a_record_the_person_withheld_from_them(
    orgs: Organisations, database_url: str
) -> None:
    """Housing's steward reviews whether its David Smith is mental health's Dave Smith, until
    Dave tells mental health not to share its records with housing: then the pair is not in
    housing's queue at all (its evidence would tell Dave's details), nor counted."""
    at = datetime(2026, 5, 4, 9, 0, tzinfo=UTC)
    housing, health = PersonAt("housing"), PersonAt("mental_health")
    await orgs.record(
        [
            housing.registered(at, details(nhs_number=None)),
            health.registered(at, details(nhs_number=None, given_name="Dave")),
        ]
    )
    await orgs.catch_up()
    async with projection_api(orgs, database_url) as api:
        steward = await key_of(orgs, "housing", "data_steward")
        queue = (await api.get("/v1/identity/review", headers=steward)).json()
        [pair] = queue["pairs"]
        sides = {side["org"]: side for side in (pair["a"], pair["b"])}
        assert sides["housing"]["given_name"] == "David"  # its own; of theirs, the evidence
        assert (sides["mental_health"]["given_name"], sides["mental_health"]["details_shown"]) == (
            None,
            False,
        )
        withdrawal = ConsentWithdrawn(
            person_id=health.person_id, recipients=("housing",), purposes=("administration",),
            sources=("mental_health",),
        )  # fmt: skip
        await orgs.record([health.event(withdrawal, at)])
        await orgs.catch_up()
        queue = (await api.get("/v1/identity/review", headers=steward)).json()
        assert (queue["total"], queue["pairs"]) == (0, [])
        health_steward = await key_of(orgs, "mental_health", "data_steward")
        theirs = (await api.get("/v1/identity/review", headers=health_steward)).json()
        assert theirs["total"] == 1  # mental health still reviews it


async def test_a_key_reads_only_for_the_purposes_of_its_role(
    story: Story, api: httpx.AsyncClient, orgs: Organisations
) -> None:
    """A frontline worker cannot claim an auditor's or administrator's purpose to get round
    a withdrawal that names only direct care; each role's usual purpose is its default."""
    await story.decides(
        "mental_health", "withdrawn", minutes(40),
        sources=["mental_health"], recipients=["housing"],
        purposes=["direct_care", "care_coordination", "safeguarding"],
    )  # fmt: skip
    housing = await key_of(orgs, "housing")
    citizen = await citizen_of(api, housing)
    for purpose in ("audit", "administration"):
        claimed = await api.get(
            f"/v1/citizens/{citizen}", headers={**housing, "X-Purpose-Of-Use": purpose}
        )
        assert claimed.status_code == 403
        assert claimed.json()["error"]["code"] == "purpose_not_allowed"
        assert claimed.json()["error"]["fields"][0]["field"] == "header.X-Purpose-Of-Use"
    lead = await key_of(orgs, "housing", "ig_lead")
    await api.get(f"/v1/citizens/{citizen}/access-log", headers=lead)
    log = (await api.get(f"/v1/citizens/{citizen}/access-log", headers=lead)).json()
    assert log["accesses"][0]["purpose"] == "audit"


async def test_the_access_log_does_not_name_an_organisation_the_person_withheld(
    story: Story, api: httpx.AsyncClient, orgs: Organisations
) -> None:
    health = await key_of(orgs, "mental_health")
    citizen = await citizen_of(api, health)
    await api.get(f"/v1/citizens/{citizen}", headers=health)
    await story.decides(
        "housing", "withdrawn", minutes(40),
        sources=["mental_health"], recipients=["housing"], purposes=["direct_care"],
    )  # fmt: skip
    housing = await key_of(orgs, "housing")
    assert await citizen_of(api, housing) == citizen  # a search: a read of housing's own
    log = (await api.get(f"/v1/citizens/{citizen}/access-log", headers=housing)).json()
    assert {a["viewer_org"] for a in log["accesses"]} == {"housing"}
    view = (await api.get(f"/v1/citizens/{citizen}", headers=housing)).json()
    assert [c["recorded_by"] for c in view["consents"]] == ["housing"]  # what it recorded
    assert "mental_health" not in _orgs_in(view)


async def test_a_search_is_not_crowded_out_by_people_withheld_from_the_caller(
    orgs: Organisations, database_url: str
) -> None:
    """Housing looks for its own Samantha Smith; 55 better-matching Sam Smiths are mental
    health's, each withheld from housing: she is still found, and nothing else is."""
    born = date(1990, 1, 1)
    numbers = nhs_numbers(410_000_000)
    events = []
    for _ in range(55):
        sam = PersonAt("mental_health")
        sams = details(nhs_number=next(numbers), given_name="Sam", date_of_birth=born)
        not_to_housing = ConsentWithdrawn(
            person_id=sam.person_id, recipients=("housing",), purposes=("direct_care",)
        )
        events += [sam.registered(minutes(0), sams), sam.event(not_to_housing, minutes(1))]
    samantha = PersonAt("housing")
    hers = details(nhs_number=next(numbers), given_name="Samantha", date_of_birth=born)
    events.append(samantha.registered(minutes(2), hers))
    await orgs.record(events)
    await orgs.catch_up()
    async with projection_api(orgs, database_url) as api:
        housing = await key_of(orgs, "housing")
        params = {"family_name": "Smith", "date_of_birth": born.isoformat(), "given_name": "Sam"}
        found = await api.get("/v1/citizens", params=params, headers=housing)
        assert [hit["given_name"] for hit in found.json()["citizens"]] == ["Samantha"]


async def test_a_break_glass_alert_does_not_name_an_organisation_the_person_withheld(
    orgs: Organisations, database_url: str
) -> None:
    """The charity breaks the glass on someone housing and mental health know; housing's IG
    lead is alerted, until the person tells housing the charity must not be named to it."""
    housing, _ = await known_to_housing_and_mental_health(orgs)
    async with projection_api(orgs, database_url) as api:
        charity = await key_of(orgs, "voluntary")
        citizen = await citizen_of(api, charity)
        emergency = {"reason": "found collapsed outside the day centre"}
        granted = await api.post(
            f"/v1/citizens/{citizen}/break-glass", json=emergency, headers=charity
        )
        assert granted.status_code == 201
        lead = await key_of(orgs, "housing", "ig_lead")

        async def alerted() -> list[str]:
            alerts = (await api.get("/v1/ig/break-glass", headers=lead)).json()
            return [g["viewer_org"] for g in alerts["grants"]]

        assert await alerted() == ["voluntary"]
        objection = ConsentWithdrawn(
            person_id=housing.person_id, recipients=("housing",), purposes=("audit",),
            sources=("voluntary",),
        )  # fmt: skip
        await orgs.record([housing.event(objection, minutes(1))])
        await orgs.catch_up()
        assert await alerted() == []
        charity_lead = await key_of(orgs, "voluntary", "ig_lead")  # its own grant, always
        own = (await api.get("/v1/ig/break-glass", headers=charity_lead)).json()
        assert [g["reason"] for g in own["grants"]] == [emergency["reason"]]


async def test_my_own_referral_does_not_tell_me_what_a_withheld_receiver_did(
    orgs: Organisations, database_url: str
) -> None:
    """Housing referred him to mental health, which accepted; he then objected to mental
    health's records reaching housing. Housing still sees its referral, not that mental health
    accepted it and opened a case: that would say he is in its care (its receipt, which every
    referral gets, says nothing). Full view, then contacts."""
    housing, health = PersonAt("housing"), PersonAt("mental_health")
    h_case, m_case, referral = uuid4(), uuid4(), uuid4()
    him = details(postcode="BS5 6XX")
    await orgs.record([
        housing.registered(minutes(0), him),
        housing.case_opened(minutes(1), h_case),
        housing.event(ReferralMade(referral_id=referral, person_id=housing.person_id,
                                   to_org="mental_health", reason="low mood", person=him),
                      minutes(2)),
        health.registered(minutes(3), details(postcode="BS1 1AA")),
        health.event(ReferralReceived(referral_id=referral, person_id=health.person_id,
                                      from_org="housing", reason="low mood", urgency="routine"),
                     minutes(4)),
        health.case_opened(minutes(5), m_case, reason="psychosis"),
        health.event(ReferralAccepted(referral_id=referral, person_id=health.person_id,
                                      from_org="housing", case_id=m_case), minutes(5)),
        health.event(ConsentWithdrawn(person_id=health.person_id, recipients=("housing",),
                                      purposes=PURPOSES), minutes(6)),
    ])  # fmt: skip
    await orgs.catch_up()
    async with projection_api(orgs, database_url) as api:
        key = await key_of(orgs, "housing")
        citizen = await citizen_of(api, key)
        full = (await api.get(f"/v1/citizens/{citizen}", headers=key)).json()
        await orgs.record(
            [housing.event(CaseClosed(case_id=h_case, outcome="rehoused"), minutes(7))]
        )
        await orgs.catch_up()
        contacts = (await api.get(f"/v1/citizens/{citizen}", headers=key)).json()
    assert (full["access"], contacts["access"]) == ("full", "contacts")
    for view in (full, contacts):
        assert "mental_health" not in {i["org"] for i in view["involvements"]}
        [shown] = view["referrals"]
        # received, as every referral is; not what mental health decided
        assert (shown["status"], shown["case_id"]) == ("received", None)
        assert [(h["status"], h["org"]) for h in shown["history"]] == [
            ("made", "housing"),
            ("received", "mental_health"),
        ]
        assert shown["reason"] == "low mood"  # housing's own words
