"""The match store and the read model's identity statements against real PostgreSQL: each
one statement that must leave exactly what the separate statements it replaced left."""

from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta
from functools import partial
from uuid import UUID, uuid4

import pytest

from services.identity_matching.blocking import blocking_keys
from services.identity_matching.matching import FieldEvidence, PersonRecord
from services.projection.adapters.decision_store import DecisionStore, decisions_schema_of
from services.projection.adapters.match_store import MatchStore
from services.projection.adapters.read_model import PersonKey, ReadModel
from services.projection.adapters.read_model_schema import prepare_read_model
from services.projection.domain.identity_records import Registration, StoredPair
from services.runtime.database import Pool, transaction

AT = datetime(2026, 5, 4, 9, 0, tzinfo=UTC)
EVIDENCE = (FieldEvidence("family_name", "exact", 4.5), FieldEvidence("postcode", "typo", 1.25))


@pytest.fixture
async def schema(pool: Pool, unique_schema: Callable[[str], str]) -> str:
    name = unique_schema("proj")
    await prepare_read_model(pool, name)
    return name


def _registration(
    person: str,
    *,
    at: datetime = AT,
    org: str = "housing",
    nhs_number: str | None = None,
    given_name: str = "David",
    family_name: str = "Smith",
    postcode: str = "BS5 6XX",
    place: str | None = None,
    born: date = date(1980, 3, 1),
) -> Registration:
    record = PersonRecord(
        org=org,
        person_id=person,
        nhs_number=nhs_number,
        given_name=given_name,
        family_name=family_name,
        date_of_birth=born,
        postcode=postcode,
        place=place,
    )
    return Registration(record, uuid4(), at)


async def _keys_of(pool: Pool, schema: str) -> set[tuple[str, str, str]]:
    rows = await pool.fetch(f"SELECT key, org, person_id FROM {schema}.blocking_keys")  # noqa: S608
    return {(row["key"], row["org"], row["person_id"]) for row in rows}


async def test_saving_registrations_keeps_the_latest_and_exactly_its_blocking_keys(
    pool: Pool, schema: str
) -> None:
    store = partial(MatchStore, schema=schema, decisions_schema=decisions_schema_of(schema))
    first = _registration("p1", postcode="BS5 6XX", nhs_number="9434765919")
    other = _registration("p2", given_name="Ann", family_name="Jones", place="bristol")
    async with transaction(pool) as conn:
        changed = await store(conn).save_latest([first, other])
    assert set(changed) == {("housing", "p1"), ("housing", "p2")}
    expected = {(k, "housing", "p1") for k in blocking_keys(first.record)}
    expected |= {(k, "housing", "p2") for k in blocking_keys(other.record)}
    assert await _keys_of(pool, schema) == expected

    moved = _registration("p1", at=AT + timedelta(days=1), postcode="BS1 4DJ", nhs_number=None)
    stale = _registration("p2", at=AT - timedelta(days=1), given_name="Anne")
    async with transaction(pool) as conn:
        changed = await store(conn).save_latest([moved, stale])
        stored = await store(conn).registrations([("housing", "p1"), ("housing", "p2")])
    assert changed == {("housing", "p1"): moved}  # the older registration of p2 is ignored
    assert stored[("housing", "p1")] == moved
    assert stored[("housing", "p2")] == other
    expected = {(k, "housing", "p1") for k in blocking_keys(moved.record)}
    expected |= {(k, "housing", "p2") for k in blocking_keys(other.record)}
    assert await _keys_of(pool, schema) == expected


async def test_a_registration_with_a_naive_time_is_stored_as_utc(pool: Pool, schema: str) -> None:
    store = partial(MatchStore, schema=schema, decisions_schema=decisions_schema_of(schema))
    naive = _registration("p1", at=AT.replace(tzinfo=None), given_name="Zoë 'O\"Neil'\\")
    async with transaction(pool) as conn:
        await store(conn).save_latest([naive])
        stored = await store(conn).registrations([("housing", "p1")])
    assert stored[("housing", "p1")].occurred_at == AT
    assert stored[("housing", "p1")].record == naive.record


async def test_replacing_pairs_forgets_the_old_and_keeps_the_new_with_their_evidence(
    pool: Pool, schema: str
) -> None:
    store = partial(MatchStore, schema=schema, decisions_schema=decisions_schema_of(schema))
    a, b, c, d = (("housing", p) for p in ("a", "b", "c", "d"))
    async with transaction(pool) as conn:
        await store(conn).replace_pairs(
            [a, b],
            [StoredPair(a, b, 12.5, EVIDENCE), StoredPair(a, c, 7.25, EVIDENCE)],
            model="test",
        )
        await store(conn).replace_pairs([d], [StoredPair(c, d, 20.0, EVIDENCE)], model="test")
        await store(conn).mark_review([StoredPair(a, b, 0, ()).pair_id], [])
        await store(conn).mark_review(
            [StoredPair(a, c, 0, ()).pair_id], [StoredPair(a, c, 0, ()).pair_id]
        )
        rescored = StoredPair(a, b, 0.1 + 0.2, (FieldEvidence("given_name", "similar", 1e-05),))
        await store(conn).replace_pairs([a], [rescored], model="test")
        left = await store(conn).pairs_touching([a, b, c, d])
    by_pair = {(p.a, p.b): p for p in left}
    assert set(by_pair) == {(a, b), (c, d)}  # a-c went: a was rescored without it
    assert by_pair[a, b].score == 0.1 + 0.2
    assert by_pair[a, b].evidence == rescored.evidence
    assert by_pair[c, d] == StoredPair(c, d, 20.0, EVIDENCE)

    async with transaction(pool) as conn:
        await store(conn).replace_pairs([a, d], [], model="test")
        assert await store(conn).pairs_touching([a, b, c, d]) == []


async def _decided(
    pool: Pool, schema: str, a: PersonKey, b: PersonKey, *, same: bool, by: str, at: datetime
) -> None:
    """Record a steward's decision about a pair as the decision store keeps it."""
    d = decisions_schema_of(schema)
    event_id = uuid4()
    async with transaction(pool) as conn:
        await conn.execute(
            f"INSERT INTO {d}.decisions (event_id, type, occurred_at, envelope)"  # noqa: S608
            " VALUES ($1, 'identity.linked', $2, $3::jsonb)",
            event_id,
            at,
            {"org": by},
        )
        await conn.execute(
            f"INSERT INTO {d}.decision_pairs"  # noqa: S608
            " (event_id, a_org, a_person, b_org, b_person, same, decided_at)"
            " VALUES ($1, $2, $3, $4, $5, $6, $7)",
            event_id,
            *a,
            *b,
            same,
            at,
        )


@pytest.mark.parametrize("asked", [1, 3, 101, 140])
async def test_candidates_are_every_record_under_the_asked_records_keys_few_or_many(
    pool: Pool, schema: str, asked: int
) -> None:
    """A few records' candidates are looked up by index, a batch's hashed: the same rows."""
    store = partial(MatchStore, schema=schema, decisions_schema=decisions_schema_of(schema))
    families = ["Smith", "Jones", "Patel", "Nowak", "Okafor", "Byrne", "Evans"]
    stored = [
        _registration(
            f"p{n}",
            org=("housing", "voluntary")[n % 2],
            nhs_number=None,
            given_name=("David", "Ann", "Grace")[n % 3],
            family_name=families[n % len(families)],
            postcode=f"BS{n % 9} {n % 4}XX",
            born=date(1950, 1, 1) + timedelta(days=n * 37),
        )
        for n in range(150)
    ]
    stranger = _registration("x", given_name="Zebedee", family_name="Quixote", postcode="LS1 1AA")
    async with transaction(pool) as conn:
        await store(conn).save_latest([*stored, stranger])
        asking = [r.record for r in stored[:asked]]
        found = await store(conn).blocks(asking)
    keys = {key for record in asking for key in blocking_keys(record)}
    expected = {(k, r.record) for r in stored for k in blocking_keys(r.record) if k in keys}
    assert not keys & blocking_keys(stranger.record)
    assert len(found) == len(set(found))  # each record once under each key
    assert set(found) == expected
    assert stranger.record not in {record for _, record in found}


async def test_a_component_is_read_in_one_statement_as_the_separate_reads_give_it(
    pool: Pool, schema: str
) -> None:
    store = partial(MatchStore, schema=schema, decisions_schema=decisions_schema_of(schema))
    model = partial(ReadModel, schema=schema)
    decisions = partial(DecisionStore, schema=decisions_schema_of(schema))
    h1, h2 = ("housing", "h1"), ("housing", "h2")
    m1, m2, m3 = ("mental_health", "m1"), ("mental_health", "m2"), ("mental_health", "m3")
    v1, v2, x1 = ("voluntary", "v1"), ("voluntary", "v2"), ("voluntary", "x1")
    registered = [
        _registration("h1", nhs_number="9434765919"),
        _registration("h2", nhs_number="9434765919", given_name="Dave"),
        _registration("m1", org="mental_health", given_name="Ann"),
        _registration("m2", org="mental_health", given_name="Anne", place="bristol"),
        _registration("v1", org="voluntary"),
        _registration("v2", org="voluntary", family_name="Smyth"),
        _registration("x1", org="voluntary", family_name="Other"),
    ]
    c1, c2 = uuid4(), uuid4()
    async with transaction(pool) as conn:
        await store(conn).save_latest(registered)
        await store(conn).replace_pairs(
            [h2, v1],
            [StoredPair(h2, v1, 20.0, EVIDENCE), StoredPair(v1, v2, 8.0, EVIDENCE)],
            model="test",
        )
        await store(conn).replace_pairs([x1], [StoredPair(v2, x1, 16.0, EVIDENCE)], model="test")
        await model(conn).save_links({v1: c1, m1: c1, h1: c2, m3: c2})
        await store(conn).mark_review([StoredPair(v1, v2, 0, ()).pair_id], [])
    await _decided(pool, schema, m1, m2, same=True, by="mental_health", at=AT)
    await _decided(pool, schema, h1, h2, same=False, by="voluntary", at=AT)
    await _decided(pool, schema, h1, h2, same=True, by="housing", at=AT)
    await _decided(pool, schema, h1, h2, same=True, by="housing", at=AT - timedelta(hours=1))
    await _decided(pool, schema, v2, x1, same=False, by="housing", at=AT)  # outside

    async with transaction(pool) as conn:
        component = await store(conn).component([h1], link_from=15.0)
        walked = await store(conn).connected([h1], link_from=15.0)
        held = await store(conn).registrations(walked)
        touching = await store(conn).pairs_touching(list(held))
        among = await decisions(conn).among(list(held))
        decided_by = await decisions(conn).decided_by(list(held))
        links = await model(conn).links_of(list(held))
        outside = await store(conn).registrations(
            {k for p in touching for k in (p.a, p.b)} - set(held)
        )

    # m3 shares h1's citizen but has no registration: walked to, never resolved
    assert walked == {h1, h2, m1, m2, m3, v1}
    assert component.held == held == {r.key: r for r in registered if r.key in walked}
    assert component.links == links == {v1: c1, m1: c1, h1: c2}
    assert sorted((p.a, p.b, p.score, p.in_review) for p in component.pairs) == sorted(
        (p.a, p.b, p.score, p.in_review) for p in touching
    )
    assert all(p.evidence == () for p in component.pairs)  # not needed to re-link
    assert component.outside == outside == {v2: registered[5]}
    assert sorted((d.a, d.b, d.same, d.decided_at) for d, _ in component.decisions) == sorted(
        (d.a, d.b, d.same, d.decided_at) for d in among
    )
    # in the order decided, a keep-apart last among equals: as `decided_by` gives them
    assert [(d.pair, d.same, by) for d, by in component.decisions] == decided_by
    assert [by for _, by in component.decisions] == [
        "housing",
        "mental_health",
        "housing",
        "voluntary",
    ]


async def test_the_walk_stops_at_pairs_below_the_link_threshold(pool: Pool, schema: str) -> None:
    store = partial(MatchStore, schema=schema, decisions_schema=decisions_schema_of(schema))
    a, b, c = ("housing", "a"), ("housing", "b"), ("voluntary", "c")
    async with transaction(pool) as conn:
        await store(conn).replace_pairs(
            [a, b],
            [StoredPair(a, b, 15.0, EVIDENCE), StoredPair(b, c, 14.9, EVIDENCE)],
            model="test",
        )
        assert await store(conn).connected([a], link_from=15.0) == {a, b}
        assert await store(conn).connected([c], link_from=14.9) == {a, b, c}
        assert await store(conn).connected([("housing", "nobody")], link_from=1.0) == {
            ("housing", "nobody")
        }
        empty = await store(conn).component([("housing", "nobody")], link_from=1.0)
    assert (empty.held, empty.links, empty.pairs, empty.outside, empty.decisions) == (
        {},
        {},
        [],
        {},
        [],
    )


async def test_the_read_model_reads_and_writes_links_by_one_json_parameter(
    pool: Pool, schema: str
) -> None:
    model = partial(ReadModel, schema=schema)
    odd = ("voluntary", 'p"1\\ \u00e9')
    links: dict[PersonKey, UUID] = {("housing", "p1"): uuid4(), odd: uuid4()}
    async with transaction(pool) as conn:
        await model(conn).save_links(links)
        assert await model(conn).links_of([*links, ("housing", "nobody")]) == links
        assert await model(conn).links_of([]) == {}
        assert await model(conn).seen_before(list(links), 10) == set()
