"""The unit of work: one transaction of one organisation's stores, owned by one use case.

The service layer reads and writes through the ports below and nothing else; an entrypoint
opens a unit of work, hands it to a use case and commits it. Leaving the block without
`commit()` rolls everything back. `attempt()` marks a part of the work that may fail and be
retried (a lost race on a stream, a referral refused half-way): a failed attempt leaves
nothing behind and the rest of the work goes on. The PostgreSQL implementation is
`adapters/postgres_unit_of_work.py`; tests run the same contract on an in-memory fake.
"""

from collections.abc import Sequence
from contextlib import AbstractAsyncContextManager
from datetime import datetime
from typing import Protocol
from uuid import UUID

from events.envelope import Envelope, OrgId
from events.organisations import Sector
from services.identity_matching.matching import MatchingConfig
from services.organisation.domain.outbound_notices import Delivery
from services.organisation.domain.people import ExistingPerson
from services.organisation.domain.worklists import (
    CaseRow,
    Page,
    PersonRow,
    ReferralRow,
    WorklistChange,
)
from services.runtime.event_store import StoredEvent
from services.runtime.idempotency import StoredResponse
from services.runtime.pooled_transaction import Transactional


class Streams(Protocol):
    """The organisation's event streams (personal values sealed and opened on the way)."""

    async def read(self, stream_id: str) -> list[StoredEvent]:
        """Return a stream's events in order (none when it does not exist, or was erased)."""
        ...

    async def read_many(self, stream_ids: Sequence[str]) -> dict[str, list[StoredEvent]]:
        """Return each stream's events in order (none for one that does not exist, or was
        erased), read together."""
        ...

    async def append(
        self, stream_id: str, *, expected_version: int, events: Sequence[Envelope]
    ) -> int:
        """Append at `expected_version`; return the new version. The same events again are a
        no-op; raises StreamConflict when the stream moved on, EventIdReused for an id another
        event holds, RecordErased for an erased person."""
        ...

    async def open(self, envelope: Envelope) -> Envelope | None:
        """Return another organisation's event with its personal values opened (None when
        its person was erased)."""
        ...

    async def erase_values(self, event_id: UUID) -> None:
        """Erase in place every personal value of one of this organisation's events (one
        retracted with its values): it reads with them erased from then on."""
        ...

    async def shred(self, subject: UUID) -> None:
        """Shred the key of one of this organisation's records (a held referral's copy of
        the referred details, once a worker chose the record it is about): its events read
        as erased from then on."""
        ...


class People(Protocol):
    """Who holds which identifier in this organisation: one person per NHS number, local id."""

    async def claim(
        self, *, person_id: UUID, nhs_number: str | None, local_id: str | None
    ) -> ExistingPerson | None:
        """Record a person's identifiers; return who already holds them instead, if anyone."""
        ...

    async def find_by_nhs_number(self, nhs_number: str) -> UUID | None:
        """Return the person registered with this NHS number, if any."""
        ...

    async def find_by_local_id(self, local_id: str) -> UUID | None:
        """Return the person registered with this local id (a charity's record id), if any."""
        ...

    async def change(
        self, *, person_id: UUID, nhs_number: str | None, local_id: str | None
    ) -> ExistingPerson | None:
        """Make these the person's identifiers; return who already holds one instead (then
        nothing changes)."""
        ...


class IdempotencyRecords(Protocol):
    """The answers given to requests that carried an Idempotency-Key."""

    async def claim(self, *, scope: str, key: str, fingerprint: str) -> StoredResponse | None:
        """Claim `key`; return the earlier answer if it was used (IdempotencyKeyReused when
        for a different request)."""
        ...

    async def remember(self, *, scope: str, key: str, response: StoredResponse) -> None:
        """Store the answer to a claimed key."""
        ...


class Worklists(Protocol):
    """The organisation's lists of referrals, cases and people, newest first, paged by
    cursor (BadCursor for one they did not give out)."""

    async def apply(self, changes: Sequence[WorklistChange]) -> None:
        """Apply changes its log made to the lists, in order (each once: again is a no-op)."""
        ...

    async def referrals(
        self, *, direction: str, statuses: Sequence[str], limit: int, cursor: str | None
    ) -> Page[ReferralRow]:
        """Return a page of the referrals one way, of these statuses (all when empty)."""
        ...

    async def cases(
        self, *, statuses: Sequence[str], key_worker: str | None, limit: int, cursor: str | None
    ) -> Page[CaseRow]:
        """Return a page of the cases of these statuses (all when empty), led by
        `key_worker` (name or email, any case) when given."""
        ...

    async def people(
        self,
        *,
        family_name_token: bytes | None,
        date_of_birth_token: bytes | None,
        limit: int,
        cursor: str | None,
    ) -> Page[PersonRow]:
        """Return a page of the people found by these search tokens (each when given)."""
        ...

    async def people_born_on(
        self, date_of_birth_tokens: Sequence[bytes], *, limit: int
    ) -> list[UUID]:
        """Return the people (the `limit` most recently registered) whose birth date has one
        of these search tokens."""
        ...


class WebhooksOut(Protocol):
    """The webhooks out to deliver to charities' systems: which event, to which source."""

    async def queue(self, deliveries: list[tuple[UUID, str, UUID, str]]) -> None:
        """Queue (delivery id, source, event id, stream id)s; one queued before stays."""
        ...

    async def due(self, now: datetime, limit: int) -> list[Delivery]:
        """Return pending deliveries due by `now`, held for this unit of work."""
        ...

    async def lease(self, delivery_id: UUID, until: datetime) -> None:
        """Hold a delivery being sent: not due again before `until` (if its sender dies, it
        is sent again then: receivers tell a repeat by its `webhook-id`)."""
        ...

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
        ...


class UnitOfWork(Transactional, Protocol):
    """One transaction over an organisation's streams, people and idempotency records."""

    @property
    def org(self) -> OrgId:
        """The organisation whose stores these are."""
        ...

    @property
    def sector(self) -> Sector:
        """The sector it works in (whose vocabulary it records)."""
        ...

    @property
    def streams(self) -> Streams:
        """Its event streams."""
        ...

    @property
    def people(self) -> People:
        """Its people lookup."""
        ...

    @property
    def idempotency(self) -> IdempotencyRecords:
        """Its answers to Idempotency-Keys."""
        ...

    @property
    def worklists(self) -> Worklists:
        """Its lists of referrals, cases and people."""
        ...

    @property
    def webhooks(self) -> WebhooksOut:
        """Its webhooks out to deliver."""
        ...

    @property
    def search_key(self) -> bytes:
        """The key of its people's search tokens."""
        ...

    @property
    def matching(self) -> MatchingConfig:
        """The places' matching thresholds (the projection's): how sure a referred person's
        match must be to be taken for one of its own records."""
        ...

    def attempt(self) -> AbstractAsyncContextManager[None]:
        """Mark a part of the work that leaves nothing behind if it raises."""
        ...
