"""Leaks an attack review found in what a related organisation reads, each tried as it was.

The story: housing, mental health and a charity work with David. Mental health writes
clinical words where the shared categories carry them (a case's reason, a flag's note, a
referral's reason), and has a crisis episode housing may not see. Housing has an open case,
so it reads the full view, as the rules share it.
"""

from collections.abc import AsyncIterator
from datetime import UTC, date, datetime, timedelta
from typing import Any
from uuid import UUID, uuid4

import httpx
import pytest

from events.consent import PURPOSES, ConsentWithdrawn
from events.mental_health import CrisisEpisodeStarted
from events.shared import (
    CaseClosed,
    CaseOpened,
    FlagRaised,
    KeyWorker,
    ReferralAccepted,
    ReferralAnswered,
    ReferralDeclined,
    ReferralMade,
    ReferralReceived,
)
from tests.integration.projection.conftest import Organisations
from tests.integration.projection.reading import (
    citizen_of,
    everything_of,
    key_of,
    projection_api,
)
from tests.unit.projection.factories import PersonAt, details

AT = datetime(2026, 5, 4, 9, 0, tzinfo=UTC)
CLINICAL_WORDS = (
    "psychosis relapse after bereavement",
    "voices telling him to harm himself",
    "suicidal ideation",
    "needs a psychiatric bed",
    "too unwell for group work",
)
CRISIS_AT = AT + timedelta(days=3)


@pytest.fixture
async def api(orgs: Organisations, database_url: str) -> AsyncIterator[httpx.AsyncClient]:
    housing, health, charity = PersonAt("housing"), PersonAt("mental_health"), PersonAt("voluntary")
    h_case, m_case, old_case, v_case = uuid4(), uuid4(), uuid4(), uuid4()
    referral_id = uuid4()
    await orgs.record(
        [
            housing.registered(AT, details()),
            housing.case_opened(AT, h_case, reason="threatened with homelessness"),
            charity.registered(AT, details()),
            charity.case_opened(AT, v_case, reason="drop-in"),
            health.registered(AT, details()),
            health.case_opened(AT, old_case, reason="voices telling him to harm himself"),
            health.event(CaseClosed(case_id=old_case, outcome="too unwell for group work"), AT),
            health.case_opened(AT, m_case, reason="psychosis relapse after bereavement"),
            health.event(
                FlagRaised(case_id=m_case, flag="risk_to_self", note="suicidal ideation"), AT
            ),
            health.event(
                ReferralMade(
                    referral_id=referral_id, person_id=health.person_id, to_org="voluntary",
                    reason="needs a psychiatric bed", person=details(),
                ),
                AT + timedelta(hours=1),
            ),
            charity.event(
                ReferralReceived(
                    referral_id=referral_id, person_id=charity.person_id,
                    from_org="mental_health", reason="needs a psychiatric bed", urgency="routine",
                ),
                AT + timedelta(hours=2),
            ),
            charity.event(
                ReferralDeclined(
                    referral_id=referral_id, person_id=charity.person_id,
                    from_org="mental_health", reason="no capacity this month",
                ),
                AT + timedelta(hours=3),
            ),
            health.event(CrisisEpisodeStarted(case_id=m_case, setting="home_treatment"), CRISIS_AT),
        ]
    )  # fmt: skip
    await orgs.catch_up()
    async with projection_api(orgs, database_url) as client:
        yield client


async def test_clinical_free_text_reaches_no_related_housing_key_by_any_route(
    api: httpx.AsyncClient, orgs: Organisations
) -> None:
    """A mental health case's reason and outcome, its flag's note and its referral's reason
    are clinical: housing sees the case, the key worker, the flag and the referral, never
    the words (view, timeline, FHIR)."""
    housing = await key_of(orgs, "housing")
    citizen = await citizen_of(api, housing)
    view = (await api.get(f"/v1/citizens/{citizen}", headers=housing)).json()
    assert view["access"] == "full"
    health = next(i for i in view["involvements"] if i["org"] == "mental_health")
    assert len(health["cases"]) == 2
    assert all(c["key_worker"] for c in health["cases"])
    assert "risk_to_self" in {f["flag"] for f in view["flags"]}
    assert len(view["referrals"]) == 1
    everything = await everything_of(api, citizen, housing)
    for words in CLINICAL_WORDS:
        assert words not in everything
    own = next(i for i in view["involvements"] if i["org"] == "housing")
    assert own["cases"][0]["reason"] == "threatened with homelessness"  # its own, whole


async def test_the_referrals_parties_and_the_clinician_still_read_the_words(
    api: httpx.AsyncClient, orgs: Organisations
) -> None:
    """The charity the referral was made to reads its reason; mental health reads all."""
    charity = await key_of(orgs, "voluntary")
    citizen = await citizen_of(api, charity)
    view = (await api.get(f"/v1/citizens/{citizen}", headers=charity)).json()
    assert [r["reason"] for r in view["referrals"]] == ["needs a psychiatric bed"]
    timeline = await everything_of(api, citizen, charity)
    assert "needs a psychiatric bed" in timeline
    assert "psychosis relapse after bereavement" not in timeline  # not a party to the case
    health = await key_of(orgs, "mental_health")
    everything = await everything_of(api, citizen, health)
    for words in CLINICAL_WORDS:
        assert words in everything


async def test_a_hidden_crisis_does_not_move_the_cases_last_contact(
    api: httpx.AsyncClient, orgs: Organisations
) -> None:
    """The crisis episode housing may not see happened last: housing's view of the case's
    last contact stays at the latest event it may see; mental health's moves."""
    housing, health = await key_of(orgs, "housing"), await key_of(orgs, "mental_health")
    citizen = await citizen_of(api, housing)

    def last_contacts(view: dict[str, object]) -> set[str]:
        (case,) = [
            c
            for i in view["involvements"]  # type: ignore[attr-defined]
            if i["org"] == "mental_health"
            for c in i["cases"]
            if c["status"] == "open"
        ]
        return {case["last_contact_at"]}

    seen_by_housing = (await api.get(f"/v1/citizens/{citizen}", headers=housing)).json()
    seen_by_health = (await api.get(f"/v1/citizens/{citizen}", headers=health)).json()
    assert last_contacts(seen_by_health) == {CRISIS_AT.isoformat().replace("+00:00", "Z")}
    assert last_contacts(seen_by_housing) == {AT.isoformat().replace("+00:00", "Z")}


async def test_the_access_log_names_no_category_the_reader_may_not_see(
    api: httpx.AsyncClient, orgs: Organisations
) -> None:
    """Mental health read its clinical records; housing reading the log sees that mental
    health read, not that what it read was clinical or about a crisis."""
    health, housing = await key_of(orgs, "mental_health"), await key_of(orgs, "housing")
    citizen = await citizen_of(api, health)
    await api.get(f"/v1/citizens/{citizen}/timeline", headers=health)
    own = (await api.get(f"/v1/citizens/{citizen}/access-log", headers=health)).json()
    assert "health.crisis" in {c for access in own["accesses"] for c in access["categories"]}
    log = (await api.get(f"/v1/citizens/{citizen}/access-log", headers=housing)).json()
    reads = [a for a in log["accesses"] if a["viewer_org"] == "mental_health"]
    assert any(a["read_kind"] == "timeline" for a in reads)
    named = {c for access in log["accesses"] for c in access["categories"]}
    assert not named & {"health.clinical", "health.crisis", "health.referral"}
    assert "case.involvement" in named


@pytest.mark.parametrize(
    ("name", "moment"),
    [("from", "0001-01-01T00:00:00+14:00"), ("to", "9999-12-31T23:59:59-14:00")],
)
async def test_a_moment_outside_the_calendar_in_utc_is_a_precise_422(
    api: httpx.AsyncClient, orgs: Organisations, name: str, moment: str
) -> None:
    housing = await key_of(orgs, "housing")
    citizen = await citizen_of(api, housing)
    answer = await api.get(
        f"/v1/citizens/{citizen}/timeline", params={name: moment}, headers=housing
    )
    assert answer.status_code == 422
    (field,) = answer.json()["error"]["fields"]
    assert (field["field"], field["rule"]) == (f"query.{name}", "in_range")


VICTORIA = details(nhs_number="9850588624", given_name="Victoria", family_name="Jones",
                   date_of_birth=date(1990, 2, 3))  # fmt: skip


CLAIM = details(
    nhs_number="9850588624", given_name="Vic", family_name="Anything",
    date_of_birth=date(2000, 1, 1),
)  # fmt: skip
"""Victoria's NHS number under made-up details: what an organisation claiming her registers."""
CLAIMED_AT = AT + timedelta(days=1)


async def _claimed_by(orgs: Organisations, record: PersonAt, case: UUID | None = None) -> None:
    """Record `record`'s organisation registering the claim and opening a case on it."""
    opened = record.case_opened(CLAIMED_AT, case or uuid4())
    await orgs.record([record.registered(CLAIMED_AT, CLAIM), opened])


async def _known_only_to_mental_health(orgs: Organisations) -> PersonAt:
    health = PersonAt("mental_health")
    case = uuid4()
    await orgs.record(
        [
            health.registered(AT, VICTORIA),
            health.case_opened(AT, case, reason="psychosis relapse after bereavement"),
            health.event(
                FlagRaised(case_id=case, flag="risk_to_self", note="suicidal ideation"), AT
            ),
        ]
    )
    await orgs.catch_up()
    return health


async def test_a_search_gives_an_unrelated_organisation_no_identifier_it_did_not_supply(
    orgs: Organisations, database_url: str
) -> None:
    """Housing does not work with Victoria: a name and birth date search says she is known
    (and GET /v1/citizens/{id} whom to contact), never her NHS number; not for any role."""
    await _known_only_to_mental_health(orgs)
    async with projection_api(orgs, database_url) as api:
        for role in ("frontline", "ops", "data_steward"):
            key = await key_of(orgs, "housing", role)
            found = await api.get(
                "/v1/citizens",
                params={"family_name": "Jones", "date_of_birth": "1990-02-03"},
                headers=key,
            )
            (hit,) = found.json()["citizens"]
            assert hit["nhs_number"] is None, role
            assert "9850588624" not in found.text
        by_number = await api.get("/v1/citizens", params={"nhs_number": "9850588624"}, headers=key)
        (hit,) = by_number.json()["citizens"]
        assert hit["nhs_number"] == "9850588624"  # what it supplied, nothing more
        assert (hit["given_name"], hit["family_name"], hit["date_of_birth"]) == (None,) * 3
        health = await key_of(orgs, "mental_health")
        own = await api.get("/v1/citizens", params={"nhs_number": "9850588624"}, headers=health)
        assert own.json()["citizens"][0]["given_name"] == "Victoria"


async def test_registering_a_known_nhs_number_under_another_name_opens_nothing(
    orgs: Organisations, database_url: str
) -> None:
    """Housing registers Victoria's NHS number as "Vic Anything, 2000-01-01" and opens a case
    with a pretext: the record is disputed, gives housing no relationship (contacts only, no
    timeline, no FHIR) and does not change who everyone else sees."""
    await _known_only_to_mental_health(orgs)
    housing = PersonAt("housing")
    await _claimed_by(orgs, housing)
    await orgs.catch_up()
    async with projection_api(orgs, database_url) as api:
        key = await key_of(orgs, "housing")
        citizen = await citizen_of(api, key, "9850588624")
        view = (await api.get(f"/v1/citizens/{citizen}", headers=key)).json()
        assert view["access"] == "contacts"
        for path in ("timeline", "fhir"):
            refused = await api.get(f"/v1/citizens/{citizen}/{path}", headers=key)
            assert refused.status_code == 403
        everything = (await api.get(f"/v1/citizens/{citizen}", headers=key)).text
        for words in ("suicidal ideation", "psychosis relapse", "Victoria"):
            assert words not in everything
        health = await key_of(orgs, "mental_health")
        seen = (await api.get(f"/v1/citizens/{citizen}", headers=health)).json()["identity"]
        assert (seen["given_name"]["value"], seen["date_of_birth"]["value"]) == (
            "Victoria",
            "1990-02-03",
        )


async def test_a_true_registration_with_a_nickname_and_swapped_date_is_no_conflict(
    orgs: Organisations, database_url: str
) -> None:
    """The charity knows Victoria as "Vicky", born 1990-03-02 (day and month swapped): the
    same person, so its open case is a relationship; and one registration does not
    overwrite what two organisations agree on."""
    await _known_only_to_mental_health(orgs)
    housing, charity = PersonAt("housing"), PersonAt("voluntary")
    vicky = details(
        nhs_number="9850588624", given_name="Vicky", family_name="Jones",
        date_of_birth=date(1990, 3, 2),
    )  # fmt: skip
    await orgs.record(
        [
            housing.registered(AT + timedelta(hours=1), VICTORIA),
            charity.registered(AT + timedelta(days=1), vicky),
            charity.case_opened(AT + timedelta(days=1), uuid4()),
        ]
    )
    await orgs.catch_up()
    async with projection_api(orgs, database_url) as api:
        key = await key_of(orgs, "voluntary")
        citizen = await citizen_of(api, key, "9850588624")
        view = (await api.get(f"/v1/citizens/{citizen}", headers=key)).json()
        assert view["access"] == "full"
        assert view["identity"]["given_name"]["value"] == "Victoria"  # two against one
        assert view["identity"]["date_of_birth"]["value"] == "1990-02-03"


async def test_a_new_relationship_to_someone_others_hold_is_an_alert_for_their_ig_leads(
    orgs: Organisations, database_url: str
) -> None:
    """Housing registers Victoria's NHS number under another name and opens a case, with no
    referral: mental health's IG lead sees who, when and on what basis (disputed, so no
    relationship); housing's own IG lead and a frontline key see no such alert list."""
    await _known_only_to_mental_health(orgs)
    housing, charity = PersonAt("housing"), PersonAt("voluntary")
    case, later = uuid4(), CLAIMED_AT
    await _claimed_by(orgs, housing, case)
    await orgs.record([charity.registered(later, VICTORIA), charity.case_opened(later, uuid4())])
    await orgs.catch_up()
    async with projection_api(orgs, database_url) as api:
        lead = await key_of(orgs, "mental_health", "ig_lead")
        answer = await api.get("/v1/ig/new-relationships", headers=lead)
        assert answer.status_code == 200
        alerts = {a["org"]: a for a in answer.json()["alerts"]}
        assert set(alerts) == {"housing", "voluntary"}
        alert = alerts["housing"]
        assert (alert["case_id"], alert["disputed"], alert["relationship"]) == (
            str(case), True, False,
        )  # fmt: skip
        assert alert["actor"].startswith("housing/")
        assert alert["basis"] == "case_opened_without_referral"
        assert (alerts["voluntary"]["disputed"], alerts["voluntary"]["relationship"]) == (
            False, True,
        )  # fmt: skip
        for name in ("Anything", "Victoria"):
            assert name not in answer.text
        citizen = alert["citizen_id"]
        own_lead = await key_of(orgs, "housing", "ig_lead")
        mine = (await api.get("/v1/ig/new-relationships", headers=own_lead)).json()
        assert mine["alerts"] == []  # its only record is the disputed claim: told nothing
        frontline = await key_of(orgs, "mental_health")
        refused = await api.get("/v1/ig/new-relationships", headers=frontline)
        assert refused.status_code == 403
        log = await api.get(
            f"/v1/citizens/{citizen}/access-log", headers=await key_of(orgs, "mental_health")
        )
        assert "relationship_alerts" in {a["read_kind"] for a in log.json()["accesses"]}


async def _referred_to_mental_health(
    orgs: Organisations, nhs_number: str, *, mental_health_holds_a_withheld_record: bool
) -> str:
    """Housing refers someone to mental health; its inbox records the receipt against the
    record it holds (one the person objected to housing seeing), or registers them from
    the referral. Return the citizen's NHS number."""
    housing, health = PersonAt("housing"), PersonAt("mental_health")
    person, referral_id = details(nhs_number=nhs_number), uuid4()
    events = []
    if mental_health_holds_a_withheld_record:
        objection = ConsentWithdrawn(
            person_id=health.person_id, sources=("mental_health",), recipients=("housing",),
            purposes=PURPOSES,
        )  # fmt: skip
        events += [health.registered(AT, person), health.event(objection, AT)]
    made = housing.event(
        ReferralMade(
            referral_id=referral_id, person_id=housing.person_id, to_org="mental_health",
            reason="struggling since the bereavement", person=person,
        ),
        AT + timedelta(hours=1),
    )  # fmt: skip
    events += [
        housing.registered(AT + timedelta(minutes=30), person),
        housing.case_opened(AT + timedelta(minutes=40), uuid4(), reason="rent arrears"),
        made,
    ]
    inbox = {"actor": "mental_health/referral_inbox", "causation_id": str(made.event_id)}
    received_at = AT + timedelta(hours=2)
    if not mental_health_holds_a_withheld_record:
        events.append(health.registered(received_at, person, **inbox))
    receipt = ReferralReceived(
        referral_id=referral_id, person_id=health.person_id, from_org="housing",
        reason="struggling since the bereavement", urgency="routine",
        found_by="new_record" if not mental_health_holds_a_withheld_record else "receiver",
    )  # fmt: skip
    events.append(health.event(receipt, received_at, **inbox))
    await orgs.record(events)
    await orgs.catch_up()
    return nhs_number


def _shape(view: dict[str, Any], timeline: dict[str, Any]) -> dict[str, Any]:
    """What a sender sees of the person, without the ids that differ between people."""
    return {
        "access": view["access"],
        "involvements": [(i["org"], len(i["cases"])) for i in view["involvements"]],
        "identity": {k: v and v["org"] for k, v in view["identity"].items() if k != "nhs_number"},
        "referrals": [
            (r["status"], [(c["status"], c["org"]) for c in r["history"]])
            for r in view["referrals"]
        ],
        "timeline": [(e["org"], e["type"], sorted(e["data"])) for e in timeline["events"]],
        "recent": [(e["org"], e["type"]) for e in view["recent"]],
    }


async def test_a_referral_does_not_tell_its_sender_that_the_receiver_holds_a_hidden_record(
    orgs: Organisations, database_url: str
) -> None:
    """Whether mental health already held a record the person keeps from housing, or
    registered them from housing's referral, housing sees the same: the referral received,
    no mental health involvement, the same identity, the same timeline."""
    hidden = await _referred_to_mental_health(
        orgs, "9434765919", mental_health_holds_a_withheld_record=True
    )
    new = await _referred_to_mental_health(
        orgs, "4010232137", mental_health_holds_a_withheld_record=False
    )
    async with projection_api(orgs, database_url) as api:
        key = await key_of(orgs, "housing")
        shapes = []
        for nhs_number in (hidden, new):
            citizen = await citizen_of(api, key, nhs_number)
            view = (await api.get(f"/v1/citizens/{citizen}", headers=key)).json()
            timeline = (await api.get(f"/v1/citizens/{citizen}/timeline", headers=key)).json()
            shapes.append(_shape(view, timeline))
    assert shapes[0] == shapes[1]
    assert shapes[0]["referrals"][0][0] == "received"
    receipt = [keys for _, kind, keys in shapes[0]["timeline"] if kind == "referral.received"]
    assert receipt == [["from_org", "reason", "referral_id", "urgency"]]  # not how it was found


async def test_an_identity_conflict_is_settled_only_by_both_sides_stewards(
    orgs: Organisations, database_url: str
) -> None:
    """Housing claims Victoria's NHS number under other details; each version is one
    organisation's, so neither leads and both records are disputed. The conflict is first
    in both stewards' queues, neither side's details showing to the other; housing's link
    alone settles nothing; once mental health's steward links it too, both cases count."""
    health = await _known_only_to_mental_health(orgs)
    housing = PersonAt("housing")
    await _claimed_by(orgs, housing)
    await orgs.catch_up()
    async with projection_api(orgs, database_url) as api:
        stewards = {
            org: await key_of(orgs, org, "data_steward") for org in ("housing", "mental_health")
        }
        firsts = {}
        for org, steward in stewards.items():
            queue = await api.get("/v1/identity/review", headers=steward)
            assert queue.status_code == 200, queue.text
            first = queue.json()["pairs"][0]
            assert first["conflict"] is True
            other = next(side for side in (first["a"], first["b"]) if side["org"] != org)
            assert (other["given_name"], other["date_of_birth"], other["nhs_number"]) == (
                None, None, None,
            )  # fmt: skip
            assert (other["org"], other["person_id"]) == (None, None)  # not even whose
            firsts[org] = first
        assert "Victoria" not in str(firsts["housing"])
        frontline = await key_of(orgs, "housing")
        citizen = await citizen_of(api, frontline, "9850588624")
        health_key = await key_of(orgs, "mental_health")

        async def access(key: dict[str, str]) -> str:
            view = await api.get(f"/v1/citizens/{citizen}", headers=key)
            value: str = view.json()["access"]
            return value

        assert (await access(frontline), await access(health_key)) == ("contacts", "contacts")
        pair = {
            "a": {"org": "housing", "person_id": housing.subject},
            "b": {"org": "mental_health", "person_id": health.subject},
            "reason": "it is her, honestly",
        }
        linked = await api.post("/v1/identity/links", json=pair, headers=stewards["housing"])
        assert linked.status_code == 200, linked.text
        for theirs in ("Victoria", "1990-02-03", health.subject, "mental_health"):
            assert theirs not in linked.text  # nor does the answer say, nor whose
        assert (linked.json()["takes_effect"], linked.json()["awaiting"]) == (False, [])
        assert await access(frontline) == "contacts"  # one side's word is not enough
        again = await api.post("/v1/identity/links", json=pair, headers=stewards["housing"])
        assert again.json()["error"]["code"] == "already_decided"
        waiting = await api.get("/v1/identity/review", headers=stewards["mental_health"])
        assert waiting.status_code == 200, waiting.text
        [asked] = [
            p for p in waiting.json()["pairs"] if p["pair_id"] == firsts["mental_health"]["pair_id"]
        ]
        assert asked["linked_by"] == []  # whose steward linked it would say whose record it is
        confirmed = await api.post(
            f"/v1/identity/review/{firsts['mental_health']['pair_id']}/confirm",
            json={"reason": "checked with her: she uses another name"},
            headers=stewards["mental_health"],
        )
        assert confirmed.status_code == 200, confirmed.text
        assert (await access(frontline), await access(health_key)) == ("full", "full")


async def test_registering_a_number_first_under_made_up_details_takes_over_nothing(
    orgs: Organisations, database_url: str
) -> None:
    """Housing registers an NHS number before anyone else, as "X Squat, 1900-01-02", and
    opens a case; mental health and the charity then register the real person. Theirs is
    the version two organisations attest: they work with her; housing reads nothing of
    theirs, is alerted of nothing and its steward sees none of their details."""
    squatter, health, charity = (
        PersonAt("housing"),
        PersonAt("mental_health"),
        PersonAt("voluntary"),
    )
    squat = details(
        nhs_number="9850588624", given_name="X", family_name="Squat",
        date_of_birth=date(1900, 1, 2),
    )  # fmt: skip
    m_case = uuid4()
    await orgs.record(
        [
            squatter.registered(AT - timedelta(days=30), squat),
            squatter.case_opened(AT - timedelta(days=30), uuid4()),
            health.registered(AT, VICTORIA),
            health.case_opened(AT, m_case, reason="psychosis relapse after bereavement"),
            health.event(
                FlagRaised(case_id=m_case, flag="risk_to_self", note="suicidal ideation"), AT
            ),
            charity.registered(AT, VICTORIA),
            charity.case_opened(AT, uuid4()),
        ]
    )  # fmt: skip
    await orgs.catch_up()
    async with projection_api(orgs, database_url) as api:
        housing = await key_of(orgs, "housing")
        citizen = await citizen_of(api, housing, "9850588624")
        view = await api.get(f"/v1/citizens/{citizen}", headers=housing)
        assert view.json()["access"] == "contacts"
        for words in ("Victoria", "risk_to_self", "suicidal"):
            assert words not in view.text
        for org in ("mental_health", "voluntary"):
            key = await key_of(orgs, org)
            assert (await api.get(f"/v1/citizens/{citizen}", headers=key)).json()["access"] == (
                "full"
            )
        lead = await key_of(orgs, "housing", "ig_lead")
        alerts = await api.get("/v1/ig/new-relationships", headers=lead)
        assert alerts.json()["alerts"] == []
        steward = await key_of(orgs, "housing", "data_steward")
        queue = await api.get("/v1/identity/review", headers=steward)
        assert "Victoria" not in queue.text
        assert "1990-02-03" not in queue.text


async def test_a_claim_referred_on_and_accepted_in_good_faith_opens_nothing(
    orgs: Organisations, database_url: str
) -> None:
    """Housing's claim to Victoria's NHS number refers "Vic Anything" to the charity, which
    registers him from the referral and accepts with a case: neither side of a referral
    between disputed records works with Victoria."""
    await _known_only_to_mental_health(orgs)
    housing, charity = PersonAt("housing"), PersonAt("voluntary")
    later, referral_id, case = CLAIMED_AT, uuid4(), uuid4()
    made = housing.event(
        ReferralMade(
            referral_id=referral_id, person_id=housing.person_id, to_org="voluntary",
            reason="needs support", person=CLAIM,
        ),
        later,
    )  # fmt: skip
    inbox = {"actor": "voluntary/referral_inbox", "causation_id": str(made.event_id)}
    await orgs.record(
        [
            housing.registered(later, CLAIM),
            housing.case_opened(later, uuid4()),
            made,
            charity.registered(later + timedelta(hours=1), CLAIM, **inbox),
            charity.event(
                ReferralReceived(
                    referral_id=referral_id, person_id=charity.person_id, from_org="housing",
                    reason="needs support", urgency="routine",
                ),
                later + timedelta(hours=1),
                **inbox,
            ),
            charity.case_opened(later + timedelta(hours=2), case),
            charity.event(
                ReferralAccepted(
                    referral_id=referral_id, person_id=charity.person_id, from_org="housing",
                    case_id=case,
                ),
                later + timedelta(hours=2),
            ),
        ]
    )  # fmt: skip
    await orgs.catch_up()
    async with projection_api(orgs, database_url) as api:
        for org in ("voluntary", "housing"):
            key = await key_of(orgs, org)
            citizen = await citizen_of(api, key, "9850588624")
            view = await api.get(f"/v1/citizens/{citizen}", headers=key)
            assert view.json()["access"] == "contacts", org
            assert "suicidal ideation" not in view.text
            refused = await api.get(f"/v1/citizens/{citizen}/timeline", headers=key)
            assert refused.status_code == 403


async def test_a_case_opened_by_accepting_a_referral_keeps_the_senders_words_clinical(
    orgs: Organisations, database_url: str
) -> None:
    """Mental health refers David to the charity, which accepts and opens a case with the
    referral's reason: housing sees the charity's case, not mental health's words in it."""
    housing, health, charity = PersonAt("housing"), PersonAt("mental_health"), PersonAt("voluntary")
    referral_id, case = uuid4(), uuid4()
    words = "psychosis relapse after bereavement"
    await orgs.record(
        [
            housing.registered(AT, details()), housing.case_opened(AT, uuid4()),
            health.registered(AT, details()), health.case_opened(AT, uuid4()),
            charity.registered(AT, details()),
            health.event(
                ReferralMade(
                    referral_id=referral_id, person_id=health.person_id, to_org="voluntary",
                    reason=words, person=details(),
                ),
                AT + timedelta(hours=1),
            ),
            charity.event(
                ReferralReceived(
                    referral_id=referral_id, person_id=charity.person_id,
                    from_org="mental_health", reason=words, urgency="routine",
                ),
                AT + timedelta(hours=2),
            ),
            charity.event(
                CaseOpened(
                    case_id=case, person_id=charity.person_id, reason=words,
                    key_worker=KeyWorker(name="Jo Reid"), referral_id=referral_id,
                ),
                AT + timedelta(hours=3),
            ),
            charity.event(
                ReferralAccepted(
                    referral_id=referral_id, person_id=charity.person_id,
                    from_org="mental_health", case_id=case,
                ),
                AT + timedelta(hours=3),
            ),
        ]
    )  # fmt: skip
    await orgs.catch_up()
    async with projection_api(orgs, database_url) as api:
        key = await key_of(orgs, "housing")
        citizen = await citizen_of(api, key)
        view = (await api.get(f"/v1/citizens/{citizen}", headers=key)).json()
        charity_cases = next(i for i in view["involvements"] if i["org"] == "voluntary")["cases"]
        assert [c["case_id"] for c in charity_cases] == [str(case)]
        assert words not in await everything_of(api, citizen, key)
        own = await key_of(orgs, "voluntary")
        assert words in await everything_of(api, citizen, own)


async def test_a_search_confirms_no_guessed_given_name_to_an_unrelated_organisation(
    orgs: Organisations, database_url: str
) -> None:
    """Housing does not work with Victoria: guessing her given name changes nothing in the
    answer (no score, no fields matched, the same hits)."""
    await _known_only_to_mental_health(orgs)
    async with projection_api(orgs, database_url) as api:
        key = await key_of(orgs, "housing")
        answers = []
        for guess in ("Bob", "Victoria", None):
            params = {"family_name": "Jones", "date_of_birth": "1990-02-03"}
            found = await api.get(
                "/v1/citizens",
                params=params | ({"given_name": guess} if guess else {}),
                headers=key,
            )
            answers.append(found.json())
        assert answers[0] == answers[1] == answers[2]
        (hit,) = answers[0]["citizens"]
        assert (hit["match_score"], hit["matched_on"]) == (None, [])


async def test_the_access_log_shows_no_read_from_before_the_reader_held_a_record(
    orgs: Organisations, database_url: str
) -> None:
    """The charity read mental health's case (contacts) before housing knew her; housing,
    registering her later, does not learn from the log that someone was read before."""
    await _known_only_to_mental_health(orgs)
    async with projection_api(orgs, database_url) as api:
        charity = await key_of(orgs, "voluntary")
        health = await key_of(orgs, "mental_health")
        citizen = await citizen_of(api, health, "9850588624")
        assert (await api.get(f"/v1/citizens/{citizen}", headers=charity)).status_code == 200
        housing = PersonAt("housing")
        now = datetime.now(UTC)
        await orgs.record([housing.registered(now, VICTORIA), housing.case_opened(now, uuid4())])
        await orgs.catch_up()
        key = await key_of(orgs, "housing")
        log = (await api.get(f"/v1/citizens/{citizen}/access-log", headers=key)).json()
        assert "voluntary" not in {a["viewer_org"] for a in log["accesses"]}
        own = (await api.get(f"/v1/citizens/{citizen}/access-log", headers=health)).json()
        assert "voluntary" in {a["viewer_org"] for a in own["accesses"]}


async def test_two_organisations_colluding_on_a_claim_still_read_nothing_of_the_person(
    orgs: Organisations, database_url: str
) -> None:
    """Housing and the charity both register Victoria's NHS number as "Vic Anything": their
    version outnumbers mental health's, so theirs is the person, but mental health's record,
    in conflict with it, shows to neither: no involvement, no flag, no event."""
    health = await _known_only_to_mental_health(orgs)
    for record in (PersonAt("housing"), PersonAt("voluntary")):
        await _claimed_by(orgs, record)
    await orgs.catch_up()
    async with projection_api(orgs, database_url) as api:
        key = await key_of(orgs, "housing")
        citizen = await citizen_of(api, key, "9850588624")
        view = (await api.get(f"/v1/citizens/{citizen}", headers=key)).json()
        assert view["access"] == "full"
        assert "mental_health" not in {i["org"] for i in view["involvements"]}
        assert "risk_to_self" not in {f["flag"] for f in view["flags"]}
        everything = await everything_of(api, citizen, key)
        assert health.subject not in everything
        assert '"org":"mental_health"' not in everything.replace(" ", "")
        own = await key_of(orgs, "mental_health")
        mine = (await api.get(f"/v1/citizens/{citizen}", headers=own)).json()
        assert "mental_health" in {i["org"] for i in mine["involvements"]}  # its own, always


async def test_a_senders_record_of_the_answer_shows_only_to_the_referrals_two_parties(
    orgs: Organisations, database_url: str
) -> None:
    """Housing's copy of the charity's decline (`referral.answered`, with the charity's
    reason) repeats the charity's own event under housing's name: mental health, which
    works with him too, never sees it; housing and the charity do."""
    number = "9434765870"
    housing, health, charity = PersonAt("housing"), PersonAt("mental_health"), PersonAt("voluntary")
    referral_id = uuid4()
    who = details(nhs_number=number)
    await orgs.record(
        [
            *(p.registered(AT, who) for p in (housing, health, charity)),
            *(p.case_opened(AT, uuid4()) for p in (housing, health, charity)),
            housing.event(
                ReferralMade(
                    referral_id=referral_id, person_id=housing.person_id, to_org="voluntary",
                    reason="food", person=who,
                ),
                AT + timedelta(hours=1),
            ),
            charity.event(
                ReferralDeclined(
                    referral_id=referral_id, person_id=charity.person_id, from_org="housing",
                    reason="no room this month",
                ),
                AT + timedelta(hours=2),
            ),
            housing.event(
                ReferralAnswered(
                    referral_id=referral_id, person_id=housing.person_id, by_org="voluntary",
                    answer="declined", answered_at=AT + timedelta(hours=2),
                    reason="no room this month",
                ),
                AT + timedelta(hours=3),
            ),
        ]
    )  # fmt: skip
    await orgs.catch_up()
    async with projection_api(orgs, database_url) as api:
        seen = {}
        for org in ("housing", "mental_health", "voluntary"):
            key = await key_of(orgs, org)
            citizen = await citizen_of(api, key, number)
            page = await api.get(f"/v1/citizens/{citizen}/timeline?limit=1000", headers=key)
            seen[org] = {event["type"] for event in page.json()["events"]}
    assert "referral.answered" in seen["housing"]
    assert "referral.answered" in seen["voluntary"]
    assert "referral.answered" not in seen["mental_health"]
    everything = await orgs.queries().timeline(UUID(citizen), limit=1000, offset=0)
    assert "referral.answered" in {e.type for e in everything.events}  # e.g. for a SAR


async def test_a_registration_made_up_from_a_search_buys_no_details_and_no_view(
    orgs: Organisations, database_url: str
) -> None:
    """Mental health's frontline key searches "Grace Mill, born 1984-07-21": someone is
    known. It registers her from just that and opens a case; the pair waits for review.
    Its steward's queue shows how the fields compared, none of housing's values (NHS
    number, postcode, address); its steward's link alone joins nothing and opens nothing;
    housing's steward, asked, keeps them apart."""
    grace = details(
        nhs_number="9850588624", given_name="Grace", family_name="Mill",
        date_of_birth=date(1984, 7, 21), postcode="BS5 6XX", address="12 Mill Road",
    )  # fmt: skip
    housing, made_up = PersonAt("housing"), PersonAt("mental_health")
    await orgs.record([housing.registered(AT, grace), housing.case_opened(AT, uuid4())])
    await orgs.catch_up()
    async with projection_api(orgs, database_url) as api:
        frontline = await key_of(orgs, "mental_health")
        found = await api.get(
            "/v1/citizens",
            params={"family_name": "Mill", "given_name": "Grace", "date_of_birth": "1984-07-21"},
            headers=frontline,
        )
        [hit] = found.json()["citizens"]
        guessed = details(
            nhs_number=None, given_name="Grace", family_name="Mill",
            date_of_birth=date(1984, 7, 21),
        )  # fmt: skip
        await orgs.record([made_up.registered(AT, guessed), made_up.case_opened(AT, uuid4())])
        await orgs.catch_up()

        steward = await key_of(orgs, "mental_health", "data_steward")
        queue = await api.get("/v1/identity/review", headers=steward)
        [pair] = queue.json()["pairs"]
        theirs = next(side for side in (pair["a"], pair["b"]) if side["org"] == "housing")
        assert theirs["details_shown"] is False
        for value in ("9850588624", "BS5 6XX", "Mill Road", "12 Mill"):
            assert value not in queue.text
        assert {e["field"]: e["agreement"] for e in pair["evidence"]}["date_of_birth"] == "exact"

        linked = await api.post(
            f"/v1/identity/review/{pair['pair_id']}/confirm",
            json={"reason": "same woman"},
            headers=steward,
        )
        assert (linked.status_code, linked.json()["awaiting"]) == (200, ["housing"])
        assert linked.json()["takes_effect"] is False
        for value in ("9850588624", "BS5 6XX", "Mill Road"):
            assert value not in linked.text
        view = await api.get(f"/v1/citizens/{hit['citizen_id']}", headers=frontline)
        assert view.json()["access"] == "contacts"
        for value in ("9850588624", "BS5 6XX", "Mill Road"):
            assert value not in view.text
        assert (
            await api.get(f"/v1/citizens/{hit['citizen_id']}/fhir", headers=frontline)
        ).status_code == 403

        housing_steward = await key_of(orgs, "housing", "data_steward")
        waiting = (await api.get("/v1/identity/review", headers=housing_steward)).json()
        [asked] = waiting["pairs"]
        assert (asked["pair_id"], asked["linked_by"]) == (pair["pair_id"], ["mental_health"])
        kept_apart = await api.post(
            f"/v1/identity/review/{pair['pair_id']}/reject",
            json={"reason": "not known to us at mental health"},
            headers=housing_steward,
        )
        assert kept_apart.status_code == 200, kept_apart.text
        again = await api.post(
            f"/v1/identity/review/{pair['pair_id']}/confirm",
            json={"reason": "same woman, really"},
            headers=steward,
        )
        assert (again.status_code, again.json()["awaiting"]) == (200, ["housing"])
        view = await api.get(f"/v1/citizens/{hit['citizen_id']}", headers=frontline)
        assert view.json()["access"] == "contacts"


async def test_a_link_a_third_organisation_seconds_is_an_alert_for_the_one_never_asked(
    orgs: Organisations, database_url: str
) -> None:
    """Grace is one citizen of housing's and the charity's records (one NHS number).
    Mental health registers "Grace Mill, 1984-07-21" from a search and opens a case; its
    steward links that record to the charity's, and the charity's steward, shown only how
    the fields compared, seconds it. The records join (two stewards agreed), so mental
    health now works with Grace, and housing, whose steward was never asked, is alerted."""
    grace = details(
        nhs_number="9850588624", given_name="Grace", family_name="Mill",
        date_of_birth=date(1984, 7, 21), postcode="BS5 6XX",
    )  # fmt: skip
    housing, charity, made_up = (
        PersonAt("housing"),
        PersonAt("voluntary"),
        PersonAt("mental_health"),
    )
    guessed = details(
        nhs_number=None, given_name="Grace", family_name="Mill", date_of_birth=date(1984, 7, 21)
    )
    await orgs.record(
        [
            housing.registered(AT, grace), housing.case_opened(AT, uuid4()),
            charity.registered(AT, grace),
            made_up.registered(AT + timedelta(days=1), guessed),
            made_up.case_opened(AT + timedelta(days=1), uuid4()),
        ]
    )  # fmt: skip
    await orgs.catch_up()
    async with projection_api(orgs, database_url) as api:
        pair = {
            "a": {"org": "mental_health", "person_id": made_up.subject},
            "b": {"org": "voluntary", "person_id": charity.subject},
        }
        for org in ("mental_health", "voluntary"):
            steward = await key_of(orgs, org, "data_steward")
            linked = await api.post(
                "/v1/identity/links", json={**pair, "reason": "same"}, headers=steward
            )
            assert linked.status_code == 200, linked.text
        assert linked.json()["takes_effect"] is True
        frontline = await key_of(orgs, "mental_health")
        citizen = await citizen_of(api, frontline, "9850588624")
        view = await api.get(f"/v1/citizens/{citizen}", headers=frontline)
        assert view.json()["access"] == "full"
        lead = await key_of(orgs, "housing", "ig_lead")
        alerts = (await api.get("/v1/ig/new-relationships", headers=lead)).json()["alerts"]
        assert [(a["org"], a["basis"]) for a in alerts] == [
            ("mental_health", "case_opened_without_referral")
        ]
