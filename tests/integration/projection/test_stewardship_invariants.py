"""Data stewards' decisions over HTTP against real PostgreSQL: a steward decides only about
their own organisation's records, and no sequence of decisions (nor a replay of old ones)
gives one NHS number two citizens or one citizen two NHS numbers."""

import random
from collections.abc import AsyncIterator
from datetime import UTC, date, datetime, timedelta
from typing import Any
from uuid import uuid4

import httpx
import pytest
import structlog.testing

from events.consent import ConsentWithdrawn
from events.envelope import OrgId
from events.identity import IdentityLinked, IdentityNotSamePerson, RecordRef
from services.projection.adapters.decision_store import DecisionStore, decisions_schema_of
from services.projection.bootstrap import rebuild_projection
from services.projection.domain.identity_decisions import IdentityDecision
from tests.factories import an_envelope
from tests.integration.projection.conftest import ID_SECRET, Organisations
from tests.integration.projection.reading import key_of, projection_api
from tests.unit.projection.factories import PersonAt, details

AT = datetime(2026, 5, 4, 9, 0, tzinfo=UTC)
BELLA, VICTORIA = "5737830861", "9850588624"
ROBERT = "1573681938"
CRISIS = "crisis admission after an overdose"


@pytest.fixture
async def api(orgs: Organisations, database_url: str) -> AsyncIterator[httpx.AsyncClient]:
    async with projection_api(orgs, database_url) as client:
        yield client


async def _register(
    orgs: Organisations, org: OrgId, reason: str = "support", **who: Any
) -> PersonAt:
    person = PersonAt(org)
    await orgs.record(
        [person.registered(AT, details(**who)), person.case_opened(AT, uuid4(), reason)]
    )
    await orgs.catch_up()
    return person


def _ref(person: PersonAt) -> dict[str, str]:
    return {"org": person.org, "person_id": str(person.person_id)}


async def _citizen_of(orgs: Organisations, person: PersonAt) -> str:
    value = await orgs.pool.fetchval(
        f"SELECT citizen_id FROM {orgs.schema}.person_links"  # noqa: S608
        " WHERE org = $1 AND person_id = $2",
        person.org,
        str(person.person_id),
    )
    return str(value)


async def _decisions_recorded(orgs: Organisations) -> int:
    count: int = await orgs.pool.fetchval(
        f"SELECT count(*) FROM {orgs.schema}_decisions.decisions"  # noqa: S608
    )
    return count


async def _broken_invariants(orgs: Organisations) -> list[str]:
    """Return each NHS number held by two citizens and each citizen holding two numbers."""
    rows = await orgs.pool.fetch(
        f"SELECT r.nhs_number, l.citizen_id FROM {orgs.schema}.registrations r"  # noqa: S608
        f" JOIN {orgs.schema}.person_links l USING (org, person_id)"
        " WHERE r.nhs_number IS NOT NULL"
    )
    citizens: dict[str, set[str]] = {}
    numbers: dict[str, set[str]] = {}
    for row in rows:
        citizens.setdefault(row["nhs_number"], set()).add(str(row["citizen_id"]))
        numbers.setdefault(str(row["citizen_id"]), set()).add(row["nhs_number"])
    return [f"NHS number {n} in {len(c)} citizens" for n, c in citizens.items() if len(c) > 1] + [
        f"citizen {c} holds {sorted(n)}" for c, n in numbers.items() if len(n) > 1
    ]


async def _objection_on_housings_record(orgs: Organisations) -> tuple[PersonAt, PersonAt, str]:
    """Mental health (crisis case) and the charity share David's NHS number; housing's Dave
    (none) joins them on a strong match and records his objection to the charity seeing
    mental health's records. Return housing's and the charity's records and the citizen."""
    health = await _register(orgs, "mental_health", CRISIS, postcode="BS5 6XX")
    charity = await _register(orgs, "voluntary", postcode="BS5 6XX")
    housing = await _register(
        orgs, "housing", nhs_number=None, given_name="Dave", postcode="BS5 6XX"
    )
    objection = ConsentWithdrawn(
        person_id=housing.person_id, sources=("mental_health",), recipients=("voluntary",),
        purposes=("direct_care",),
    )  # fmt: skip
    await orgs.record([housing.event(objection, AT + timedelta(minutes=1))])
    await orgs.catch_up()
    citizen = await _citizen_of(orgs, health)
    assert await _citizen_of(orgs, housing) == citizen
    return housing, charity, citizen


async def _refused_and_nothing_changed(
    answer: httpx.Response,
    orgs: Organisations,
    api: httpx.AsyncClient,
    *,
    housing: PersonAt,
    citizen: str,
) -> None:
    """The decision was refused as not the steward's to make, and changed nothing: nothing
    recorded, housing's record where it was, the objection still hiding what it hid."""
    assert answer.status_code == 403, answer.text
    assert answer.json()["error"]["code"] == "not_your_records"
    assert await _decisions_recorded(orgs) == 0
    assert await _citizen_of(orgs, housing) == citizen
    await _still_hidden_from_the_charity(orgs, api, citizen)


async def _still_hidden_from_the_charity(
    orgs: Organisations, api: httpx.AsyncClient, citizen: str
) -> None:
    view = await api.get(f"/v1/citizens/{citizen}", headers=await key_of(orgs, "voluntary"))
    assert view.json()["access"] == "full"
    assert CRISIS not in view.text
    assert "mental_health" not in view.text


async def test_a_steward_cannot_split_another_organisations_record_off_with_its_objection(
    orgs: Organisations, api: httpx.AsyncClient
) -> None:
    """The charity's steward may not unlink housing's record (and the objection it carries)
    from the citizen: 403, nothing recorded, mental health's records still hidden."""
    housing, _, citizen = await _objection_on_housings_record(orgs)
    steward = await key_of(orgs, "voluntary", "data_steward")

    split = await api.post(
        f"/v1/citizens/{citizen}/unlink",
        headers=steward,
        json={**_ref(housing), "reason": "not the same man"},
    )

    await _refused_and_nothing_changed(split, orgs, api, housing=housing, citizen=citizen)


async def test_a_steward_cannot_part_other_organisations_records_by_keeping_their_own_apart(
    orgs: Organisations, api: httpx.AsyncClient
) -> None:
    """The same objection: "the charity's David is not housing's Dave" would keep the charity
    with mental health and send housing's record (and the objection) away; that parts
    housing's record from mental health's, which is not the charity's to decide: 403."""
    housing, charity, citizen = await _objection_on_housings_record(orgs)
    steward = await key_of(orgs, "voluntary", "data_steward")

    apart = await api.post(
        "/v1/identity/not-same-person",
        headers=steward,
        json={"a": _ref(charity), "b": _ref(housing), "reason": "not the same man"},
    )

    await _refused_and_nothing_changed(apart, orgs, api, housing=housing, citizen=citizen)


async def _decide(
    api: httpx.AsyncClient, steward: dict[str, str], kind: str, a: PersonAt, b: PersonAt
) -> httpx.Response:
    path = {"link": "/v1/identity/links", "apart": "/v1/identity/not-same-person"}[kind]
    return await api.post(path, headers=steward, json={"a": _ref(a), "b": _ref(b), "reason": "x"})


async def test_a_keep_apart_that_moved_nothing_cannot_part_others_through_a_later_own_link(
    orgs: Organisations, api: httpx.AsyncClient
) -> None:
    """Mental health may not keep its record apart from the charity's when that parts the
    charity's from housing's; nor in two steps: its other record kept apart from the
    charity's (nothing moves), then its two records linked (its own: one steward), which
    would take the charity's record out. The link is refused, 403, and changes nothing."""
    who = {"nhs_number": None, "given_name": "Robert", "family_name": "Jones"}
    health = await _register(
        orgs, "mental_health", **who, postcode="BS5 6XX", address="1 High Street"
    )
    charity = await _register(orgs, "voluntary", **who, postcode="BS5 6XX")
    housing = await _register(orgs, "housing", **who, address="1 High Street")
    other = await _register(orgs, "mental_health", **who, date_of_birth=date(1979, 12, 3))
    citizen = await _citizen_of(orgs, health)
    assert {await _citizen_of(orgs, p) for p in (charity, housing)} == {citizen}
    assert await _citizen_of(orgs, other) != citizen
    steward = await key_of(orgs, "mental_health", "data_steward")

    direct = await _decide(api, steward, "apart", health, charity)
    assert (direct.status_code, direct.json()["error"]["code"]) == (403, "not_your_records")
    first = await _decide(api, steward, "apart", other, charity)
    assert first.status_code == 200, first.text
    then = await _decide(api, steward, "link", health, other)

    assert (then.status_code, then.json()["error"]["code"]) == (403, "not_your_records")
    assert await _decisions_recorded(orgs) == 1
    assert {await _citizen_of(orgs, p) for p in (health, charity, housing)} == {citizen}
    assert await _citizen_of(orgs, other) != citizen


async def test_a_keep_apart_of_two_own_records_may_not_send_one_off_with_anothers(
    orgs: Organisations, api: httpx.AsyncClient
) -> None:
    """Housing's two records, linked by its steward; mental health's record is with the
    charity's (housing kept it apart from its first). Keeping housing's two apart would
    let its second take mental health's record from the charity's (a better score; the
    charity's NHS number then keeps it out): housing choosing theirs, so 403."""
    who = {"given_name": "Robert", "family_name": "Jones"}
    first = await _register(
        orgs, "housing", **who, nhs_number=None, date_of_birth=date(1979, 12, 3)
    )
    second = await _register(
        orgs, "housing", **who, nhs_number=ROBERT, postcode="BS5 6XX", address="1 High Street"
    )
    health = await _register(
        orgs, "mental_health", **who, nhs_number=None, postcode="BS5 6XX", address="1 High Street"
    )
    charity = await _register(orgs, "voluntary", **who, nhs_number=VICTORIA, postcode="BS5 6XX")
    steward = await key_of(orgs, "housing", "data_steward")
    assert (await _decide(api, steward, "link", first, second)).status_code == 200
    assert (await _decide(api, steward, "apart", first, health)).status_code == 200
    assert await _citizen_of(orgs, health) == await _citizen_of(orgs, charity)

    apart = await _decide(api, steward, "apart", first, second)

    assert (apart.status_code, apart.json()["error"]["code"]) == (403, "not_your_records")
    assert await _decisions_recorded(orgs) == 2
    assert await _citizen_of(orgs, health) == await _citizen_of(orgs, charity)
    assert await _citizen_of(orgs, first) == await _citizen_of(orgs, second)


async def test_an_unlink_takes_the_record_out_alone_and_what_it_joined_waits_for_review(
    orgs: Organisations, api: httpx.AsyncClient
) -> None:
    """Housing's record joins the charity's and mental health's (both score high with it,
    less with each other). Housing may take its own record out (it chooses none of theirs):
    theirs, joined only through it, part, and their pair waits in both stewards' queues;
    housing may not keep its record with one of them and send the other away (403)."""
    who = {"nhs_number": None, "given_name": "Robert", "family_name": "Jones"}
    housing = await _register(orgs, "housing", **who, postcode="BS5 6XX", address="1 High Street")
    charity = await _register(orgs, "voluntary", **who, postcode="BS5 6XX")
    health = await _register(orgs, "mental_health", **who, address="1 High Street")
    citizen = await _citizen_of(orgs, housing)
    assert {await _citizen_of(orgs, p) for p in (charity, health)} == {citizen}
    housing_steward = await key_of(orgs, "housing", "data_steward")

    choosing = await _decide(api, housing_steward, "apart", housing, charity)
    assert (choosing.status_code, choosing.json()["error"]["code"]) == (403, "not_your_records")
    split = await api.post(
        f"/v1/citizens/{citizen}/unlink",
        headers=housing_steward,
        json={**_ref(housing), "reason": "not him"},
    )

    assert split.status_code == 200, split.text
    assert len({await _citizen_of(orgs, p) for p in (housing, charity, health)}) == 3
    for org in ("voluntary", "mental_health"):
        steward = await key_of(orgs, org, "data_steward")
        queue = (await api.get("/v1/identity/review", headers=steward)).json()["pairs"]
        assert [{p["a"]["org"], p["b"]["org"]} for p in queue] == [{"voluntary", "mental_health"}]


async def test_a_steward_cannot_merge_two_people_with_different_nhs_numbers(
    orgs: Organisations, api: httpx.AsyncClient
) -> None:
    """Housing's Bella and mental health's Victoria: two valid NHS numbers, two people; 409."""
    bella = await _register(orgs, "housing", nhs_number=BELLA, given_name="Bella")
    victoria = await _register(orgs, "mental_health", nhs_number=VICTORIA, given_name="Victoria")
    steward = await key_of(orgs, "housing", "data_steward")

    for path in ("/v1/identity/links", "/v1/identity/links"):  # a retry is refused the same
        linked = await api.post(
            path,
            headers=steward,
            json={"a": _ref(bella), "b": _ref(victoria), "reason": "same woman"},
        )
        assert linked.status_code == 409, linked.text
        assert linked.json()["error"]["code"] == "different_nhs_numbers"
    assert await _decisions_recorded(orgs) == 0
    assert await _citizen_of(orgs, bella) != await _citizen_of(orgs, victoria)
    assert await _broken_invariants(orgs) == []


async def test_a_link_or_confirm_refuses_citizens_holding_different_nhs_numbers(
    orgs: Organisations, api: httpx.AsyncClient
) -> None:
    """Housing's David (one number) and mental health's Dave (none, but linked to the
    charity's David with another number): neither a link nor the review queue joins them."""
    david = await _register(orgs, "housing", nhs_number=BELLA)
    other_david = await _register(orgs, "voluntary", nhs_number=VICTORIA, postcode="BS5 6XX")
    dave = await _register(
        orgs, "mental_health", nhs_number=None, given_name="Dave", postcode="BS5 6XX"
    )
    assert await _citizen_of(orgs, dave) == await _citizen_of(orgs, other_david)
    steward = await key_of(orgs, "housing", "data_steward")
    queue = (await api.get("/v1/identity/review", headers=steward)).json()
    assert [(p["a"]["org"], p["b"]["org"]) for p in queue["pairs"]] == [
        ("housing", "mental_health")
    ]

    confirmed = await api.post(
        f"/v1/identity/review/{queue['pairs'][0]['pair_id']}/confirm",
        headers=steward,
        json={"reason": "same man"},
    )
    linked = await api.post(
        "/v1/identity/links",
        headers=steward,
        json={"a": _ref(david), "b": _ref(dave), "reason": "same man"},
    )

    for refused in (confirmed, linked):
        assert refused.status_code == 409, refused.text
        assert refused.json()["error"]["code"] == "different_nhs_numbers"
    assert await _decisions_recorded(orgs) == 0
    assert await _citizen_of(orgs, david) != await _citizen_of(orgs, dave)
    assert await _broken_invariants(orgs) == []


async def test_one_nhs_number_stays_one_citizen_through_confirm_unlink_and_confirm(
    orgs: Organisations, api: httpx.AsyncClient
) -> None:
    """Robert Jones at housing and mental health (one NHS number), "Bob Jones" at the
    charity: confirmed, split off, confirmed again; his records sharing the number never
    part, and splitting one of them off is 409."""
    robert = {"given_name": "Robert", "family_name": "Jones"}
    housing = await _register(orgs, "housing", nhs_number=ROBERT, **robert)
    health = await _register(orgs, "mental_health", nhs_number=ROBERT, **robert)
    bob = await _register(orgs, "voluntary", nhs_number=None, given_name="Bob", family_name="Jones")
    steward = await key_of(orgs, "voluntary", "data_steward")
    queue = (await api.get("/v1/identity/review", headers=steward)).json()
    [pair, *_] = queue["pairs"]
    confirm = f"/v1/identity/review/{pair['pair_id']}/confirm"
    [other] = {pair["a"]["org"], pair["b"]["org"]} - {"voluntary"}
    other_steward = await key_of(orgs, other, "data_steward")

    for by in (steward, other_steward):  # the stewards of both records' organisations
        assert (await api.post(confirm, headers=by, json={"reason": "same"})).status_code == 200
    citizen = await _citizen_of(orgs, health)
    assert await _citizen_of(orgs, bob) == citizen
    unlink = {**_ref(bob), "reason": "his son"}
    split = await api.post(f"/v1/citizens/{citizen}/unlink", headers=steward, json=unlink)
    assert split.status_code == 200, split.text
    for by in (steward, other_steward):  # the split ended both links: both again
        again = await api.post(confirm, headers=by, json={"reason": "it was him"})
        assert again.status_code == 200, again.text

    assert await _broken_invariants(orgs) == []
    assert {await _citizen_of(orgs, p) for p in (housing, health, bob)} == {citizen}
    housing_steward = await key_of(orgs, "housing", "data_steward")
    decisions = await _decisions_recorded(orgs)
    refused = [
        await api.post(
            f"/v1/citizens/{citizen}/unlink",
            headers=housing_steward,
            json={**_ref(housing), "reason": "not him"},
        ),
        await api.post(
            "/v1/identity/not-same-person",
            headers=housing_steward,
            json={"a": _ref(housing), "b": _ref(health), "reason": "not him"},
        ),
    ]
    for response in refused:
        assert response.status_code == 409, response.text
        assert response.json()["error"]["code"] == "shares_nhs_number"
    assert await _decisions_recorded(orgs) == decisions
    assert await _broken_invariants(orgs) == []


async def test_a_registration_corrected_to_another_nhs_number_leaves_the_citizen_it_was_linked_to(
    orgs: Organisations, api: httpx.AsyncClient
) -> None:
    """A steward linked the charity's Dave (no NHS number) to housing's David; the charity then
    records Dave's own NHS number, another: the link no longer holds, and says so in the log."""
    david = await _register(orgs, "housing", nhs_number=BELLA)
    dave = await _register(orgs, "voluntary", nhs_number=None, given_name="Dave")
    for org in ("housing", "voluntary"):
        linked = await api.post(
            "/v1/identity/links",
            headers=await key_of(orgs, org, "data_steward"),
            json={"a": _ref(david), "b": _ref(dave), "reason": "same man"},
        )
        assert linked.status_code == 200, linked.text
    assert await _citizen_of(orgs, dave) == await _citizen_of(orgs, david)

    corrected = details(nhs_number=VICTORIA, given_name="Dave")
    await orgs.record([dave.registered(AT + timedelta(days=1), corrected)])
    with structlog.testing.capture_logs() as logs:
        await orgs.catch_up()

    assert await _citizen_of(orgs, dave) != await _citizen_of(orgs, david)
    assert await _broken_invariants(orgs) == []
    assert [e["rules"] for e in logs if e["event"] == "identity_decisions_skipped"] == [
        ["different_nhs_numbers"]
    ]


async def _record_old_decision(
    orgs: Organisations, decision: IdentityDecision, at: datetime, *, by: str = "housing"
) -> None:
    """Store a decision as an earlier version recorded it, without today's checks."""
    envelope = an_envelope(
        org=by, type_=decision.event_type, category=decision.category, occurred_at=at,
        recorded_at=at, data=decision.model_dump(mode="json"),
    )  # fmt: skip
    async with orgs.pool.acquire() as conn:
        await DecisionStore(conn, decisions_schema_of(orgs.schema)).append(envelope, decision)


async def test_a_replay_skips_old_decisions_that_would_break_the_nhs_number_rules(
    orgs: Organisations,
) -> None:
    """Decisions recorded before the rules (two numbers joined, one number parted) are
    skipped and logged on replay; the replay finishes and the rules hold."""
    bella = await _register(orgs, "housing", nhs_number=BELLA, given_name="Bella")
    victoria = await _register(orgs, "mental_health", nhs_number=VICTORIA, given_name="Victoria")
    robert = await _register(orgs, "housing", nhs_number=ROBERT, given_name="Robert")
    roberts = await _register(orgs, "voluntary", nhs_number=ROBERT, given_name="Robert")
    merge = IdentityLinked(a=_record(bella), b=_record(victoria), reason="same")
    part = IdentityNotSamePerson(a=_record(robert), b=_record(roberts), reason="twins")
    await _record_old_decision(orgs, merge, AT + timedelta(days=1))
    await _record_old_decision(orgs, merge, AT + timedelta(days=1), by="mental_health")
    await _record_old_decision(orgs, part, AT + timedelta(days=1))

    with structlog.testing.capture_logs() as logs:
        await rebuild_projection(
            pool=orgs.pool, sources=orgs.sources, schema=orgs.schema, id_secret=ID_SECRET
        )

    assert await _broken_invariants(orgs) == []
    assert await _citizen_of(orgs, bella) != await _citizen_of(orgs, victoria)
    assert await _citizen_of(orgs, robert) == await _citizen_of(orgs, roberts)
    skipped = {
        rule
        for entry in logs
        if entry["event"] == "identity_decisions_skipped"
        for rule in entry["rules"]
    }
    assert skipped == {"different_nhs_numbers", "shares_nhs_number"}


def _record(person: PersonAt) -> RecordRef:
    return RecordRef(org=person.org, person_id=person.person_id)


class _Walk:
    """A seeded random walk of stewards' decisions over a few records of two NHS numbers."""

    def __init__(self, orgs: Organisations, api: httpx.AsyncClient, seed: int) -> None:
        self.orgs, self.api, self.rng = orgs, api, random.Random(seed)
        self.people: list[PersonAt] = []
        self.stewards: dict[str, dict[str, str]] = {}

    async def setup(self) -> None:
        jones = {"family_name": "Jones", "postcode": "BS5 6XX"}
        for org, number, name in (
            ("housing", ROBERT, "Robert"), ("mental_health", ROBERT, "Robert"),
            ("voluntary", None, "Bob"), ("housing", VICTORIA, "Rob"),
            ("mental_health", None, "Robbie"), ("voluntary", ROBERT, "Robert"),
        ):  # fmt: skip
            self.people.append(
                await _register(self.orgs, org, nhs_number=number, given_name=name, **jones)
            )
        for org in ("housing", "mental_health", "voluntary"):
            self.stewards[org] = await key_of(self.orgs, org, "data_steward")

    async def step(self) -> str:
        """Take one decision (as the steward of one of its records); return what it was."""
        a, b = self.rng.sample(self.people, 2)
        steward = self.stewards[a.org]
        kind = self.rng.choice(["link", "apart", "unlink", "confirm", "reject"])
        if kind == "unlink":
            path = f"/v1/citizens/{await _citizen_of(self.orgs, a)}/unlink"
            body: dict[str, Any] = {**_ref(a), "reason": "walk"}
        elif kind in ("confirm", "reject"):
            pairs = (await self.api.get("/v1/identity/review", headers=steward)).json()["pairs"]
            if not pairs:
                return f"{kind}: nothing to review"
            path = f"/v1/identity/review/{self.rng.choice(pairs)['pair_id']}/{kind}"
            body = {"reason": "walk"}
        else:
            path = "/v1/identity/links" if kind == "link" else "/v1/identity/not-same-person"
            body = {"a": _ref(a), "b": _ref(b), "reason": "walk"}
        recorded = await _decisions_recorded(self.orgs)
        response = await self.api.post(path, headers=steward, json=body)
        assert response.status_code in (200, 403, 409, 422), (kind, response.text)
        assert await _decisions_recorded(self.orgs) == recorded + (response.status_code == 200)
        return f"{kind} {response.status_code} {response.text[:80]}"


@pytest.mark.parametrize("seed", range(4))
async def test_no_order_of_decisions_breaks_the_nhs_number_rules(
    orgs: Organisations, api: httpx.AsyncClient, seed: int
) -> None:
    """Link, keep apart, unlink, confirm and reject in a random order: after every step one
    NHS number is one citizen and no citizen holds two; a replay rebuilds the same."""
    walk = _Walk(orgs, api, seed)
    await walk.setup()
    steps = []
    for _ in range(60):
        steps.append(await walk.step())
        assert await _broken_invariants(orgs) == [], steps
    walked = await orgs.snapshot()
    await rebuild_projection(
        pool=orgs.pool, sources=orgs.sources, schema=orgs.schema, id_secret=ID_SECRET
    )
    assert await orgs.snapshot() == walked
