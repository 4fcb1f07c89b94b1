"""A projection read model in memory, behind the same unit of work as PostgreSQL's.

`InMemoryReadModel` is the committed state; a `FakeUnitOfWork` works on a copy of it and
writes the copy back on commit, so uncommitted work vanishes as a rolled-back transaction
does. Every rule follows the SQL of the PostgreSQL stores (`read_model`, `match_store`,
`decision_store`, `checkpoints`); the contract suite
(tests/integration/projection/test_unit_of_work_contract.py) runs the same cases on this and
on `PostgresUnitOfWork`. Personal values are not sealed here, so `open` gives events back as
they are; locks are not held either, only noted in `InMemoryReadModel.locks`.
"""

import copy
from collections import defaultdict
from collections.abc import Callable, Collection, Iterable, Sequence
from dataclasses import dataclass, field, fields, replace
from datetime import UTC, datetime
from types import TracebackType
from typing import Self
from uuid import UUID

from events.envelope import Envelope
from services.identity_matching.blocking import blocking_keys
from services.identity_matching.matching import PersonRecord
from services.projection.domain.identity_decisions import IdentityDecision, pairwise
from services.projection.domain.identity_records import Component, Registration, StoredPair
from services.projection.domain.linkage import HumanDecision, PersonKey
from services.projection.domain.view import CitizenView, ConsentState
from services.runtime.event_log import LOG_START, LogPosition
from services.runtime.parked_events import Unreadable
from services.runtime.sealing import all_values_erased

PairKey = tuple[PersonKey, PersonKey]  # (a, b) as stored: a pair is kept in one order


@dataclass(frozen=True)
class TimelineEvent:
    """An event in the timeline, and the number it arrived as."""

    envelope: Envelope
    arrival: int


@dataclass(frozen=True)
class RecordedDecision:
    """A steward's decision event, where it was recorded, and the pairs it decides."""

    position: int
    envelope: Envelope
    pairs: tuple[HumanDecision, ...]


@dataclass
class InMemoryReadModel:
    """One read model's committed tables (every value frozen, so a copy of the containers
    is a copy of the state)."""

    timeline: dict[tuple[str, UUID], TimelineEvent] = field(default_factory=dict)
    last_arrival: int = 0
    links: dict[PersonKey, UUID] = field(default_factory=dict)
    views: dict[UUID, CitizenView] = field(default_factory=dict)
    registrations: dict[PersonKey, Registration] = field(default_factory=dict)
    blocking_keys: dict[PersonKey, frozenset[str]] = field(default_factory=dict)
    pairs: dict[PairKey, StoredPair] = field(default_factory=dict)
    decisions: list[RecordedDecision] = field(default_factory=list)
    checkpoints: dict[str, LogPosition] = field(default_factory=dict)
    parked: dict[tuple[str, UUID], tuple[Envelope, Unreadable]] = field(default_factory=dict)
    commits: int = 0
    locks: list[str] = field(default_factory=list)  # every lock taken, committed or not

    def copied(self) -> "InMemoryReadModel":
        """Return a copy that can change without changing this one."""
        twin = copy.copy(self)
        for column in fields(self):
            setattr(twin, column.name, copy.copy(getattr(self, column.name)))
        return twin


_KEPT_ON_ROLLBACK = frozenset({"commits", "locks"})


class FakeReadModelStore:
    """The timeline, links and views in dicts, with the read model's statements' rules."""

    def __init__(self, state: InMemoryReadModel) -> None:
        self._state = state

    async def insert_timeline(self, envelopes: Sequence[Envelope]) -> dict[UUID, int]:
        """Add each (organisation, event id) once; return the new ones with their arrivals."""
        new: dict[UUID, int] = {}
        for envelope in envelopes:
            key = (envelope.org, envelope.event_id)
            if key not in self._state.timeline:
                self._state.last_arrival += 1
                self._state.timeline[key] = TimelineEvent(envelope, self._state.last_arrival)
                new[envelope.event_id] = self._state.last_arrival
        return new

    async def erase_timeline_values(self, org: str, event_id: UUID) -> None:
        """Erase one timeline event's personal values in place."""
        held = self._state.timeline.get((org, event_id))
        if held is not None:
            e = held.envelope
            data = all_values_erased(e.type, e.schema_version, e.data)
            if data is not None:
                erased = e.model_copy(update={"data": data})
                self._state.timeline[org, event_id] = replace(held, envelope=erased)

    async def timeline_event(self, org: str, event_id: UUID) -> tuple[Envelope, int] | None:
        """Return an event as the timeline keeps it, and its arrival."""
        held = self._state.timeline.get((org, event_id))
        return None if held is None else (held.envelope, held.arrival)

    async def seen_before(self, keys: Collection[PersonKey], arrival: int) -> set[PersonKey]:
        """Return which of these records have timeline events that arrived before `arrival`."""
        seen = {
            (held.envelope.org, held.envelope.subject)
            for held in self._state.timeline.values()
            if held.arrival < arrival
        }
        return set(keys) & seen

    async def linked_events(self, citizen_ids: Collection[UUID]) -> list[tuple[UUID, Envelope]]:
        """Return every timeline event of these citizens' linked records, in arrival order."""
        wanted, links = set(citizen_ids), self._state.links
        events = sorted(self._state.timeline.values(), key=lambda held: held.arrival)
        return [
            (citizen_id, held.envelope)
            for held in events
            if (citizen_id := links.get((held.envelope.org, held.envelope.subject))) in wanted
        ]

    async def links_of(self, keys: Collection[PersonKey]) -> dict[PersonKey, UUID]:
        """Return the citizen each of these records is linked to (those linked)."""
        return {key: self._state.links[key] for key in keys if key in self._state.links}

    async def records_of(self, citizen_id: UUID) -> set[PersonKey]:
        """Return the records linked to a citizen."""
        return {key for key, linked in self._state.links.items() if linked == citizen_id}

    async def save_links(self, links: dict[PersonKey, UUID]) -> None:
        """Link records to citizens, replacing their earlier links."""
        self._state.links.update(links)

    async def lock_citizens(self, citizen_ids: Collection[UUID]) -> None:
        """Nothing to wait for: one unit of work at a time runs in memory."""

    async def load_views(self, citizen_ids: Collection[UUID]) -> dict[UUID, CitizenView]:
        """Return the stored views of those of these citizens who have one."""
        views = self._state.views
        return {citizen: views[citizen] for citizen in set(citizen_ids) if citizen in views}

    async def consents_of(
        self, citizen_ids: Collection[UUID]
    ) -> dict[UUID, tuple[ConsentState, ...]]:
        """Return the standing consent decisions of those of these citizens with a view."""
        views = self._state.views
        return {c: views[c].consents for c in set(citizen_ids) if c in views}

    async def save_views(self, views: Sequence[CitizenView]) -> None:
        """Write these views; a view with no involvements left is deleted."""
        for view in views:
            if view.involvements:
                self._state.views[view.citizen_id] = view
            else:
                self._state.views.pop(view.citizen_id, None)


class FakeMatches:
    """Registrations, blocking keys and scored pairs in dicts, with the match store's rules."""

    def __init__(self, state: InMemoryReadModel) -> None:
        self._state = state

    async def save_latest(
        self, registrations: Sequence[Registration]
    ) -> dict[PersonKey, Registration]:
        """Store each record's registration unless a later one (by occurrence, then event
        id; a naive time is UTC) is stored; return the changed records as given."""
        latest: dict[PersonKey, Registration] = {}
        for registration in registrations:
            held = latest.get(registration.key)
            if held is None or _order(registration) > _order(held):
                latest[registration.key] = registration
        return {key: given for key, given in latest.items() if self._stored(given)}

    def _stored(self, given: Registration) -> bool:
        held = self._state.registrations.get(given.key)
        if held is not None and _order(given) <= _order(held):
            return False
        self._state.registrations[given.key] = replace(given, occurred_at=_utc(given.occurred_at))
        self._state.blocking_keys[given.key] = blocking_keys(given.record)
        return True

    async def registrations(self, keys: Collection[PersonKey]) -> dict[PersonKey, Registration]:
        """Return the stored registrations of these records (those that have one)."""
        held = self._state.registrations
        return {key: held[key] for key in keys if key in held}

    async def every_record(self) -> list[PersonRecord]:
        """Return every stored registration's record."""
        return [registration.record for registration in self._state.registrations.values()]

    async def blocks(self, records: Sequence[PersonRecord]) -> list[tuple[str, PersonRecord]]:
        """Return (key, record) for every stored record under each blocking key it shares
        with these; these records are given back as they are."""
        wanted = {key for record in records for key in blocking_keys(record)}
        given = {(record.org, record.person_id): record for record in records}
        found: list[tuple[str, PersonRecord]] = []
        for person, keys in self._state.blocking_keys.items():
            shared, held = keys & wanted, self._state.registrations.get(person)
            if shared and held is not None:
                record = given.get(person) or held.record
                found += [(key, record) for key in sorted(shared)]
        return found

    async def replace_pairs(
        self, records: Collection[PersonKey], pairs: Sequence[StoredPair], *, model: str
    ) -> None:
        """Forget the pairs of these records not in `pairs`, then store `pairs` (one already
        stored keeps whether it awaits review; a new one does not). Which model scored them
        is only read at start-up, from PostgreSQL, so it is not kept here."""
        touched, fresh = set(records), {(pair.a, pair.b): pair for pair in pairs}
        stored = self._state.pairs
        for key, pair in list(stored.items()):
            if (pair.a in touched or pair.b in touched) and key not in fresh:
                del stored[key]
        for key, pair in fresh.items():
            held = stored.get(key)
            stored[key] = replace(pair, in_review=held is not None and held.in_review)

    async def component(self, start: Collection[PersonKey], *, link_from: float) -> Component:
        """Return the registrations, links, pairs (without evidence), outside records and
        decisions of the records connected to `start` (`MatchStore.component`)."""
        state = self._state
        walked = _walk(state, start, link_from)
        held = {key: state.registrations[key] for key in walked if key in state.registrations}
        links = {key: state.links[key] for key in held if key in state.links}
        touching = [p for p in state.pairs.values() if p.a in held or p.b in held]
        outside = {
            key: state.registrations[key]
            for pair in touching
            for key in (pair.a, pair.b)
            if key not in held and key in state.registrations
        }
        pairs = [replace(pair, evidence=(), barred=not pair.may_link) for pair in touching]
        return Component(held, links, pairs, outside, _decided_among(state, held))

    async def mark_review(self, pairs: Collection[UUID], review: Collection[UUID]) -> None:
        """Of `pairs`, leave exactly those in `review` in the review queue."""
        marked, queued = set(pairs), set(review)
        for key, pair in self._state.pairs.items():
            if pair.pair_id in marked:
                self._state.pairs[key] = replace(pair, in_review=pair.pair_id in queued)

    async def pairs_in_review(
        self, *, org: str, limit: int
    ) -> list[tuple[StoredPair, Registration, Registration]]:
        """Return the best `limit` pairs of `org` awaiting review (identity conflicts first,
        then best score, then pair id); a pair missing a registration is left out."""
        held = self._state.registrations
        waiting = [
            pair
            for pair in self._state.pairs.values()
            if pair.in_review
            and org in (pair.a[0], pair.b[0])
            and pair.a in held
            and pair.b in held
        ]
        waiting.sort(key=lambda p: (not _conflict(held, p), -p.score, p.pair_id))
        return [(p, held[p.a], held[p.b]) for p in waiting[: max(limit, 0)]]

    async def pair(self, pair_id: UUID) -> StoredPair | None:
        """Return the scored pair with this id, if there is one."""
        return next((p for p in self._state.pairs.values() if p.pair_id == pair_id), None)


class FakeDecisions:
    """The stewards' decision events in a list, in the order recorded."""

    def __init__(self, state: InMemoryReadModel) -> None:
        self._state = state

    async def append(self, envelope: Envelope, decision: IdentityDecision) -> None:
        """Record a decision event and the pairs it decides (decided when it occurred)."""
        decided = self._state.decisions
        position = decided[-1].position + 1 if decided else 1
        pairs = pairwise(decision, decided_at=_utc(envelope.occurred_at))
        decided.append(RecordedDecision(position, envelope, tuple(pairs)))

    async def among(self, records: Collection[PersonKey]) -> list[HumanDecision]:
        """Return every decided pair whose both records are among `records`."""
        among = set(records)
        return [p for _, p in _decided_pairs(self._state) if p.a in among and p.b in among]

    async def decided_by(
        self, records: Collection[PersonKey]
    ) -> list[tuple[frozenset[PersonKey], bool, str]]:
        """Return (pair, same person?, the steward's organisation) of every decided pair
        among `records`, by when decided, a keep-apart last among equals, then as recorded."""
        among = set(records)
        decided = [
            (p, recorded)
            for recorded, p in _decided_pairs(self._state)
            if p.a in among and p.b in among
        ]
        decided.sort(key=lambda d: (d[0].decided_at, not d[0].same, d[1].position))
        return [(p.pair, p.same, recorded.envelope.org) for p, recorded in decided]

    async def decided_about(self, org: str) -> list[tuple[frozenset[PersonKey], bool, str]]:
        """Return (pair, same person?, the steward's organisation) of every decided pair
        naming a record of `org`, in the order decided (as `decided_by`)."""
        named = {key for _, p in _decided_pairs(self._state) for key in p.pair if key[0] == org}
        partners = {key for _, p in _decided_pairs(self._state) if p.pair & named for key in p.pair}
        return [
            d for d in await self.decided_by(named | partners) if any(k[0] == org for k in d[0])
        ]

    async def naming(self, records: Collection[PersonKey]) -> list[Envelope]:
        """Return the decision events that name any of `records`, in the order recorded."""
        named = set(records)
        return [
            recorded.envelope
            for recorded in self._state.decisions
            if any(p.a in named or p.b in named for p in recorded.pairs)
        ]

    async def last_position(self) -> int:
        """Return the position of the latest decision (0 when there is none)."""
        return self._state.decisions[-1].position if self._state.decisions else 0

    async def records_named_after(self, position: int) -> set[PersonKey]:
        """Return every record named by a decision recorded after `position`."""
        return {
            key
            for recorded in self._state.decisions
            if recorded.position > position
            for pair in recorded.pairs
            for key in (pair.a, pair.b)
        }

    async def events(self) -> list[Envelope]:
        """Return every decision event, in the order recorded."""
        return [recorded.envelope for recorded in self._state.decisions]


class FakeCheckpoints:
    """The consumer's positions in a dict."""

    def __init__(self, state: InMemoryReadModel) -> None:
        self._state = state

    async def lock(self, source: str) -> LogPosition:
        """Return the position read up to in `source` (the start the first time)."""
        return self._state.checkpoints.setdefault(source, LOG_START)

    async def save(self, source: str, position: LogPosition) -> None:
        """Move a locked `source`'s position on (one never locked stays unsaved, as the
        PostgreSQL UPDATE finds no row)."""
        if source in self._state.checkpoints:
            self._state.checkpoints[source] = position


class FakeUnitOfWork:
    """A unit of work over an `InMemoryReadModel`: a copy, written back on commit."""

    def __init__(self, committed: InMemoryReadModel) -> None:
        self._committed_state = committed
        self._bind(committed.copied())

    async def __aenter__(self) -> Self:
        """Begin: work on a fresh copy of what is committed."""
        self._bind(self._committed_state.copied())
        return self

    async def __aexit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        """End: what was not committed is dropped with the copy."""

    async def commit(self) -> None:
        """Write the copy back as the committed state."""
        committed = self._committed_state
        for column in fields(committed):
            if column.name not in _KEPT_ON_ROLLBACK:
                setattr(committed, column.name, getattr(self._state, column.name))
        committed.commits += 1
        self._bind(committed.copied())

    async def open(self, envelopes: Sequence[Envelope]) -> Sequence[Envelope | None]:
        """Nothing is sealed in memory: the events as they are."""
        return envelopes

    async def park(self, unreadable: Sequence[tuple[Envelope, Unreadable]]) -> None:
        """Keep events this version cannot read aside (each once)."""
        for envelope, why in unreadable:
            self._state.parked.setdefault((envelope.org, envelope.event_id), (envelope, why))

    @property
    def parked(self) -> dict[tuple[str, UUID], tuple[Envelope, Unreadable]]:
        """Return the events set aside as this unit of work sees them, by (org, event id)."""
        return dict(self._state.parked)

    async def hold_live(self) -> None:
        """Note that the live-version lock was taken."""
        self._committed_state.locks.append("live")

    async def hold_relinking(self) -> None:
        """Note that the re-linking lock was taken, alone."""
        self._committed_state.locks.append("relinking")

    async def hold_links_still(self) -> None:
        """Note that the re-linking lock was taken, shared."""
        self._committed_state.locks.append("links_still")

    def _bind(self, state: InMemoryReadModel) -> None:
        self._state = state
        self.read_model = FakeReadModelStore(state)
        self.matches = FakeMatches(state)
        self.decisions = FakeDecisions(state)
        self.checkpoints = FakeCheckpoints(state)


def fake_unit_of_work() -> tuple[InMemoryReadModel, Callable[[], FakeUnitOfWork]]:
    """Return an empty read model and a maker of units of work over it."""
    state = InMemoryReadModel()
    return state, lambda: FakeUnitOfWork(state)


def _utc(at: datetime) -> datetime:
    """Return a time in UTC, a naive one taken as UTC (as PostgreSQL stores it)."""
    return at.replace(tzinfo=UTC) if at.tzinfo is None else at.astimezone(UTC)


def _order(registration: Registration) -> tuple[datetime, UUID]:
    return (_utc(registration.occurred_at), registration.event_id)


def _conflict(held: dict[PersonKey, Registration], pair: StoredPair) -> bool:
    """Tell whether both records are registered with one NHS number."""
    a, b = held.get(pair.a), held.get(pair.b)
    return (
        a is not None
        and b is not None
        and a.record.nhs_number is not None
        and (a.record.nhs_number == b.record.nhs_number)
    )


def _walk(state: InMemoryReadModel, start: Iterable[PersonKey], link_from: float) -> set[PersonKey]:
    """Return the records reached from `start` by strong pairs, NHS numbers, citizens and
    decisions, transitively (`match_store._component_sql`)."""
    edges, by_number, by_citizen = _edges(state, link_from), _by_number(state), _by_citizen(state)
    found, frontier = set(start), list(start)
    while frontier:
        key = frontier.pop()
        held, citizen = state.registrations.get(key), state.links.get(key)
        number = None if held is None else held.record.nhs_number
        for next_key in edges[key] | by_number[number] | by_citizen[citizen]:
            if next_key not in found:
                found.add(next_key)
                frontier.append(next_key)
    return found


def _edges(state: InMemoryReadModel, link_from: float) -> defaultdict[PersonKey, set[PersonKey]]:
    """Return each record's neighbours by a pair scoring `link_from` or more, or a decision."""
    edges: defaultdict[PersonKey, set[PersonKey]] = defaultdict(set)
    strong = [(p.a, p.b) for p in state.pairs.values() if p.score >= link_from]
    decided = [(p.a, p.b) for _, p in _decided_pairs(state)]
    for a, b in strong + decided:
        edges[a].add(b)
        edges[b].add(a)
    return edges


def _by_number(state: InMemoryReadModel) -> defaultdict[str | None, set[PersonKey]]:
    """Return the registered records under each NHS number (none under None)."""
    grouped: defaultdict[str | None, set[PersonKey]] = defaultdict(set)
    for key, held in state.registrations.items():
        if held.record.nhs_number is not None:
            grouped[held.record.nhs_number].add(key)
    return grouped


def _by_citizen(state: InMemoryReadModel) -> defaultdict[UUID | None, set[PersonKey]]:
    """Return the records linked to each citizen (none under None)."""
    grouped: defaultdict[UUID | None, set[PersonKey]] = defaultdict(set)
    for key, citizen in state.links.items():
        grouped[citizen].add(key)
    return grouped


def _decided_pairs(state: InMemoryReadModel) -> list[tuple[RecordedDecision, HumanDecision]]:
    """Return every decided pair with its decision event, in the order recorded."""
    return [(recorded, pair) for recorded in state.decisions for pair in recorded.pairs]


def _decided_among(
    state: InMemoryReadModel, held: Collection[PersonKey]
) -> list[tuple[HumanDecision, str]]:
    """Return the decided pairs among `held` with their stewards' organisations, by when
    decided, a keep-apart last among equals, then as recorded (`match_store._component`)."""
    among = [
        (recorded, pair)
        for recorded, pair in _decided_pairs(state)
        if pair.a in held and pair.b in held
    ]
    among.sort(key=lambda d: (d[1].decided_at, not d[1].same, d[0].position))
    return [(pair, recorded.envelope.org) for recorded, pair in among]
