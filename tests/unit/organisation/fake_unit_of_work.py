"""An organisation's stores in memory, behind the same unit of work as PostgreSQL's.

`InMemoryStores` is the committed state; a `FakeUnitOfWork` works on a copy of it and writes
the copy back on commit, so uncommitted work vanishes as a rolled-back transaction does.
The contract suite (tests/integration/organisation/test_unit_of_work_contract.py) runs the
same cases on this and on `PostgresUnitOfWork`. Personal values are not sealed here; a
record's key shredded (`shred`) makes its events read as erased, as on PostgreSQL (a whole
person's erasure is tested on PostgreSQL).
"""

import copy
import hashlib
from collections.abc import AsyncIterator, Callable, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from types import TracebackType
from typing import Self, TypeVar
from uuid import UUID

from events.envelope import Envelope, OrgId
from events.organisations import DEFAULT_ORGANISATIONS, Sector
from services.identity_matching.matching import MatchingConfig
from services.organisation.domain.outbound_notices import Delivery
from services.organisation.domain.people import ExistingPerson
from services.organisation.domain.worklists import (
    REFERRAL_RANK,
    CaseClosedListed,
    CaseLeadChanged,
    CaseListed,
    CaseReopened,
    CaseRow,
    Page,
    PersonListed,
    PersonRow,
    PersonSearchChanged,
    ReferralListed,
    ReferralMoved,
    ReferralRow,
    WorklistChange,
    cursor_after,
    next_cursor,
)
from services.runtime.event_store import EventIdReused, StoredEvent, StreamConflict
from services.runtime.idempotency import IdempotencyKeyReused, StoredResponse
from services.runtime.person_keys import RecordErased
from services.runtime.sealing import all_values_erased, needs_sealing

Row = TypeVar("Row")
SEARCH_KEY = hashlib.sha256(b"caseweave in-memory people search").digest()


@dataclass
class InMemoryStores:
    """One organisation's committed streams, people, idempotency records and worklists."""

    org: OrgId
    streams: dict[str, list[StoredEvent]] = field(default_factory=dict)
    people: list[ExistingPerson] = field(default_factory=list)
    idempotency: dict[tuple[str, str], tuple[str, StoredResponse | None]] = field(
        default_factory=dict
    )
    referral_list: dict[UUID, ReferralRow] = field(default_factory=dict)
    case_list: dict[UUID, CaseRow] = field(default_factory=dict)
    person_search: dict[UUID, PersonListed] = field(default_factory=dict)
    shredded: set[str] = field(default_factory=set)  # subjects whose keys are shredded
    webhooks: dict[UUID, Delivery] = field(default_factory=dict)
    commits: int = 0


class FakeStreams:
    """Streams in a dict, with the event store's version and event-id rules."""

    def __init__(self, state: InMemoryStores) -> None:
        self._state = state

    async def read(self, stream_id: str) -> list[StoredEvent]:
        """Return a stream's events in order (but those of shredded records)."""
        shredded = self._state.shredded
        return [
            s for s in self._state.streams.get(stream_id, []) if s.envelope.subject not in shredded
        ]

    async def read_many(self, stream_ids: Sequence[str]) -> dict[str, list[StoredEvent]]:
        """Return each stream's events in order."""
        return {stream_id: await self.read(stream_id) for stream_id in stream_ids}

    async def append(
        self, stream_id: str, *, expected_version: int, events: Sequence[Envelope]
    ) -> int:
        """Append at `expected_version`, as the PostgreSQL event store does."""
        erased = [e for e in events if e.subject in self._state.shredded and needs_sealing(e)]
        if erased:
            raise RecordErased([(self._state.org, erased[0].subject)])
        stream = self._state.streams.setdefault(stream_id, [])
        if self._already_appended(stream_id, events):
            return len(stream)
        if len(stream) != expected_version:
            raise StreamConflict(stream_id, expected=expected_version, actual=len(stream))
        for offset, envelope in enumerate(events, start=1):
            stream.append(StoredEvent(stream_id, expected_version + offset, envelope))
        return len(stream)

    async def open(self, envelope: Envelope) -> Envelope | None:
        """Nothing is sealed in memory: an event opens unless its record was shredded."""
        return None if envelope.subject in self._state.shredded else envelope

    async def erase_values(self, event_id: UUID) -> None:
        """Erase one event's personal values in place, as PostgreSQL's store does."""
        for stream in self._state.streams.values():
            for index, stored in enumerate(stream):
                e = stored.envelope
                if e.event_id == event_id:
                    data = all_values_erased(e.type, e.schema_version, e.data)
                    if data is not None:
                        envelope = e.model_copy(update={"data": data})
                        stream[index] = replace(stored, envelope=envelope)

    async def shred(self, subject: UUID) -> None:
        """Shred a record's key: its events read as erased."""
        self._state.shredded.add(str(subject))

    def _already_appended(self, stream_id: str, events: Sequence[Envelope]) -> bool:
        wanted = {e.event_id: (stream_id, e.type, e.data) for e in events}
        stored = {
            s.envelope.event_id: (s.stream_id, s.envelope.type, s.envelope.data)
            for stream in self._state.streams.values()
            for s in stream
            if s.envelope.event_id in wanted
        }
        if not stored:
            return False
        if stored == wanted:
            return True
        raise EventIdReused(f"event ids already used for other events: {sorted(map(str, stored))}")


class FakePeople:
    """The people lookup in a list: one person per NHS number and per local id."""

    def __init__(self, state: InMemoryStores) -> None:
        self._state = state

    async def claim(
        self, *, person_id: UUID, nhs_number: str | None, local_id: str | None
    ) -> ExistingPerson | None:
        """Record a person's identifiers; return who already holds them instead, if anyone."""
        for held in self._state.people:
            if (
                held.person_id == person_id
                or (nhs_number is not None and held.nhs_number == nhs_number)
                or (local_id is not None and held.local_id == local_id)
            ):
                return held
        self._state.people.append(ExistingPerson(person_id, nhs_number, local_id))
        return None

    async def find_by_nhs_number(self, nhs_number: str) -> UUID | None:
        """Return the person registered with this NHS number, if any."""
        return next((p.person_id for p in self._state.people if p.nhs_number == nhs_number), None)

    async def find_by_local_id(self, local_id: str) -> UUID | None:
        """Return the person registered with this local id, if any."""
        return next((p.person_id for p in self._state.people if p.local_id == local_id), None)

    async def change(
        self, *, person_id: UUID, nhs_number: str | None, local_id: str | None
    ) -> ExistingPerson | None:
        """Make these the person's identifiers; return who already holds one instead."""
        for held in self._state.people:
            if held.person_id != person_id and (
                (nhs_number is not None and held.nhs_number == nhs_number)
                or (local_id is not None and held.local_id == local_id)
            ):
                return held
        self._state.people = [
            ExistingPerson(person_id, nhs_number, local_id) if p.person_id == person_id else p
            for p in self._state.people
        ]
        return None


class FakeIdempotencyRecords:
    """Idempotency keys in a dict."""

    def __init__(self, state: InMemoryStores) -> None:
        self._state = state

    async def claim(self, *, scope: str, key: str, fingerprint: str) -> StoredResponse | None:
        """Claim `key`; return the earlier answer if it was used."""
        held = self._state.idempotency.get((scope, key))
        if held is None:
            self._state.idempotency[(scope, key)] = (fingerprint, None)
            return None
        if held[0] != fingerprint:
            raise IdempotencyKeyReused(key)
        return held[1]

    async def remember(self, *, scope: str, key: str, response: StoredResponse) -> None:
        """Store the answer to a claimed key."""
        fingerprint, _ = self._state.idempotency[(scope, key)]
        self._state.idempotency[(scope, key)] = (fingerprint, response)


class FakeWorklists:
    """The worklists in dicts, with the SQL's rules: a row is listed once (listed again: a
    no-op), updates of rows never listed do nothing; reads newest first by (time, id)."""

    def __init__(self, state: InMemoryStores) -> None:
        self._state = state

    async def apply(self, changes: Sequence[WorklistChange]) -> None:
        """Apply changes in order."""
        for change in changes:
            self._apply(change)

    def _apply(self, change: WorklistChange) -> None:
        state = self._state
        if isinstance(change, ReferralListed):
            listed = state.referral_list.get(change.referral_id)
            if listed and listed.status == "held" and change.status == "received":
                state.referral_list[change.referral_id] = replace(  # its person chosen
                    listed, status="received", person_id=change.person_id, updated_at=change.at
                )
            state.referral_list.setdefault(
                change.referral_id,
                ReferralRow(
                    change.referral_id, change.direction, change.status, change.other_org,
                    change.person_id, change.urgency, change.at, change.at,
                ),
            )  # fmt: skip
        elif isinstance(change, ReferralMoved):  # never back: REFERRAL_RANK
            referral = state.referral_list.get(change.referral_id)
            if referral and REFERRAL_RANK[referral.status] < REFERRAL_RANK[change.status]:
                state.referral_list[change.referral_id] = replace(
                    referral, status=change.status, updated_at=change.at
                )
        elif isinstance(change, CaseListed):
            state.case_list.setdefault(
                change.case_id,
                CaseRow(
                    change.case_id, change.person_id, "open", change.key_worker,
                    change.key_worker_email, change.at, change.at,
                ),
            )  # fmt: skip
        elif isinstance(change, CaseLeadChanged | CaseReopened | CaseClosedListed):
            self._change_case(change)
        elif isinstance(change, PersonSearchChanged):
            if found := state.person_search.get(change.person_id):
                state.person_search[change.person_id] = replace(
                    found,
                    family_name_token=change.family_name_token or found.family_name_token,
                    date_of_birth_token=change.date_of_birth_token or found.date_of_birth_token,
                )
        else:
            state.person_search.setdefault(change.person_id, change)

    def _change_case(self, change: CaseLeadChanged | CaseReopened | CaseClosedListed) -> None:
        """A listed case's new lead, or its status (an unknown case: nothing)."""
        case = self._state.case_list.get(change.case_id)
        if case is None:
            return
        if isinstance(change, CaseLeadChanged):
            case = replace(
                case, key_worker=change.key_worker, key_worker_email=change.key_worker_email
            )
        else:
            case = replace(case, status="open" if isinstance(change, CaseReopened) else "closed")
        self._state.case_list[change.case_id] = replace(case, updated_at=change.at)

    async def referrals(
        self, *, direction: str, statuses: Sequence[str], limit: int, cursor: str | None
    ) -> Page[ReferralRow]:
        """Return a page of the referrals one way, of these statuses (all when empty)."""
        rows = [
            r
            for r in self._state.referral_list.values()
            if r.direction == direction and (not statuses or r.status in statuses)
        ]
        return _page(rows, "referral_list", lambda r: (r.listed_at, r.referral_id), limit, cursor)

    async def cases(
        self, *, statuses: Sequence[str], key_worker: str | None, limit: int, cursor: str | None
    ) -> Page[CaseRow]:
        """Return a page of the cases of these statuses (all when empty), led by
        `key_worker` (name or email, any case) when given."""
        rows = [
            c
            for c in self._state.case_list.values()
            if (not statuses or c.status in statuses) and _led_by(c, key_worker)
        ]
        return _page(rows, "case_list", lambda c: (c.opened_at, c.case_id), limit, cursor)

    async def people(
        self,
        *,
        family_name_token: bytes | None,
        date_of_birth_token: bytes | None,
        limit: int,
        cursor: str | None,
    ) -> Page[PersonRow]:
        """Return a page of the people found by these search tokens (each when given)."""
        rows = [
            PersonRow(p.person_id, p.at)
            for p in self._state.person_search.values()
            if family_name_token in (None, p.family_name_token)
            and date_of_birth_token in (None, p.date_of_birth_token)
        ]
        return _page(rows, "person_search", lambda p: (p.registered_at, p.person_id), limit, cursor)

    async def people_born_on(
        self, date_of_birth_tokens: Sequence[bytes], *, limit: int
    ) -> list[UUID]:
        """Return the people (the `limit` most recently registered) whose birth date has one
        of these search tokens."""
        wanted = set(date_of_birth_tokens)
        born = [p for p in self._state.person_search.values() if p.date_of_birth_token in wanted]
        born.sort(key=lambda p: (p.at, p.person_id), reverse=True)
        return [p.person_id for p in born[:limit]]


def _led_by(case: CaseRow, key_worker: str | None) -> bool:
    """Tell whether `key_worker` (name or email, any case; None: anyone) leads the case."""
    if key_worker is None:
        return True
    leads = [case.key_worker, case.key_worker_email]
    return key_worker.lower() in [lead.lower() for lead in leads if lead is not None]


def _page(
    rows: list[Row],
    table: str,
    order: Callable[[Row], tuple[datetime, UUID]],
    limit: int,
    cursor: str | None,
) -> Page[Row]:
    """Return the rows newest first by `order`, after `cursor`, `limit` of them."""
    after = cursor_after(cursor, table)
    following = [
        r for r in sorted(rows, key=order, reverse=True) if after is None or order(r) < after
    ]
    shown = following[:limit]
    more = len(following) > limit
    return Page(shown, len(rows), next_cursor(table, *order(shown[-1])) if shown and more else None)


class FakeWebhooksOut:
    """The webhooks out in a dict, by delivery id (the contract suite's cases hold on it)."""

    def __init__(self, state: InMemoryStores) -> None:
        self._state = state

    async def queue(self, deliveries: list[tuple[UUID, str, UUID, str]]) -> None:
        """Queue deliveries; one queued before stays as it is."""
        for delivery_id, source, event_id, stream_id in deliveries:
            self._state.webhooks.setdefault(
                delivery_id,
                Delivery(delivery_id, source, event_id, stream_id, "pending", 0, None,
                         datetime.min.replace(tzinfo=UTC), None),
            )  # fmt: skip

    async def due(self, now: datetime, limit: int) -> list[Delivery]:
        """Return pending deliveries due by `now`, oldest first."""
        due = [d for d in self._state.webhooks.values() if d.status == "pending"]
        return sorted(
            (d for d in due if d.next_attempt_at <= now), key=lambda d: d.next_attempt_at
        )[:limit]

    async def lease(self, delivery_id: UUID, until: datetime) -> None:
        """Hold a delivery being sent until `until`."""
        held = self._state.webhooks[delivery_id]
        self._state.webhooks[delivery_id] = replace(held, next_attempt_at=until)

    async def settle(
        self,
        delivery_id: UUID,
        *,
        status: str,
        attempts: int,
        first_tried_at: datetime,
        next_attempt_at: datetime,
        error: str | None,
        delivered_at: datetime | None = None,
    ) -> None:
        """Record how an attempt went."""
        held = self._state.webhooks[delivery_id]
        self._state.webhooks[delivery_id] = replace(
            held, status=status, attempts=attempts, first_tried_at=first_tried_at,
            next_attempt_at=next_attempt_at, last_error=error,
        )  # fmt: skip


class FakeUnitOfWork:
    """A unit of work over `InMemoryStores`: a copy, written back on commit."""

    def __init__(self, stores: InMemoryStores) -> None:
        self.org: OrgId = stores.org
        self.sector: Sector = DEFAULT_ORGANISATIONS.sector_of(stores.org) or "voluntary"
        self.search_key = SEARCH_KEY
        self.matching = MatchingConfig()
        self._committed_state = stores
        self._bind(copy.deepcopy(stores))

    async def __aenter__(self) -> Self:
        """Begin: work on a fresh copy of what is committed."""
        self._bind(copy.deepcopy(self._committed_state))
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
        committed.streams, committed.people = self._state.streams, self._state.people
        committed.idempotency = self._state.idempotency
        committed.referral_list = self._state.referral_list
        committed.case_list = self._state.case_list
        committed.person_search = self._state.person_search
        committed.shredded = self._state.shredded
        committed.webhooks = self._state.webhooks
        committed.commits += 1
        self._bind(copy.deepcopy(committed))

    @asynccontextmanager
    async def attempt(self) -> AsyncIterator[None]:
        """Keep what the block wrote only if it does not raise."""
        before = copy.deepcopy(self._state)
        try:
            yield
        except BaseException:
            self._bind(before)
            raise

    def _bind(self, state: InMemoryStores) -> None:
        self._state = state
        self.streams = FakeStreams(state)
        self.people = FakePeople(state)
        self.idempotency = FakeIdempotencyRecords(state)
        self.worklists = FakeWorklists(state)
        self.webhooks = FakeWebhooksOut(state)


def fake_unit_of_work(
    org: OrgId = "housing",
) -> tuple[InMemoryStores, Callable[[], FakeUnitOfWork]]:
    """Return empty stores of `org` and a factory of units of work over them."""
    stores = InMemoryStores(org)
    return stores, lambda: FakeUnitOfWork(stores)
