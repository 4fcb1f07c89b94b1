"""One contract for the projection's unit of work, on PostgreSQL and on the in-memory fake.

The service layer's unit tests run on the fake; these cases keep the fake honest: what they
assert holds on both, so a rule the fake gets wrong fails here.
"""

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from uuid import UUID, uuid4

import pytest

from events.envelope import Envelope, OrgId
from events.identity import IdentityLinked, IdentityNotSamePerson, IdentityUnlinked, RecordRef
from services.identity_matching.blocking import blocking_keys
from services.identity_matching.matching import FieldEvidence, PersonRecord
from services.projection.adapters.postgres_unit_of_work import PostgresUnitOfWork, postgres_units
from services.projection.adapters.read_model_schema import prepare_read_model
from services.projection.domain.fold import new_view
from services.projection.domain.identity_decisions import IdentityDecision, record_key
from services.projection.domain.identity_records import Registration, StoredPair
from services.projection.domain.linkage import HumanDecision, PersonKey
from services.projection.domain.view import CitizenView, ConsentState
from services.projection.service_layer.unit_of_work import UnitsOfWork
from services.runtime.database import Pool
from services.runtime.event_log import LOG_START, LogPosition
from services.runtime.parked_events import Unreadable
from tests.factories import an_envelope
from tests.unit.projection.factories import PersonAt, details, folded
from tests.unit.projection.fake_unit_of_work import FakeUnitOfWork, fake_unit_of_work

NewUnitOfWork = Callable[[], FakeUnitOfWork | PostgresUnitOfWork]
AT = datetime(2026, 5, 4, 9, 0, tzinfo=UTC)
EVIDENCE = (FieldEvidence("family_name", "exact", 4.5), FieldEvidence("postcode", "typo", 1.25))
NHS_NUMBER, OTHER_NHS_NUMBER = "9434765919", "9434765870"
LINK_FROM = 15.0


@pytest.fixture(params=["postgres", "in_memory"])
async def new_uow(
    request: pytest.FixtureRequest, pool: Pool, unique_schema: Callable[[str], str]
) -> NewUnitOfWork:
    """A maker of units of work over an empty read model, of either kind."""
    units: NewUnitOfWork
    if request.param == "in_memory":
        _, units = fake_unit_of_work()
    else:
        schema = unique_schema("uow")
        await prepare_read_model(pool, schema)
        units = postgres_units(pool, schema)
    _both_keep_the_protocol: UnitsOfWork = units
    return units


def _record(org: OrgId = "housing") -> RecordRef:
    return RecordRef(org=org, person_id=uuid4())


def _key(org: OrgId = "housing") -> PersonKey:
    return record_key(_record(org))


def _ref(key: PersonKey) -> RecordRef:
    return RecordRef.model_validate({"org": key[0], "person_id": key[1]})


def _registration(
    key: PersonKey,
    *,
    at: datetime = AT,
    nhs_number: str | None = None,
    given_name: str = "David",
    family_name: str = "Smith",
    born: date = date(1980, 3, 1),
    postcode: str = "BS5 6XX",
    event_id: UUID | None = None,
) -> Registration:
    record = PersonRecord(
        org=key[0],
        person_id=key[1],
        nhs_number=nhs_number,
        given_name=given_name,
        family_name=family_name,
        date_of_birth=born,
        postcode=postcode,
    )
    return Registration(record, event_id or uuid4(), at)


def _event(key: PersonKey, *, event_id: UUID | None = None) -> Envelope:
    envelope = an_envelope(org=_ref(key).org, subject=key[1], occurred_at=AT)
    return envelope if event_id is None else envelope.model_copy(update={"event_id": event_id})


def _decided(decision: IdentityDecision, *, at: datetime, by: OrgId = "housing") -> Envelope:
    return an_envelope(
        org=by, type_=decision.event_type, category=decision.category, occurred_at=at,
        recorded_at=at, data=decision.model_dump(mode="json"),
    )  # fmt: skip


def _linked(a: PersonKey, b: PersonKey) -> IdentityLinked:
    return IdentityLinked(a=_ref(a), b=_ref(b), reason="same person")


def _apart(a: PersonKey, b: PersonKey) -> IdentityNotSamePerson:
    return IdentityNotSamePerson(a=_ref(a), b=_ref(b), reason="twins")


async def _append(new_uow: NewUnitOfWork, *decided: tuple[IdentityDecision, Envelope]) -> None:
    async with new_uow() as uow:
        for decision, envelope in decided:
            await uow.decisions.append(envelope, decision)
        await uow.commit()


async def _save(new_uow: NewUnitOfWork, *registrations: Registration) -> None:
    async with new_uow() as uow:
        await uow.matches.save_latest(registrations)
        await uow.commit()


async def _queue(new_uow: NewUnitOfWork, pairs: Sequence[StoredPair]) -> None:
    """Store `pairs`, those marked `in_review` awaiting review."""
    async with new_uow() as uow:
        await uow.matches.replace_pairs([], pairs, model="test")
        await uow.matches.mark_review(
            [p.pair_id for p in pairs], [p.pair_id for p in pairs if p.in_review]
        )
        await uow.commit()


@dataclass(frozen=True)
class Written:
    """What `_write_one_of_everything` wrote about records `a` and `b` of `citizen`."""

    a: PersonKey
    b: PersonKey
    citizen: UUID
    event: Envelope
    arrival: int
    view: CitizenView
    registration: Registration
    decision: Envelope


async def _write_one_of_everything(uow: FakeUnitOfWork | PostgresUnitOfWork) -> Written:
    """Write an event, a link, a view, a registration, a pair, a decision and a checkpoint."""
    a, b, citizen = _key(), _key("voluntary"), uuid4()
    event, registration, decision = _event(a), _registration(a), _linked(a, b)
    view = folded([PersonAt("housing").registered(AT, details())], new_view(citizen))
    decided = _decided(decision, at=AT)
    arrivals = await uow.read_model.insert_timeline([event])
    await uow.read_model.save_links({a: citizen})
    await uow.read_model.save_views([view])
    await uow.matches.save_latest([registration])
    await uow.matches.replace_pairs([a], [StoredPair(a, b, 20.0, EVIDENCE)], model="test")
    await uow.decisions.append(decided, decision)
    await uow.checkpoints.lock("housing")
    await uow.checkpoints.save("housing", LogPosition(3, 4))
    return Written(a, b, citizen, event, arrivals[event.event_id], view, registration, decided)


async def _read_everything(
    uow: FakeUnitOfWork | PostgresUnitOfWork, written: Written
) -> dict[str, object]:
    """Return what `_write_one_of_everything` wrote, as the ports read it back."""
    a, b, event = written.a, written.b, written.event
    return {
        "event": await uow.read_model.timeline_event(event.org, event.event_id),
        "links": await uow.read_model.links_of([a, b]),
        "views": await uow.read_model.load_views([written.citizen]),
        "registrations": await uow.matches.registrations([a, b]),
        "pair": await uow.matches.pair(StoredPair(a, b, 0, ()).pair_id),
        "decisions": await uow.decisions.events(),
        "checkpoint": await uow.checkpoints.lock("housing"),
    }


async def test_what_a_unit_of_work_commits_the_next_one_reads(new_uow: NewUnitOfWork) -> None:
    async with new_uow() as uow:
        written = await _write_one_of_everything(uow)
        await uow.commit()
    async with new_uow() as uow:
        assert await _read_everything(uow, written) == {
            "event": (written.event, written.arrival),
            "links": {written.a: written.citizen},
            "views": {written.citizen: written.view},
            "registrations": {written.a: written.registration},
            "pair": StoredPair(written.a, written.b, 20.0, EVIDENCE),
            "decisions": [written.decision],
            "checkpoint": LogPosition(3, 4),
        }


async def test_leaving_without_commit_leaves_nothing(new_uow: NewUnitOfWork) -> None:
    async with new_uow() as uow:
        written = await _write_one_of_everything(uow)
    async with new_uow() as uow:
        assert await _read_everything(uow, written) == {
            "event": None,
            "links": {},
            "views": {},
            "registrations": {},
            "pair": None,
            "decisions": [],
            "checkpoint": LOG_START,
        }
        assert await uow.decisions.last_position() == 0
        assert list(await uow.read_model.insert_timeline([written.event])) == [
            written.event.event_id
        ]


async def test_each_event_enters_the_timeline_once_its_arrivals_growing_in_order(
    new_uow: NewUnitOfWork,
) -> None:
    person = _key()
    first, second, third, fourth = (_event(person) for _ in range(4))
    async with new_uow() as uow:
        arrived = await uow.read_model.insert_timeline([first, second, third])
        again = await uow.read_model.insert_timeline([second, fourth, first])
        await uow.commit()
    assert list(arrived) == [first.event_id, second.event_id, third.event_id]
    assert arrived[first.event_id] < arrived[second.event_id] < arrived[third.event_id]
    assert list(again) == [fourth.event_id]
    assert again[fourth.event_id] > arrived[third.event_id]
    async with new_uow() as uow:
        assert await uow.read_model.insert_timeline([first, third]) == {}


async def test_an_event_id_is_another_event_in_another_organisation(
    new_uow: NewUnitOfWork,
) -> None:
    housing = _event(_key())
    voluntary = _event(_key("voluntary"), event_id=housing.event_id)
    async with new_uow() as uow:
        await uow.read_model.insert_timeline([housing])
        assert list(await uow.read_model.insert_timeline([voluntary])) == [housing.event_id]
        found = await uow.read_model.timeline_event("voluntary", housing.event_id)
    assert found is not None
    assert found[0] == voluntary


async def test_the_latest_registration_wins_whatever_order_they_arrive_in(
    new_uow: NewUnitOfWork,
) -> None:
    person = _key()
    early, late = _registration(person), _registration(person, at=AT + timedelta(days=1))
    later_still = _registration(person, at=AT + timedelta(days=2), given_name="Dave")
    async with new_uow() as uow:
        assert await uow.matches.save_latest([late]) == {person: late}
        assert await uow.matches.save_latest([early]) == {}
        assert await uow.matches.save_latest([late]) == {}
        assert await uow.matches.save_latest([later_still, early]) == {person: later_still}
        assert await uow.matches.registrations([person]) == {person: later_still}


async def test_every_record_is_each_record_s_latest_registration(new_uow: NewUnitOfWork) -> None:
    person, other = _key(), _key("voluntary")
    await _save(new_uow, _registration(person), _registration(other, given_name="Ann"))
    await _save(new_uow, _registration(person, at=AT + timedelta(days=1), given_name="Dave"))
    async with new_uow() as uow:
        records = await uow.matches.every_record()
    assert sorted((r.org, r.person_id, r.given_name) for r in records) == sorted(
        [(*person, "Dave"), (*other, "Ann")]
    )


async def test_at_one_moment_the_greater_event_id_is_later_and_a_naive_time_is_utc(
    new_uow: NewUnitOfWork,
) -> None:
    person = _key()
    low, high = sorted([uuid4(), uuid4()])
    naive = _registration(person, at=AT.replace(tzinfo=None), event_id=high, given_name="Zoë")
    aware = _registration(person, at=AT, event_id=low)
    async with new_uow() as uow:
        assert await uow.matches.save_latest([aware]) == {person: aware}
        assert await uow.matches.save_latest([naive]) == {person: naive}
        assert await uow.matches.save_latest([aware]) == {}
        stored = (await uow.matches.registrations([person]))[person]
    assert stored.occurred_at == AT
    assert stored.record.given_name == "Zoë"


async def test_blocks_give_each_stored_record_once_per_key_it_shares(
    new_uow: NewUnitOfWork,
) -> None:
    david, twin, stranger = _key(), _key("voluntary"), _key("mental_health")
    ours = _registration(david, nhs_number=NHS_NUMBER)
    theirs = _registration(twin, given_name="Peter", nhs_number=NHS_NUMBER)
    unrelated = _registration(
        stranger, given_name="Ann", family_name="Jones", born=date(1990, 7, 30)
    )
    await _save(new_uow, ours, theirs, unrelated)
    given = _registration(david, nhs_number=NHS_NUMBER).record
    async with new_uow() as uow:
        found = await uow.matches.blocks([given])
    shared = blocking_keys(given) & blocking_keys(theirs.record)
    assert sorted(found, key=lambda f: (f[0], f[1].org)) == sorted(
        [(key, given) for key in blocking_keys(given)] + [(key, theirs.record) for key in shared],
        key=lambda f: (f[0], f[1].org),
    )
    assert all(record is given for _, record in found if record.org == "housing")


async def test_a_record_is_found_only_under_the_keys_of_its_latest_registration(
    new_uow: NewUnitOfWork,
) -> None:
    moving, staying = _key(), _key("voluntary")
    old = _registration(moving)
    moved = _registration(
        moving, at=AT + timedelta(1), given_name="Ann", born=date(1975, 1, 20), postcode="LS1 4AP"
    )
    there = _registration(staying, given_name="Ann", born=date(1975, 1, 20), postcode="LS1 4AP")
    await _save(new_uow, old, there)
    await _save(new_uow, moved)
    async with new_uow() as uow:
        assert await uow.matches.blocks([old.record]) == []
        found = await uow.matches.blocks([there.record])
    assert sorted((key, record.org) for key, record in found) == sorted(
        (key, org) for key in blocking_keys(moved.record) for org in ("housing", "voluntary")
    )


async def test_replacing_pairs_keeps_a_kept_pairs_review_and_drops_the_others(
    new_uow: NewUnitOfWork,
) -> None:
    a, b, c, d = _key(), _key("voluntary"), _key("mental_health"), _key()
    await _queue(new_uow, [StoredPair(a, b, 10.0, EVIDENCE, True), StoredPair(a, c, 9.0, (), True)])
    await _queue(new_uow, [StoredPair(c, d, 7.0, EVIDENCE, True)])
    rescored = StoredPair(a, b, 0.1 + 0.2, (FieldEvidence("given_name", "similar", 1e-05),))
    fresh = StoredPair(a, d, 12.0, EVIDENCE, in_review=True)
    async with new_uow() as uow:
        await uow.matches.replace_pairs([a], [rescored, fresh], model="test")
        await uow.commit()
    async with new_uow() as uow:
        found = [await uow.matches.pair(p.pair_id) for p in (rescored, fresh)]
        assert found == [
            StoredPair(a, b, 0.1 + 0.2, rescored.evidence, in_review=True),
            StoredPair(a, d, 12.0, EVIDENCE, in_review=False),
        ]
        assert await uow.matches.pair(StoredPair(a, c, 0, ()).pair_id) is None
        assert await uow.matches.pair(StoredPair(c, d, 0, ()).pair_id) is not None
        await uow.matches.replace_pairs([b, d], [], model="test")
        assert await uow.matches.pair(rescored.pair_id) is None
        assert await uow.matches.pair(fresh.pair_id) is None


async def test_a_component_is_walked_by_strong_pairs_numbers_citizens_and_decisions(
    new_uow: NewUnitOfWork,
) -> None:
    s, x, y, z, w, weak, unregistered, far = (_key(org) for org in (
        "housing", "voluntary", "mental_health", "housing", "voluntary", "mental_health",
        "housing", "voluntary"))  # fmt: skip
    citizen = uuid4()
    held = {
        s: _registration(s),
        x: _registration(x, nhs_number=NHS_NUMBER),
        y: _registration(y, nhs_number=NHS_NUMBER, given_name="Dave"),
        z: _registration(z, given_name="Ann"),
        w: _registration(w, given_name="Bob"),
    }
    outside = {weak: _registration(weak), far: _registration(far, nhs_number=OTHER_NHS_NUMBER)}
    await _save(new_uow, *held.values(), *outside.values())
    pairs = [
        StoredPair(s, x, LINK_FROM, EVIDENCE),
        StoredPair(s, weak, LINK_FROM - 0.5, EVIDENCE, in_review=True),
        StoredPair(far, z, 7.0, EVIDENCE),
        StoredPair(z, unregistered, 30.0, EVIDENCE),
    ]
    await _queue(new_uow, pairs)
    async with new_uow() as uow:
        await uow.read_model.save_links({y: citizen, z: citizen, weak: uuid4()})
        await uow.commit()
    z_w, w_u = _linked(z, w), _apart(w, unregistered)
    await _append(new_uow, (z_w, _decided(z_w, at=AT)), (w_u, _decided(w_u, at=AT, by="voluntary")))
    async with new_uow() as uow:
        component = await uow.matches.component([s], link_from=LINK_FROM)
    assert component.held == held
    assert component.links == {y: citizen, z: citizen}
    assert sorted(component.pairs, key=lambda p: p.score) == sorted(
        [StoredPair(p.a, p.b, p.score, (), p.in_review) for p in pairs], key=lambda p: p.score
    )
    assert component.outside == outside
    assert component.decisions == [(HumanDecision(z, w, True, decided_at=AT), "housing")]


async def test_a_weak_pair_alone_connects_nothing(new_uow: NewUnitOfWork) -> None:
    a, b = _key(), _key("voluntary")
    await _save(new_uow, _registration(a), _registration(b))
    await _queue(new_uow, [StoredPair(a, b, LINK_FROM - 1, EVIDENCE)])
    async with new_uow() as uow:
        component = await uow.matches.component([a], link_from=LINK_FROM)
        nothing = await uow.matches.component([_key()], link_from=LINK_FROM)
    assert set(component.held) == {a}
    assert set(component.outside) == {b}
    assert (nothing.held, nothing.pairs, nothing.decisions) == ({}, [], [])


async def test_decisions_come_in_the_order_decided_a_keep_apart_last_then_as_recorded(
    new_uow: NewUnitOfWork,
) -> None:
    a, b, c, d = _key(), _key("voluntary"), _key("mental_health"), _key()
    await _save(new_uow, *(_registration(k) for k in (a, b, c, d)))
    later = AT + timedelta(hours=1)
    decided: list[tuple[IdentityLinked | IdentityNotSamePerson, datetime, OrgId]] = [
        (_linked(a, b), later, "housing"),
        (_apart(a, c), AT, "mental_health"),
        (_linked(b, c), AT, "voluntary"),
        (_linked(c, d), AT, "housing"),
    ]
    await _append(new_uow, *((dec, _decided(dec, at=at, by=by)) for dec, at, by in decided))
    expected = [decided[2], decided[3], decided[1], decided[0]]
    async with new_uow() as uow:
        component = await uow.matches.component([a], link_from=LINK_FROM)
        by = await uow.decisions.decided_by([a, b, c, d])
    assert [(h.pair, h.same, h.decided_at, org) for h, org in component.decisions] == [
        (frozenset(record_key(r) for r in (dec.a, dec.b)), isinstance(dec, IdentityLinked), at, org)
        for dec, at, org in expected
    ]
    assert by == [(h.pair, h.same, org) for h, org in component.decisions]
    async with new_uow() as uow:
        about_voluntary = await uow.decisions.decided_about("voluntary")
        about_nobody = await uow.decisions.decided_about("elsewhere")
    assert about_voluntary == [d for d in by if b in d[0]]  # the charity's b, in order
    assert about_nobody == []


async def test_the_review_queue_shows_conflicts_first_then_best_score_then_pair_id(
    new_uow: NewUnitOfWork,
) -> None:
    h1, h2, h3, h5, h6 = (_key() for _ in range(5))
    v1, m2, v3, v4, m4, v5, v6 = (
        _key(o) for o in ("voluntary", "mental_health") * 3 + ("voluntary",)
    )
    await _save(
        new_uow,
        _registration(h1, nhs_number=NHS_NUMBER), _registration(v1, nhs_number=NHS_NUMBER),
        *(_registration(k) for k in (h2, m2, h5, v5, v4, m4, h6)),
        _registration(h3, nhs_number=NHS_NUMBER), _registration(v3, nhs_number=OTHER_NHS_NUMBER),
    )  # fmt: skip
    conflict = StoredPair(h1, v1, 8.0, EVIDENCE, in_review=True)
    tied = sorted(
        [StoredPair(h2, m2, 14.0, EVIDENCE, True), StoredPair(v3, h3, 14.0, EVIDENCE, True)],
        key=lambda p: p.pair_id,
    )
    others = [
        StoredPair(v4, m4, 20.0, EVIDENCE, in_review=True),  # not housing's
        StoredPair(h5, v5, 13.0, EVIDENCE, in_review=False),  # not awaiting review
        StoredPair(h6, v6, 6.0, EVIDENCE, in_review=True),  # v6 has no registration
    ]
    await _queue(new_uow, [*reversed(tied), *others, conflict])
    async with new_uow() as uow:
        queue = await uow.matches.pairs_in_review(org="housing", limit=10)
        best_two = await uow.matches.pairs_in_review(org="housing", limit=2)
        registered = await uow.matches.registrations([h1, v1])
    assert [pair for pair, _, _ in queue] == [conflict, *tied]
    assert [pair for pair, _, _ in best_two] == [conflict, tied[0]]
    assert queue[0][1:] == (registered[h1], registered[v1])
    assert [(a.key, b.key) for p, a, b in queue] == [(p.a, p.b) for p, _, _ in queue]


async def test_a_pair_missing_a_registration_takes_no_place_in_the_review_queue(
    new_uow: NewUnitOfWork,
) -> None:
    housing, charity, unregistered = _key(), _key("voluntary"), _key("voluntary")
    await _save(new_uow, _registration(housing), _registration(charity))
    shown = StoredPair(housing, charity, 9.0, EVIDENCE, in_review=True)
    await _queue(new_uow, [StoredPair(housing, unregistered, 14.0, EVIDENCE, True), shown])
    async with new_uow() as uow:
        best = await uow.matches.pairs_in_review(org="housing", limit=1)
    assert [pair for pair, _, _ in best] == [shown]


async def test_marking_review_leaves_exactly_the_chosen_of_the_named_pairs_queued(
    new_uow: NewUnitOfWork,
) -> None:
    a, b, c, d = _key(), _key("voluntary"), _key("mental_health"), _key()
    named_out, named_in, unnamed = (StoredPair(a, k, 9.0, EVIDENCE, True) for k in (b, c, d))
    await _queue(new_uow, [named_out, named_in, unnamed])
    async with new_uow() as uow:
        await uow.matches.mark_review([named_out.pair_id, named_in.pair_id], [named_in.pair_id])
        await uow.commit()
    async with new_uow() as uow:
        found = [await uow.matches.pair(p.pair_id) for p in (named_out, named_in, unnamed)]
    assert [p.in_review if p else None for p in found] == [False, True, True]


async def test_a_pair_is_found_by_its_id_with_its_evidence(new_uow: NewUnitOfWork) -> None:
    a, b = _key(), _key("voluntary")
    stored = StoredPair(a, b, 16.75, EVIDENCE, in_review=True)
    await _queue(new_uow, [stored])
    async with new_uow() as uow:
        assert await uow.matches.pair(StoredPair(b, a, 0, ()).pair_id) == stored
        assert await uow.matches.pair(uuid4()) is None


async def test_links_replace_earlier_ones_and_a_citizen_has_the_records_linked_to_it(
    new_uow: NewUnitOfWork,
) -> None:
    a, b, c = _key(), _key("voluntary"), _key("mental_health")
    first, second = uuid4(), uuid4()
    async with new_uow() as uow:
        await uow.read_model.save_links({a: first, b: first, c: second})
        await uow.read_model.save_links({b: second})
        await uow.commit()
    async with new_uow() as uow:
        assert await uow.read_model.links_of([a, b, _key()]) == {a: first, b: second}
        assert await uow.read_model.records_of(first) == {a}
        assert await uow.read_model.records_of(second) == {b, c}
        assert await uow.read_model.records_of(uuid4()) == set()


async def test_seen_before_tells_which_records_had_events_arrive_earlier(
    new_uow: NewUnitOfWork,
) -> None:
    early, late, never = _key(), _key("voluntary"), _key()
    async with new_uow() as uow:
        first = await uow.read_model.insert_timeline([_event(early)])
        second = await uow.read_model.insert_timeline([_event(late)])
        [arrival] = second.values()
        assert await uow.read_model.seen_before([early, late, never], arrival) == {early}
        assert await uow.read_model.seen_before([early, late, never], arrival + 1) == {early, late}
        assert await uow.read_model.seen_before([late], min(first.values())) == set()


async def test_linked_events_come_in_arrival_order_each_with_its_citizen(
    new_uow: NewUnitOfWork,
) -> None:
    h, m, v, unlinked = _key(), _key("mental_health"), _key("voluntary"), _key()
    one, two = uuid4(), uuid4()
    events = [_event(h), _event(v), _event(m), _event(unlinked), _event(h)]
    async with new_uow() as uow:
        await uow.read_model.insert_timeline(events[:2])
        await uow.read_model.insert_timeline(events[2:])
        await uow.read_model.save_links({h: one, m: one, v: two})
        both = await uow.read_model.linked_events([one, two])
        second = await uow.read_model.linked_events([two])
    assert [(c, e.event_id) for c, e in both] == [
        (citizen, events[n].event_id) for citizen, n in ((one, 0), (two, 1), (one, 2), (one, 4))
    ]
    assert both[0][1] == events[0]
    assert [(c, e.event_id) for c, e in second] == [(two, events[1].event_id)]


async def test_a_view_with_no_involvements_left_is_deleted(new_uow: NewUnitOfWork) -> None:
    kept_id, gone_id = uuid4(), uuid4()
    kept = folded([PersonAt("housing").registered(AT, details())], new_view(kept_id))
    gone = folded([PersonAt("voluntary").registered(AT, details())], new_view(gone_id))
    async with new_uow() as uow:
        await uow.read_model.save_views([kept, gone])
        await uow.commit()
    async with new_uow() as uow:
        assert await uow.read_model.load_views([kept_id, gone_id]) == {kept_id: kept, gone_id: gone}
        await uow.read_model.save_views([new_view(gone_id), new_view(uuid4())])
        await uow.commit()
    async with new_uow() as uow:
        assert await uow.read_model.load_views([kept_id, gone_id, uuid4()]) == {kept_id: kept}


async def test_decisions_among_records_and_who_decided_each_in_order(
    new_uow: NewUnitOfWork,
) -> None:
    a, b, c, d = _key(), _key("voluntary"), _key("voluntary"), _key("mental_health")
    later = AT + timedelta(minutes=5)
    split = IdentityUnlinked(record=_ref(c), from_records=[_ref(a), _ref(b)], reason="not him")
    await _append(
        new_uow,
        (_linked(a, b), _decided(_linked(a, b), at=later)),
        (split, _decided(split, at=later, by="voluntary")),
        (_apart(a, d), _decided(_apart(a, d), at=AT, by="mental_health")),
    )
    async with new_uow() as uow:
        among = await uow.decisions.among([a, b, c])
        pair = await uow.decisions.among([a, b])
        by = await uow.decisions.decided_by([a, b, c, d])
    assert sorted(among, key=lambda h: (h.a, h.b)) == sorted(
        [HumanDecision(a, b, True, later), HumanDecision(c, a, False, later),
         HumanDecision(c, b, False, later)],
        key=lambda h: (h.a, h.b),
    )  # fmt: skip
    assert pair == [HumanDecision(a, b, True, later)]
    assert by[:2] == [
        (frozenset({a, d}), False, "mental_health"),
        (frozenset({a, b}), True, "housing"),
    ]
    assert set(by[2:]) == {
        (frozenset({c, a}), False, "voluntary"),
        (frozenset({c, b}), False, "voluntary"),
    }


async def test_decisions_keep_the_order_recorded_and_tell_what_came_after(
    new_uow: NewUnitOfWork,
) -> None:
    a, b, c = _key(), _key("voluntary"), _key("mental_health")
    first, second = _decided(_linked(a, b), at=AT), _decided(_apart(b, c), at=AT)
    await _append(new_uow, (_linked(a, b), first))
    async with new_uow() as uow:
        position = await uow.decisions.last_position()
    await _append(new_uow, (_apart(b, c), second))
    async with new_uow() as uow:
        assert position == 1
        assert await uow.decisions.last_position() == 2
        assert await uow.decisions.records_named_after(position) == {b, c}
        assert await uow.decisions.records_named_after(0) == {a, b, c}
        assert [e.event_id for e in await uow.decisions.naming([c])] == [second.event_id]
        assert await uow.decisions.events() == [first, second]


async def test_a_checkpoint_starts_at_the_log_start_and_moves_when_saved(
    new_uow: NewUnitOfWork,
) -> None:
    async with new_uow() as uow:
        assert await uow.checkpoints.lock("housing") == LOG_START
        await uow.checkpoints.save("housing", LogPosition(41, 7))
        await uow.checkpoints.save("voluntary", LogPosition(9, 9))  # never locked: not saved
        await uow.commit()
    async with new_uow() as uow:
        assert await uow.checkpoints.lock("housing") == LogPosition(41, 7)
        assert await uow.checkpoints.lock("voluntary") == LOG_START
        await uow.checkpoints.save("housing", LogPosition(50, 1))
    async with new_uow() as uow:
        assert await uow.checkpoints.lock("housing") == LogPosition(41, 7)


async def test_events_are_opened_as_they_are_without_a_key_store(new_uow: NewUnitOfWork) -> None:
    events = [_event(_key()), _event(_key("voluntary"))]
    async with new_uow() as uow:
        assert list(await uow.open(events)) == events


async def test_an_unreadable_event_is_parked_once_with_why(new_uow: NewUnitOfWork) -> None:
    first, second = _event(_key()), _event(_key("voluntary"))
    unknown = Unreadable("unknown_event_type", "type: no event type 'test.happened' version 1")
    async with new_uow() as uow:
        await uow.park([(first, unknown)])
        await uow.commit()
    async with new_uow() as uow:
        await uow.park([(first, Unreadable("invalid_payload", "data")), (second, unknown)])
        assert await _parked(uow) == {
            (first.org, first.event_id, unknown.reason, unknown.detail),
            (second.org, second.event_id, unknown.reason, unknown.detail),
        }
    async with new_uow() as uow:
        assert await _parked(uow) == {(first.org, first.event_id, unknown.reason, unknown.detail)}


async def _parked(uow: FakeUnitOfWork | PostgresUnitOfWork) -> set[tuple[str, UUID, str, str]]:
    """Return (org, event id, reason, detail) of every event parked, as `uow` sees them."""
    if isinstance(uow, FakeUnitOfWork):
        return {
            (org, event_id, why.reason, why.detail)
            for (org, event_id), (_, why) in uow.parked.items()
        }
    rows = await uow.connection.fetch(
        f"SELECT org, event_id, reason, detail FROM {uow.stores.schema}.parked_events"  # noqa: S608 - a test's own schema
    )
    return {(row["org"], row["event_id"], row["reason"], row["detail"]) for row in rows}


async def test_a_citizens_consent_decisions_are_read_without_the_rest_of_the_view(
    new_uow: NewUnitOfWork,
) -> None:
    withdrawn = ConsentState(
        source="mental_health", recipient="housing", purpose="administration",
        decision="withdrawn", recorded_by="mental_health", decided_at=AT, recorded_at=AT,
        event_id=uuid4(),
    )  # fmt: skip
    decided_id, silent_id = uuid4(), uuid4()
    decided = folded([PersonAt("mental_health").registered(AT, details())], new_view(decided_id))
    decided = decided.model_copy(update={"consents": (withdrawn,)})
    silent = folded([PersonAt("housing").registered(AT, details())], new_view(silent_id))
    async with new_uow() as uow:
        await uow.read_model.save_views([decided, silent])
        await uow.commit()
    async with new_uow() as uow:
        consents = await uow.read_model.consents_of([decided_id, silent_id, uuid4()])
    assert consents == {decided_id: (withdrawn,), silent_id: ()}  # no view: not there
