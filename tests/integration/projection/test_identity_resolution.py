"""Identity resolution in the projection, against real PostgreSQL: links by score, the review
queue, data stewards' decisions (link, keep apart, unlink) and replays that keep them."""

import asyncio
from collections.abc import AsyncIterator, Callable
from datetime import UTC, date, datetime, timedelta
from typing import Any
from uuid import UUID, uuid4

import httpx
import pytest
import structlog.testing

from events.envelope import Envelope, OrgId
from events.identity import IdentityLinked, RecordRef
from events.shared import DetailsChange, PersonDetailsChanged
from services.identity_matching.matching import MatchingConfig, Thresholds
from services.identity_matching.model import DEFAULT_MODEL
from services.projection import bootstrap as projection_bootstrap
from services.projection.adapters.decision_store import DecisionStore, decisions_schema_of
from services.projection.adapters.postgres_unit_of_work import postgres_units
from services.projection.adapters.read_model_schema import prepare_read_model
from services.projection.bootstrap import (
    advise_training_once_enough_records,
    create_projection_app,
    rebuild_projection,
    warn_if_built_before_matching,
)
from services.projection.service_layer.stewardship import DecisionRequest, IdentityStewardship
from services.runtime.api_keys import ApiKeyStore, Caller
from services.runtime.database import create_pool
from services.runtime.subscription import catch_up
from tests.integration.projection.conftest import ID_SECRET, Organisations
from tests.unit.projection.factories import NHS_NUMBER, PersonAt, details

AT = datetime(2026, 5, 4, 9, 0, tzinfo=UTC)
STEWARD = DecisionRequest(
    caller=Caller(key_id="k1", org="housing", role="data_steward"), correlation_id="c-1"
)
CHARITY_STEWARD = DecisionRequest(  # a steward splits off only their own organisation's records
    caller=Caller(key_id="k2", org="voluntary", role="data_steward"), correlation_id="c-2"
)


def _person(org: OrgId, at: datetime, **who: Any) -> tuple[PersonAt, list[Envelope]]:
    person = PersonAt(org)
    return person, [person.registered(at, details(**who)), person.case_opened(at, uuid4())]


async def _david_and_dave(
    orgs: Organisations, *, postcode: str | None = None, consumer: Any = None
) -> tuple[PersonAt, PersonAt]:
    """Housing's David Smith (NHS number, BS5 6XX) and the charity's Dave Smith (no NHS
    number; `postcode` if given), both with a case, caught up."""
    housing, housing_events = _person("housing", AT, postcode="BS5 6XX")
    charity, charity_events = _person(
        "voluntary", AT + timedelta(hours=1), nhs_number=None, given_name="Dave", postcode=postcode
    )
    await orgs.record([*housing_events, *charity_events])
    await orgs.catch_up(consumer)
    return housing, charity


async def _citizen_of(orgs: Organisations, person: PersonAt) -> UUID | None:
    value: UUID | None = await orgs.pool.fetchval(
        f"SELECT citizen_id FROM {orgs.schema}.person_links"  # noqa: S608
        " WHERE org = $1 AND person_id = $2",
        person.org,
        str(person.person_id),
    )
    return value


async def _involved_orgs(orgs: Organisations, citizen: UUID) -> list[str]:
    view = await orgs.queries().citizen_view(citizen)
    return [] if view is None else sorted(i.org for i in view.involvements)


async def _timeline_orgs(orgs: Organisations, citizen: UUID) -> set[str]:
    page = await orgs.queries().timeline(citizen, limit=1000, offset=0)
    return set() if page is None else {event.org for event in page.events}


def stewardship(orgs: Organisations, **options: Any) -> IdentityStewardship:
    return IdentityStewardship(orgs.units(), id_secret=ID_SECRET, **options)


async def test_an_address_line_joins_records_that_carry_no_postcode(
    orgs: Organisations,
) -> None:
    """Name and birth date alone go to review; the same first line of the address, written
    short at the charity, links them, and the single view shows it. Housing records a move:
    the pair goes to review, and housing's view shows the new address."""
    housing, housing_events = _person("housing", AT, address="12 Mill Road")
    charity, charity_events = _person(
        "voluntary", AT + timedelta(hours=1), nhs_number=None, given_name="Dave",
        address="12 mill rd.",
    )  # fmt: skip
    await orgs.record([*housing_events, *charity_events])
    await orgs.catch_up()

    citizen = await _citizen_of(orgs, housing)
    assert citizen is not None
    assert citizen == await _citizen_of(orgs, charity)
    view = await orgs.queries().citizen_view(citizen)
    assert view is not None
    assert view.identity.address is not None
    assert (view.identity.address.value, view.identity.address.org) == ("12 Mill Road", "housing")
    evidence = await orgs.pool.fetchval(
        f"SELECT evidence FROM {orgs.schema}.match_pairs"  # noqa: S608
    )
    assert {"field": "address", "agreement": "exact", "weight": 5.0} in evidence

    moved = DetailsChange(address="Flat 2, 7 Quay Street")
    changed = PersonDetailsChanged(person_id=housing.person_id, changes=moved)
    await orgs.record([housing.event(changed, AT + timedelta(days=1))])
    await orgs.catch_up()
    citizen = await _citizen_of(orgs, housing)
    assert citizen is not None
    assert citizen != await _citizen_of(orgs, charity)
    view = await orgs.queries().citizen_view(citizen)
    assert view is not None
    assert view.identity.address is not None
    assert view.identity.address.value == "Flat 2, 7 Quay Street"


async def test_dave_without_an_nhs_number_joins_david_on_name_birth_date_and_postcode(
    orgs: Organisations,
) -> None:
    """The issue's charity record: Dave Smith, no NHS number, same birthday and postcode."""
    housing, charity = await _david_and_dave(orgs, postcode="BS5 6XX")
    citizen = await _citizen_of(orgs, housing)
    assert citizen is not None
    assert await _citizen_of(orgs, charity) == citizen
    assert await _involved_orgs(orgs, citizen) == ["housing", "voluntary"]
    assert await _timeline_orgs(orgs, citizen) == {"housing", "voluntary"}
    found = await orgs.queries().by_nhs_number(NHS_NUMBER)
    assert [c.citizen_id for c in found] == [citizen]  # the NHS-number citizen keeps its id


async def test_a_middling_match_waits_in_the_review_queue_with_its_evidence(
    orgs: Organisations,
) -> None:
    housing, charity = await _david_and_dave(orgs)
    assert await _citizen_of(orgs, housing) != await _citizen_of(orgs, charity)
    queue = await stewardship(orgs).review_queue(limit=10, offset=0, by=STEWARD)
    assert queue.total == 1
    pair = queue.pairs[0]
    assert pair.score == 12.5
    assert {pair.a.org, pair.b.org} == {"housing", "voluntary"}
    evidence = {e.field: e.agreement for e in pair.evidence}
    assert evidence == {
        "given_name": "nickname",
        "family_name": "exact",
        "date_of_birth": "exact",
        "postcode": "missing",
        "address": "missing",
    }
    assert pair.agreed_on == ["given_name", "family_name", "date_of_birth"]
    own, theirs = sorted((pair.a, pair.b), key=lambda side: side.org != "housing")
    assert (own.given_name, own.details_shown) == ("David", True)
    assert theirs.org == "voluntary"  # whose steward to ask, not what they recorded
    assert (theirs.given_name, theirs.date_of_birth, theirs.details_shown) == (None, None, False)


async def test_confirming_joins_them_unlinking_splits_them_and_both_survive_a_replay(
    orgs: Organisations,
) -> None:
    housing, charity = await _david_and_dave(orgs)
    service = stewardship(orgs)
    pair = (await service.review_queue(limit=10, offset=0, by=STEWARD)).pairs[0]

    first = await service.confirm(pair.pair_id, reason="same person, checked", by=STEWARD)
    assert first.awaiting == ["voluntary"]  # one organisation's word does not join them
    assert await _citizen_of(orgs, charity) != await _citizen_of(orgs, housing)
    [waiting] = (await service.review_queue(limit=10, offset=0, by=CHARITY_STEWARD)).pairs
    assert (waiting.pair_id, waiting.linked_by) == (pair.pair_id, ["housing"])

    confirmed = await service.confirm(pair.pair_id, reason="our Dai is David", by=CHARITY_STEWARD)
    assert confirmed.awaiting == []
    citizen = await _citizen_of(orgs, housing)
    assert citizen is not None
    assert {c.citizen_id for c in confirmed.citizens} == {citizen}
    assert await _citizen_of(orgs, charity) == citizen
    assert await _involved_orgs(orgs, citizen) == ["housing", "voluntary"]
    assert (await service.review_queue(limit=10, offset=0, by=STEWARD)).total == 0
    joined = await orgs.snapshot()

    await _rebuild(orgs)
    assert await orgs.snapshot() == joined

    charity_ref = RecordRef(org="voluntary", person_id=charity.person_id)
    split = await service.unlink(
        citizen, charity_ref, reason="different person", by=CHARITY_STEWARD
    )
    apart = await _citizen_of(orgs, charity)
    assert apart is not None
    assert apart != citizen
    assert {c.citizen_id for c in split.citizens} == {citizen, apart}
    assert await _involved_orgs(orgs, citizen) == ["housing"]
    assert await _involved_orgs(orgs, apart) == ["voluntary"]
    assert await _timeline_orgs(orgs, citizen) == {"housing"}
    assert await _timeline_orgs(orgs, apart) == {"voluntary"}
    separated = await orgs.snapshot()

    await _rebuild(orgs)
    assert await orgs.snapshot() == separated
    assert (
        await service.review_queue(limit=10, offset=0, by=STEWARD)
    ).total == 0  # decided: not again

    async with orgs.pool.acquire() as conn:
        decisions = await DecisionStore(conn, decisions_schema_of(orgs.schema)).events()
    assert [e.type for e in decisions] == [
        "identity.linked",
        "identity.linked",
        "identity.unlinked",
    ]
    assert [e.actor for e in decisions] == [
        "housing/data_steward/k1",
        "voluntary/data_steward/k2",
        "voluntary/data_steward/k2",
    ]


async def test_a_rejected_pair_is_never_joined_even_when_later_details_agree_fully(
    orgs: Organisations,
) -> None:
    housing, charity = await _david_and_dave(orgs)
    service = stewardship(orgs)
    pair = (await service.review_queue(limit=10, offset=0, by=STEWARD)).pairs[0]
    await service.reject(pair.pair_id, reason="twin brother", by=STEWARD)
    # the charity re-registers with details that would link automatically (16.5)
    again = charity.registered(
        AT + timedelta(days=1), details(nhs_number=None, given_name="Dave", postcode="BS5 6XX")
    )
    await orgs.record([again])
    await orgs.catch_up()
    assert await _citizen_of(orgs, housing) != await _citizen_of(orgs, charity)
    assert (await service.review_queue(limit=10, offset=0, by=STEWARD)).total == 0


async def test_a_changed_registration_moves_the_record_and_refolds_both_citizens(
    orgs: Organisations,
) -> None:
    housing, charity = await _david_and_dave(orgs, postcode="BS5 6XX")
    citizen = await _citizen_of(orgs, housing)
    assert await _citizen_of(orgs, charity) == citizen
    corrected = charity.registered(
        AT + timedelta(days=1),
        details(nhs_number=None, given_name="Dave", family_name="Jones", postcode="BS1 4DJ"),
    )
    await orgs.record([corrected])
    await orgs.catch_up()
    moved = await _citizen_of(orgs, charity)
    assert moved is not None
    assert moved != citizen
    assert citizen is not None
    assert await _involved_orgs(orgs, citizen) == ["housing"]
    assert await _involved_orgs(orgs, moved) == ["voluntary"]


async def test_twins_with_their_own_nhs_numbers_are_never_paired(orgs: Organisations) -> None:
    _, first = _person("housing", AT, postcode="BS5 6XX")
    _, second = _person(
        "voluntary", AT, nhs_number="4010232137", given_name="Daniel", postcode="BS5 6XX"
    )
    await orgs.record([*first, *second])
    await orgs.catch_up()
    assert (await stewardship(orgs).review_queue(limit=10, offset=0, by=STEWARD)).total == 0
    assert await orgs.pool.fetchval(f"SELECT count(*) FROM {orgs.schema}.citizens") == 2  # noqa: S608


async def test_thresholds_are_configuration_per_place(orgs: Organisations) -> None:
    """The same pair links in a place with a lower link threshold and waits elsewhere."""
    strict = MatchingConfig(places={"E05001234": Thresholds(link=20, review=6)})
    housing, charity = await _david_and_dave(
        orgs, postcode="BS5 6XX", consumer=orgs.consumer(matching=strict)
    )
    assert await _citizen_of(orgs, housing) != await _citizen_of(orgs, charity)
    queue = await stewardship(orgs, matching=strict).review_queue(limit=10, offset=0, by=STEWARD)
    assert queue.total == 1


@pytest.mark.parametrize("twins_rule", [True, False])
async def test_twins_wait_for_a_steward_whatever_they_score_unless_the_place_lifts_the_rule(
    orgs: Organisations, twins_rule: bool
) -> None:
    """Harry and David Smith, one birthday, one address, no shared NHS number: linked only
    where the place has lifted the twins rule, however low its link threshold."""
    lenient = MatchingConfig(default=Thresholds(link=10, review=6, twins_rule=twins_rule))
    housing, housing_events = _person("housing", AT, postcode="BS5 6XX")
    twin, twin_events = _person(
        "voluntary", AT + timedelta(hours=1), nhs_number=None, given_name="Harry",
        postcode="BS5 6XX",
    )  # fmt: skip
    await orgs.record([*housing_events, *twin_events])
    await orgs.catch_up(orgs.consumer(matching=lenient))
    later, later_events = _person("mental_health", AT + timedelta(hours=2), postcode="BS5 6XX")
    await orgs.record(later_events)  # re-links David's component: its pairs read back stored
    await orgs.catch_up(orgs.consumer(matching=lenient))

    linked = await _citizen_of(orgs, housing) == await _citizen_of(orgs, twin)
    queue = await stewardship(orgs, matching=lenient).review_queue(limit=10, offset=0, by=STEWARD)
    assert linked is not twins_rule
    assert await _citizen_of(orgs, later) == await _citizen_of(orgs, housing)  # NHS number
    assert queue.total == (1 if twins_rule else 0)


async def test_the_same_events_in_another_order_give_the_same_citizens(
    orgs: Organisations, unique_schema: Callable[[str], str]
) -> None:
    """Every organisation's log caught up alone, in each order, builds the same links."""
    people: list[Envelope] = []
    for n in range(12):
        born = date(1980, 1, 1) + timedelta(days=n // 3)
        who = {"family_name": "Okafor", "date_of_birth": born}
        people += _person("housing", AT, nhs_number=None, given_name="Femi", **who)[1]
        people += _person("voluntary", AT, nhs_number=None, given_name="Femi", **who)[1]
        people += _person("mental_health", AT, nhs_number=None, given_name="Femi", **who)[1]
    await orgs.record(people)
    await orgs.catch_up()
    expected = await orgs.snapshot()
    for order in (["voluntary", "mental_health", "housing"], ["mental_health", "housing"]):
        schema = unique_schema("order")
        await prepare_read_model(orgs.pool, schema)
        consumer = orgs.consumer(schema)
        logs = {log.source: log for log in orgs.logs()}
        for org in [*order, *logs]:
            await catch_up(consumer, [logs[org]])
        assert (await orgs.snapshot(schema))[2] == expected[2]


async def _rebuild(orgs: Organisations) -> None:
    await rebuild_projection(
        pool=orgs.pool, sources=orgs.sources, schema=orgs.schema, id_secret=ID_SECRET
    )


@pytest.fixture
async def api(orgs: Organisations, database_url: str) -> AsyncIterator[httpx.AsyncClient]:
    """A client of the projection API (no key set: each test sends its own)."""
    app = create_projection_app(database_url=database_url, id_secret=ID_SECRET, schema=orgs.schema)
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
            yield client


async def _key(orgs: Organisations, role: str, org: str = "housing") -> dict[str, str]:
    key = await ApiKeyStore(orgs.pool).issue(org=org, role=role)  # type: ignore[arg-type]
    return {"Authorization": f"Bearer {key}"}


def _fields(response: httpx.Response) -> list[tuple[str, str]]:
    return [(f["field"], f["rule"]) for f in response.json()["error"]["fields"]]


async def test_only_data_stewards_review_and_decide(
    orgs: Organisations, api: httpx.AsyncClient
) -> None:
    frontline = await _key(orgs, "frontline")
    for method, path in (
        ("GET", "/v1/identity/review"),
        ("GET", "/v1/identity/links/awaiting"),
        ("POST", f"/v1/identity/review/{uuid4()}/confirm"),
        ("POST", f"/v1/citizens/{uuid4()}/unlink"),
        ("POST", "/v1/identity/links"),
    ):
        response = await api.request(method, path, headers=frontline, json={"reason": "x"})
        assert response.status_code == 403, path
        assert response.json()["error"]["code"] == "role_not_allowed"


async def test_the_review_api_end_to_end_with_precise_errors(
    orgs: Organisations, api: httpx.AsyncClient
) -> None:
    housing, charity = await _david_and_dave(orgs)
    steward = await _key(orgs, "data_steward")
    charity_steward = await _key(orgs, "data_steward", "voluntary")

    queue = (await api.get("/v1/identity/review", headers=steward)).json()
    assert queue["total"] == 1
    pair_id = queue["pairs"][0]["pair_id"]

    unknown = await api.post(
        f"/v1/identity/review/{uuid4()}/confirm", headers=steward, json={"reason": "x"}
    )
    assert unknown.status_code == 404
    no_reason = await api.post(f"/v1/identity/review/{pair_id}/confirm", headers=steward, json={})
    assert no_reason.status_code == 422
    assert _fields(no_reason) == [("body.reason", "missing")]

    confirmed = await api.post(
        f"/v1/identity/review/{pair_id}/confirm", headers=steward, json={"reason": "checked"}
    )
    assert confirmed.status_code == 200
    assert (confirmed.json()["type"], confirmed.json()["awaiting"]) == (
        "identity.linked",
        ["voluntary"],
    )
    assert await _citizen_of(orgs, charity) != await _citizen_of(orgs, housing)
    decisions = await _decisions_recorded(orgs)
    again = await api.post(  # a retry, or a second steward: one decision is one event
        f"/v1/identity/review/{pair_id}/confirm", headers=steward, json={"reason": "checked"}
    )
    assert again.status_code == 409
    assert again.json()["error"]["code"] == "already_decided"
    assert await _decisions_recorded(orgs) == decisions
    seconded = await api.post(
        f"/v1/identity/review/{pair_id}/confirm", headers=charity_steward, json={"reason": "yes"}
    )
    assert (seconded.status_code, seconded.json()["awaiting"]) == (200, [])
    citizen = await _citizen_of(orgs, housing)
    assert await _citizen_of(orgs, charity) == citizen

    stranger = {"org": "voluntary", "person_id": str(uuid4())}
    record = {"org": "housing", "person_id": str(housing.person_id)}
    unknown_record = await api.post(
        "/v1/identity/links", headers=steward, json={"a": record, "b": stranger, "reason": "x"}
    )
    assert unknown_record.status_code == 422
    assert _fields(unknown_record) == [("body.b", "unknown_record")]
    same_twice = await api.post(
        "/v1/identity/links", headers=steward, json={"a": record, "b": record, "reason": "x"}
    )
    assert same_twice.status_code == 422
    assert _fields(same_twice) == [("body", "same_record")]

    not_member = await api.post(
        f"/v1/citizens/{citizen}/unlink",
        headers=charity_steward,
        json={**stranger, "reason": "wrongly joined"},
    )
    assert not_member.status_code == 422
    assert _fields(not_member) == [("body.person_id", "not_part_of_citizen")]
    missing = await api.post(
        f"/v1/citizens/{uuid4()}/unlink", headers=steward, json={**record, "reason": "x"}
    )
    assert missing.status_code == 404

    not_theirs = await api.post(  # housing's steward may not split the charity's record off
        f"/v1/citizens/{citizen}/unlink",
        headers=steward,
        json={"org": "voluntary", "person_id": str(charity.person_id), "reason": "wrong"},
    )
    assert not_theirs.status_code == 403
    assert not_theirs.json()["error"]["code"] == "not_your_records"
    split = await api.post(
        f"/v1/citizens/{citizen}/unlink",
        headers=charity_steward,
        json={"org": "voluntary", "person_id": str(charity.person_id), "reason": "wrong"},
    )
    assert split.status_code == 200
    assert len({c["citizen_id"] for c in split.json()["citizens"]}) == 2

    relinked = await api.post(
        "/v1/identity/links",
        headers=steward,
        json={
            "a": record,
            "b": {"org": "voluntary", "person_id": str(charity.person_id)},
            "reason": "it was him after all",
        },
    )
    assert relinked.status_code == 200
    assert relinked.json()["awaiting"] == ["voluntary"]
    assert await _citizen_of(orgs, charity) != citizen
    charity_links = await api.post(
        "/v1/identity/links",
        headers=charity_steward,
        json={
            "a": {"org": "voluntary", "person_id": str(charity.person_id)},
            "b": record,
            "reason": "agreed with housing",
        },
    )
    assert (charity_links.status_code, charity_links.json()["awaiting"]) == (200, [])
    assert await _citizen_of(orgs, charity) == citizen


async def test_a_link_never_scored_waits_in_the_other_stewards_list_until_seconded(
    orgs: Organisations, api: httpx.AsyncClient
) -> None:
    """Housing's steward links its Robert Jones to the charity's "Bobby Jonas", born a year
    apart at another postcode (no candidate pair: nothing to review). The charity's steward
    finds it in the links awaiting the charity, with how the fields compare and none of
    housing's values; its link joins them and empties the list."""
    robert, robert_events = _person(
        "housing", AT, given_name="Robert", family_name="Jones", postcode="BS5 6XX"
    )
    bobby, bobby_events = _person(
        "voluntary", AT, nhs_number=None, given_name="Bobby", family_name="Jonas",
        date_of_birth=date(1980, 3, 12), postcode="LS1 4AP",
    )  # fmt: skip
    await orgs.record(robert_events + bobby_events)
    await orgs.catch_up()
    housing_steward = await _key(orgs, "data_steward")
    charity_steward = await _key(orgs, "data_steward", "voluntary")
    assert (await api.get("/v1/identity/review", headers=charity_steward)).json()["total"] == 0
    pair = {
        "a": {"org": "housing", "person_id": str(robert.person_id)},
        "b": {"org": "voluntary", "person_id": str(bobby.person_id)},
    }
    linked = await api.post(
        "/v1/identity/links", headers=housing_steward, json={**pair, "reason": "he told us"}
    )
    assert (linked.status_code, linked.json()["awaiting"]) == (200, ["voluntary"])
    mine = (await api.get("/v1/identity/links/awaiting", headers=housing_steward)).json()
    assert mine["total"] == 0  # housing has said so: it awaits the charity, not housing

    awaiting = await api.get("/v1/identity/links/awaiting", headers=charity_steward)
    assert awaiting.status_code == 200, awaiting.text
    [asked] = awaiting.json()["pairs"]
    assert asked["linked_by"] == ["housing"]
    sides = {side["org"]: side for side in (asked["a"], asked["b"])}
    assert (sides["housing"]["person_id"], sides["housing"]["details_shown"]) == (
        str(robert.person_id),
        False,
    )
    assert sides["housing"]["given_name"] is None
    assert sides["voluntary"]["given_name"] == "Bobby"
    evidence = {e["field"]: e["agreement"] for e in asked["evidence"]}
    assert evidence["given_name"] != "exact"
    assert evidence["postcode"] == "disagree"

    seconded = await api.post(
        "/v1/identity/links", headers=charity_steward, json={**pair, "reason": "Bobby agrees"}
    )
    assert (seconded.status_code, seconded.json()["takes_effect"]) == (200, True)
    assert await _citizen_of(orgs, robert) == await _citizen_of(orgs, bobby)
    after = (await api.get("/v1/identity/links/awaiting", headers=charity_steward)).json()
    assert (after["total"], after["pairs"]) == (0, [])


async def _decisions_recorded(orgs: Organisations) -> int:
    count: int = await orgs.pool.fetchval(
        f"SELECT count(*) FROM {orgs.schema}_decisions.decisions"  # noqa: S608
    )
    return count


async def test_a_decision_and_a_batch_at_once_leave_consistent_views(
    orgs: Organisations, database_url: str
) -> None:
    """A steward's link while the worker folds new events for the same people."""
    housing, charity = await _david_and_dave(orgs)
    more = [charity.case_opened(AT + timedelta(minutes=n), uuid4()) for n in range(1, 40)]
    await orgs.record(more)
    pool = await create_pool(database_url, max_size=4)
    try:
        service = IdentityStewardship(postgres_units(pool, orgs.schema), id_secret=ID_SECRET)
        decision = IdentityLinked(
            a=RecordRef(org="housing", person_id=housing.person_id),
            b=RecordRef(org="voluntary", person_id=charity.person_id),
            reason="checked",
        )
        await service.decide(decision, by=STEWARD)  # the second steward's link joins them
        await asyncio.gather(service.decide(decision, by=CHARITY_STEWARD), orgs.catch_up())
    finally:
        await pool.close()
    citizen = await _citizen_of(orgs, housing)
    assert citizen is not None
    view = await orgs.queries().citizen_view(citizen)
    assert view is not None
    voluntary = next(i for i in view.involvements if i.org == "voluntary")
    assert len(voluntary.cases) == 40
    snapshot = await orgs.snapshot()
    await _rebuild(orgs)
    assert await orgs.snapshot() == snapshot


async def test_a_pair_waiting_for_review_stays_queued_when_one_side_links_elsewhere(
    orgs: Organisations,
) -> None:
    """Mental health registers David by NHS number: he joins housing's record, and the
    charity's Dave still waits for a steward."""
    housing, _ = await _david_and_dave(orgs)
    health, health_events = _person("mental_health", AT + timedelta(days=1), postcode="BS1 4DJ")
    await orgs.record(health_events)
    await orgs.catch_up()
    assert await _citizen_of(orgs, health) == await _citizen_of(orgs, housing)
    charity_steward = DecisionRequest(  # the charity's record is in both pairs
        caller=Caller(key_id="k2", org="voluntary", role="data_steward"), correlation_id="c-2"
    )
    queue = await stewardship(orgs).review_queue(limit=10, offset=0, by=charity_steward)
    assert {(p.a.org, p.b.org) for p in queue.pairs} == {
        ("housing", "voluntary"),
        ("mental_health", "voluntary"),
    }


async def test_a_read_model_built_before_matching_says_it_needs_a_replay(
    orgs: Organisations,
) -> None:
    await _david_and_dave(orgs)
    await orgs.pool.execute(f"TRUNCATE {orgs.schema}.registrations")  # as before matching
    with structlog.testing.capture_logs() as logs:
        await warn_if_built_before_matching(orgs.pool, orgs.schema)
    assert [(e["event"], e["records"]) for e in logs] == [("identity_matching_needs_replay", 2)]
    await _rebuild(orgs)
    with structlog.testing.capture_logs() as logs:
        await warn_if_built_before_matching(orgs.pool, orgs.schema)
    assert logs == []


async def _warns_of_earlier_keys_until_a_replay(orgs: Organisations) -> None:
    """Start-up says the stored blocking keys are an earlier release's; after a replay, not."""
    with structlog.testing.capture_logs() as logs:
        await warn_if_built_before_matching(orgs.pool, orgs.schema)
    assert [(e["event"], e["blocking_keys_of_an_earlier_release"]) for e in logs] == [
        ("identity_matching_needs_replay", True)
    ]
    await _rebuild(orgs)
    with structlog.testing.capture_logs() as logs:
        await warn_if_built_before_matching(orgs.pool, orgs.schema)
    assert logs == []


async def test_records_kept_under_an_earlier_release_s_blocking_keys_say_a_replay_is_needed(
    orgs: Organisations,
) -> None:
    """An earlier release looked candidates up by family-name sound and birth year (`name:`):
    new records are not, so old ones would not meet them until the view is rebuilt."""
    await _david_and_dave(orgs)
    await orgs.pool.execute(
        f"INSERT INTO {orgs.schema}.blocking_keys (key, org, person_id)"  # noqa: S608 - the test's schema
        f" SELECT 'name:S530:1979', org, person_id FROM {orgs.schema}.registrations"
    )
    await _warns_of_earlier_keys_until_a_replay(orgs)


async def test_records_kept_before_the_home_key_say_a_replay_is_needed(
    orgs: Organisations,
) -> None:
    """The release before looked nobody up by postcode and family name (`home:`): its
    records lack that key, so a newcomer whose birth date and given name were both mistyped
    would not meet them until the view is rebuilt."""
    await _david_and_dave(orgs)
    with structlog.testing.capture_logs() as logs:
        await warn_if_built_before_matching(orgs.pool, orgs.schema)
    assert logs == []
    await orgs.pool.execute(
        f"DELETE FROM {orgs.schema}.blocking_keys WHERE key LIKE 'home:%'"  # noqa: S608
    )
    await _warns_of_earlier_keys_until_a_replay(orgs)


async def test_a_place_still_on_the_default_model_is_told_to_train_one(
    orgs: Organisations, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Start-up says when a place with enough records still matches with the untrained
    default model (its stewards' queue is longer than it need be), and not once it uses
    its own."""
    await _david_and_dave(orgs)
    with structlog.testing.capture_logs() as logs:
        await advise_training_once_enough_records(orgs.pool, orgs.schema)
    assert logs == []  # two records: nothing to learn from yet
    monkeypatch.setattr(projection_bootstrap, "TRAIN_FROM", 2)
    with structlog.testing.capture_logs() as logs:
        await advise_training_once_enough_records(orgs.pool, orgs.schema)
        await advise_training_once_enough_records(orgs.pool, orgs.schema, model="learnt-1")
    assert [(e["event"], e["records"], e["pairs_in_review"]) for e in logs] == [
        ("identity_matching_model_untrained", 2, 1)
    ]


async def test_pairs_scored_by_another_model_say_a_replay_is_needed(
    orgs: Organisations,
) -> None:
    """The place trained a new model: pairs stored under the old one keep their old scores
    until a replay rescores them with the new one, which then says nothing."""
    await _david_and_dave(orgs)
    trained = MatchingConfig(
        model=DEFAULT_MODEL.model_copy(update={"version": "trained-2026-12-07"})
    )
    with structlog.testing.capture_logs() as logs:
        await warn_if_built_before_matching(orgs.pool, orgs.schema, model="trained-2026-12-07")
    assert [(e["event"], e["pairs_scored_by_another_model"]) for e in logs] == [
        ("identity_matching_needs_replay", 1)
    ]
    await rebuild_projection(
        pool=orgs.pool, sources=orgs.sources, schema=orgs.schema, id_secret=ID_SECRET,
        matching=trained,
    )  # fmt: skip
    with structlog.testing.capture_logs() as logs:
        await warn_if_built_before_matching(orgs.pool, orgs.schema, model="trained-2026-12-07")
    assert logs == []


async def test_an_unlink_too_large_for_one_event_is_refused_precisely(
    orgs: Organisations, api: httpx.AsyncClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    housing, charity = await _david_and_dave(orgs, postcode="BS5 6XX")
    citizen = await _citizen_of(orgs, housing)
    monkeypatch.setattr("services.projection.service_layer.stewardship.MAX_RECORDS_SPLIT_FROM", 0)
    response = await api.post(
        f"/v1/citizens/{citizen}/unlink",
        headers=await _key(orgs, "data_steward", "voluntary"),
        json={"org": "voluntary", "person_id": str(charity.person_id), "reason": "wrong"},
    )
    assert response.status_code == 422
    assert _fields(response) == [("path.citizen_id", "too_many_records")]
    assert await _citizen_of(orgs, charity) == citizen


async def test_a_change_of_address_moves_the_record_to_the_match_it_now_makes(
    orgs: Organisations,
) -> None:
    """The charity's Dave, no postcode: a pair to review. It records his postcode (BS5 6XX,
    housing's David's): they are one citizen. He moves away: two again. A replay agrees."""
    housing, charity = await _david_and_dave(orgs)
    assert await _citizen_of(orgs, housing) != await _citizen_of(orgs, charity)

    change = DetailsChange.model_validate({"postcode": "BS5 6XX"})
    later = AT + timedelta(days=2)
    await orgs.record(
        [charity.event(PersonDetailsChanged(person_id=charity.person_id, changes=change), later)]
    )
    await orgs.catch_up()
    citizen = await _citizen_of(orgs, housing)
    assert await _citizen_of(orgs, charity) == citizen
    assert citizen is not None
    view = await orgs.queries().citizen_view(citizen)
    assert view is not None
    [dave] = [i for i in view.involvements if i.org == "voluntary"]
    assert dave.registration is not None
    assert (dave.registration.known_as.postcode, dave.registration.changed_at) == ("BS5 6XX", later)

    away = DetailsChange.model_validate({"postcode": "LS1 4AP"})
    await orgs.record(
        [
            charity.event(
                PersonDetailsChanged(person_id=charity.person_id, changes=away),
                later + timedelta(days=1),
            )
        ]
    )
    await orgs.catch_up()
    assert await _citizen_of(orgs, charity) != await _citizen_of(orgs, housing)
    moved = await orgs.snapshot()
    await _rebuild(orgs)
    assert await orgs.snapshot() == moved


def _moved(person: PersonAt, postcode: str, at: datetime) -> Envelope:
    """Return the event recording that the organisation knows the person at `postcode` now."""
    change = DetailsChange.model_validate({"postcode": postcode})
    return person.event(PersonDetailsChanged(person_id=person.person_id, changes=change), at)
