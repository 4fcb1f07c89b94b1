"""The projection's unit of work: one transaction of one read model's stores, owned by one use case.

Projecting a batch, re-linking identities, a steward's decision and refolding a citizen
read and write through the ports below and nothing else; an entrypoint (or the consumer
loop) opens a unit of work, hands it to the use case and commits it. Leaving the block
without `commit()` rolls everything back. The locks are the unit of work's too: they are
held until it ends. The PostgreSQL implementation is `adapters/postgres_unit_of_work.py`;
tests run the same contract on an in-memory fake
(tests/unit/projection/fake_unit_of_work.py).
"""

from collections.abc import Callable, Collection, Sequence
from typing import Protocol
from uuid import UUID

from events.envelope import Envelope
from services.identity_matching.matching import PersonRecord
from services.projection.domain.identity_decisions import IdentityDecision
from services.projection.domain.identity_records import (
    Component,
    Registration,
    StoredPair,
)
from services.projection.domain.linkage import HumanDecision, PersonKey
from services.projection.domain.view import CitizenView, ConsentState
from services.runtime.event_log import LogPosition
from services.runtime.parked_events import Unreadable
from services.runtime.pooled_transaction import Transactional


class ReadModelStore(Protocol):
    """The timeline, the links of organisations' records to citizens, and the views."""

    async def insert_timeline(self, envelopes: Sequence[Envelope]) -> dict[UUID, int]:
        """Add one organisation's events to the timeline; return the new ones' ids, each
        with its arrival (a number that grows with every event added)."""
        ...

    async def erase_timeline_values(self, org: str, event_id: UUID) -> None:
        """Erase in place every personal value of one timeline event (one its organisation
        retracted with its values); nothing when the timeline does not hold it."""
        ...

    async def seen_before(self, keys: Collection[PersonKey], arrival: int) -> set[PersonKey]:
        """Return which of these records have timeline events that arrived before `arrival`."""
        ...

    async def linked_events(self, citizen_ids: Collection[UUID]) -> list[tuple[UUID, Envelope]]:
        """Return every timeline event of these citizens' linked records, in arrival order."""
        ...

    async def links_of(self, keys: Collection[PersonKey]) -> dict[PersonKey, UUID]:
        """Return the citizen each of these records is linked to (those linked)."""
        ...

    async def records_of(self, citizen_id: UUID) -> set[PersonKey]:
        """Return the records linked to a citizen."""
        ...

    async def save_links(self, links: dict[PersonKey, UUID]) -> None:
        """Link records to citizens, replacing their earlier links."""
        ...

    async def lock_citizens(self, citizen_ids: Collection[UUID]) -> None:
        """Hold these citizens (stored or not yet) until the unit of work ends."""
        ...

    async def load_views(self, citizen_ids: Collection[UUID]) -> dict[UUID, CitizenView]:
        """Return the stored views of those of these citizens who have one."""
        ...

    async def consents_of(
        self, citizen_ids: Collection[UUID]
    ) -> dict[UUID, tuple[ConsentState, ...]]:
        """Return the standing consent decisions of those of these citizens who have a view
        (what the sharing rules need of a view to say what a person withholds), without
        reading the rest of each view."""
        ...

    async def save_views(self, views: Sequence[CitizenView]) -> None:
        """Write these views; a citizen no record is linked to any more goes."""
        ...


class Matches(Protocol):
    """The records' latest registrations, their blocking keys and scored pairs."""

    async def save_latest(
        self, registrations: Sequence[Registration]
    ) -> dict[PersonKey, Registration]:
        """Store each record's registration unless a later one (by occurrence, then event
        id) is stored; return the changed records with what is stored now."""
        ...

    async def registrations(self, keys: Collection[PersonKey]) -> dict[PersonKey, Registration]:
        """Return the stored registrations of these records (those that have one)."""
        ...

    async def blocks(self, records: Sequence[PersonRecord]) -> list[tuple[str, PersonRecord]]:
        """Return every stored record under each blocking key it shares with these (these
        records given back as they are)."""
        ...

    async def every_record(self) -> list[PersonRecord]:
        """Return every stored registration's record, in no particular order (what a
        matching model is learnt from)."""
        ...

    async def replace_pairs(
        self, records: Collection[PersonKey], pairs: Sequence[StoredPair], *, model: str
    ) -> None:
        """Forget every scored pair of these records, then store `pairs`, scored by the
        matching model of version `model` (a pair already stored keeps whether it awaits
        review)."""
        ...

    async def component(self, start: Collection[PersonKey], *, link_from: float) -> Component:
        """Return what re-linking the records connected to `start` reads: connected by a
        pair scoring at least `link_from`, an NHS number, a shared citizen or a decision."""
        ...

    async def mark_review(self, pairs: Collection[UUID], review: Collection[UUID]) -> None:
        """Of `pairs`, leave exactly those in `review` in the review queue."""
        ...

    async def pairs_in_review(
        self, *, org: str, limit: int
    ) -> list[tuple[StoredPair, Registration, Registration]]:
        """Return the best `limit` pairs with a record of `org` awaiting review (identity
        conflicts first, then best score, then pair id), with both registrations."""
        ...

    async def pair(self, pair_id: UUID) -> StoredPair | None:
        """Return the scored pair with this id, if there is one."""
        ...


class Decisions(Protocol):
    """The data stewards' identity decisions (beside the read model's versions)."""

    async def append(self, envelope: Envelope, decision: IdentityDecision) -> None:
        """Record a decision event and the pairs it decides."""
        ...

    async def among(self, records: Collection[PersonKey]) -> list[HumanDecision]:
        """Return every decided pair whose both records are among `records`."""
        ...

    async def decided_by(
        self, records: Collection[PersonKey]
    ) -> list[tuple[frozenset[PersonKey], bool, str]]:
        """Return (pair, same person?, the steward's organisation) of every decided pair
        among `records`, in the order decided (a keep-apart last among equals)."""
        ...

    async def decided_about(self, org: str) -> list[tuple[frozenset[PersonKey], bool, str]]:
        """Return (pair, same person?, the steward's organisation) of every decided pair
        naming a record of `org`, in the order decided (as `decided_by`)."""
        ...


class Checkpoints(Protocol):
    """How far the projection has read each organisation's log."""

    async def lock(self, source: str) -> LogPosition:
        """Return the position read up to in `source`, held against other consumers."""
        ...

    async def save(self, source: str, position: LogPosition) -> None:
        """Move `source`'s position on."""
        ...


class UnitOfWork(Transactional, Protocol):
    """One transaction over a read model's stores, with the locks the use cases hold."""

    @property
    def read_model(self) -> ReadModelStore:
        """The timeline, links and views."""
        ...

    @property
    def matches(self) -> Matches:
        """Registrations and scored pairs."""
        ...

    @property
    def decisions(self) -> Decisions:
        """The stewards' decisions."""
        ...

    @property
    def checkpoints(self) -> Checkpoints:
        """The log consumer's positions."""
        ...

    async def open(self, envelopes: Sequence[Envelope]) -> Sequence[Envelope | None]:
        """Return the events with personal values opened (None: about an erased person)."""
        ...

    async def park(self, unreadable: Sequence[tuple[Envelope, Unreadable]]) -> None:
        """Keep events this version cannot read aside (they stay in the timeline)."""
        ...

    async def hold_live(self) -> None:
        """Keep the read model from being switched to a rebuilt version until the end."""
        ...

    async def hold_relinking(self) -> None:
        """Wait until no other unit of work re-links or reads links, and keep them out."""
        ...

    async def hold_links_still(self) -> None:
        """Keep re-linking out (others that only read links may run at once)."""
        ...


UnitsOfWork = Callable[[], UnitOfWork]  # a new unit of work for each transaction
