"""The unit of work on PostgreSQL: one pooled connection, one transaction, the stores bound to it.

`Stores` names an organisation's tables (its schema, the person keys that seal personal
values); `PostgresUnitOfWork` opens a transaction over them. A consumer that records its own
position (checkpoint, offsets, dead letters) in the same transaction writes through
`connection`; `joining` runs a use case inside a transaction somebody else owns and commits.
"""

from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from uuid import UUID

from events.envelope import Envelope, OrgId
from events.organisations import Sector
from services.identity_matching.matching import MatchingConfig
from services.organisation.adapters.people_table import PeopleTable
from services.organisation.adapters.webhook_deliveries import WebhookDeliveries
from services.organisation.adapters.worklist_tables import WorklistTables
from services.organisation.domain.people import ExistingPerson
from services.runtime.database import Connection, Pool
from services.runtime.event_store import EventStore, StoredEvent
from services.runtime.idempotency import IdempotencyKeys, StoredResponse
from services.runtime.person_keys import PersonKeys
from services.runtime.pooled_transaction import PooledTransaction
from services.runtime.search_keys import people_search_key


@dataclass(frozen=True)
class Stores:
    """One organisation's event store and lookup tables, all in its own schema."""

    org: OrgId
    sector: Sector
    events: EventStore
    people: PeopleTable
    idempotency: IdempotencyKeys
    search_key: bytes  # of the people's search tokens (`domain/worklists.py`)
    matching: MatchingConfig = field(default_factory=MatchingConfig)  # the places' thresholds

    @classmethod
    def in_schema(
        cls,
        org: OrgId,
        schema: str,
        *,
        sector: Sector,
        keys: PersonKeys | None = None,
        matching: MatchingConfig | None = None,
    ) -> "Stores":
        """Return the stores of `org` (of `sector`) kept in PostgreSQL schema `schema`
        (personal values sealed with the people's keys from `keys`; referred people found
        among its own by `matching`'s thresholds, the projection's)."""
        return cls(
            org=org,
            sector=sector,
            events=EventStore(schema, keys=keys),
            people=PeopleTable(schema),
            idempotency=IdempotencyKeys(schema),
            search_key=people_search_key(keys, org),
            matching=matching or MatchingConfig(),
        )


class PostgresStreams:
    """The event store, on the unit of work's connection."""

    def __init__(self, conn: Connection, events: EventStore, org: OrgId) -> None:
        self._conn = conn
        self._events = events
        self._org = org

    async def read(self, stream_id: str) -> list[StoredEvent]:
        """Return a stream's events in order."""
        return await self._events.read_stream(self._conn, stream_id)

    async def read_many(self, stream_ids: Sequence[str]) -> dict[str, list[StoredEvent]]:
        """Return each stream's events in order, in one statement."""
        return await self._events.read_streams(self._conn, stream_ids)

    async def append(
        self, stream_id: str, *, expected_version: int, events: Sequence[Envelope]
    ) -> int:
        """Append at `expected_version`; return the new version."""
        return await self._events.append(
            self._conn, stream_id=stream_id, expected_version=expected_version, events=events
        )

    async def open(self, envelope: Envelope) -> Envelope | None:
        """Return the event with its personal values opened (None once its person is erased)."""
        if self._events.keys is None:
            return envelope
        [opened] = await self._events.keys.open(self._conn, [envelope])
        return opened

    async def erase_values(self, event_id: UUID) -> None:
        """Erase one event's personal values in place."""
        await self._events.erase_values(self._conn, event_id)

    async def shred(self, subject: UUID) -> None:
        """Shred the key of one of this organisation's records: its events read as erased."""
        if self._events.keys is not None:
            await self._events.keys.erase(self._conn, [(self._org, str(subject))])


class PostgresPeople:
    """The people lookup, on the unit of work's connection."""

    def __init__(self, conn: Connection, people: PeopleTable) -> None:
        self._conn = conn
        self._people = people

    async def claim(
        self, *, person_id: UUID, nhs_number: str | None, local_id: str | None
    ) -> ExistingPerson | None:
        """Record a person's identifiers; return who already holds them instead, if anyone."""
        return await self._people.claim(
            self._conn, person_id=person_id, nhs_number=nhs_number, local_id=local_id
        )

    async def find_by_nhs_number(self, nhs_number: str) -> UUID | None:
        """Return the person registered with this NHS number, if any."""
        return await self._people.find_by_nhs_number(self._conn, nhs_number)

    async def find_by_local_id(self, local_id: str) -> UUID | None:
        """Return the person registered with this local id, if any."""
        return await self._people.find_by_local_id(self._conn, local_id)

    async def change(
        self, *, person_id: UUID, nhs_number: str | None, local_id: str | None
    ) -> ExistingPerson | None:
        """Make these the person's identifiers; return who already holds one instead."""
        return await self._people.change(
            self._conn, person_id=person_id, nhs_number=nhs_number, local_id=local_id
        )


class PostgresIdempotencyRecords:
    """The idempotency keys table, on the unit of work's connection."""

    def __init__(self, conn: Connection, keys: IdempotencyKeys) -> None:
        self._conn = conn
        self._keys = keys

    async def claim(self, *, scope: str, key: str, fingerprint: str) -> StoredResponse | None:
        """Claim `key`; return the earlier answer if it was used."""
        return await self._keys.claim(self._conn, scope=scope, key=key, fingerprint=fingerprint)

    async def remember(self, *, scope: str, key: str, response: StoredResponse) -> None:
        """Store the answer to a claimed key."""
        await self._keys.remember(self._conn, scope=scope, key=key, response=response)


class PostgresUnitOfWork(PooledTransaction):
    """One transaction on a pooled connection over an organisation's stores."""

    def __init__(
        self, pool: Pool | None, stores: Stores, *, conn: Connection | None = None
    ) -> None:
        super().__init__(pool, conn=conn)
        self.org: OrgId = stores.org
        self.sector: Sector = stores.sector
        self.search_key = stores.search_key
        self.matching = stores.matching
        self._stores = stores

    @classmethod
    def joining(cls, conn: Connection, stores: Stores) -> "PostgresUnitOfWork":
        """Return a unit of work inside the transaction `conn` is in: its owner commits it."""
        return cls(None, stores, conn=conn)

    @asynccontextmanager
    async def attempt(self) -> AsyncIterator[None]:
        """A savepoint: what the block wrote goes if it raises; the transaction goes on."""
        async with self.connection.transaction():
            yield

    def _bind(self, conn: Connection) -> None:
        self.streams = PostgresStreams(conn, self._stores.events, self.org)
        self.people = PostgresPeople(conn, self._stores.people)
        self.idempotency = PostgresIdempotencyRecords(conn, self._stores.idempotency)
        self.worklists = WorklistTables(conn, self._stores.people.schema)
        self.webhooks = WebhookDeliveries(conn, self._stores.people.schema)
