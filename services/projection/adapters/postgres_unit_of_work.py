"""The projection's unit of work on PostgreSQL: one pooled connection, one transaction, the
read model's stores bound to it.

`ReadModelStores` names a read model's tables (its schema, the schema of the stewards'
decisions, the person keys that open personal values); `PostgresUnitOfWork` opens a
transaction over them. A consumer that records its own position in another table (Kafka
offsets, dead letters) writes through `connection` in the same commit; `joining` runs a use
case inside a transaction somebody else owns.
"""

from collections.abc import Callable, Sequence
from dataclasses import dataclass

from events.envelope import Envelope
from services.projection.adapters.decision_store import DecisionStore, decisions_schema_of
from services.projection.adapters.match_store import MatchStore
from services.projection.adapters.read_model import ReadModel
from services.projection.adapters.read_model_schema import CONSUMER
from services.projection.adapters.read_model_versions import ReadModelVersions
from services.runtime.checkpoints import Checkpoints
from services.runtime.database import Connection, Pool
from services.runtime.event_log import LogPosition
from services.runtime.event_store_schema import checked_schema
from services.runtime.parked_events import ParkedEvents, Unreadable
from services.runtime.person_keys import PersonKeys
from services.runtime.pooled_transaction import PooledTransaction

_RELINK_LOCK = 0x0C18  # advisory lock class of re-linking (two-key space: no other user)


@dataclass(frozen=True)
class ReadModelStores:
    """Where one version of the read model lives, and whose decisions and keys it uses."""

    schema: str
    decisions_schema: str
    keys: PersonKeys | None = None

    @classmethod
    def in_schema(
        cls, schema: str, *, keys: PersonKeys | None = None, decisions_schema: str | None = None
    ) -> "ReadModelStores":
        """Return the stores of the read model in `schema`, by the stewards' decisions in
        `decisions_schema` (default: the one beside it; a version being rebuilt reads the
        live version's)."""
        return cls(
            checked_schema(schema),
            checked_schema(decisions_schema or decisions_schema_of(schema)),
            keys,
        )


def postgres_units(
    pool: Pool,
    schema: str = "projection",
    *,
    keys: PersonKeys | None = None,
    decisions_schema: str | None = None,
) -> Callable[[], "PostgresUnitOfWork"]:
    """Return a maker of units of work over the read model in `schema` (see `in_schema`)."""
    stores = ReadModelStores.in_schema(schema, keys=keys, decisions_schema=decisions_schema)
    return lambda: PostgresUnitOfWork(pool, stores)


class PostgresCheckpoints:
    """The log consumer's checkpoints, on the unit of work's connection."""

    def __init__(self, conn: Connection, checkpoints: Checkpoints) -> None:
        self._conn = conn
        self._checkpoints = checkpoints

    async def lock(self, source: str) -> LogPosition:
        """Return the position read up to in `source`, held until the transaction ends."""
        return await self._checkpoints.lock(self._conn, source)

    async def save(self, source: str, position: LogPosition) -> None:
        """Move `source`'s position on."""
        await self._checkpoints.save(self._conn, source, position)


class PostgresUnitOfWork(PooledTransaction):
    """One transaction on a pooled connection over a read model's stores."""

    def __init__(
        self, pool: Pool | None, stores: ReadModelStores, *, conn: Connection | None = None
    ) -> None:
        super().__init__(pool, conn=conn)
        self.stores = stores

    @classmethod
    def joining(cls, conn: Connection, stores: ReadModelStores) -> "PostgresUnitOfWork":
        """Return a unit of work inside the transaction `conn` is in: its owner commits it."""
        return cls(None, stores, conn=conn)

    async def open(self, envelopes: Sequence[Envelope]) -> Sequence[Envelope | None]:
        """Return the events with personal values opened (None: about an erased person); as
        they are when there is no key store (events written without one)."""
        keys = self.stores.keys
        return envelopes if keys is None else await keys.open(self.connection, envelopes)

    async def park(self, unreadable: Sequence[tuple[Envelope, Unreadable]]) -> None:
        """Keep events this version cannot read aside, until `caseweave dead-letters redrive`."""
        await self._parked.park(self.connection, unreadable)

    async def hold_live(self) -> None:
        """Keep the live version from being switched until the end (call it first: a
        statement before it would resolve table names before a switch)."""
        await self._versions.hold_live(self.connection)

    async def hold_relinking(self) -> None:
        """Wait until no other transaction re-links or reads links, and keep them out."""
        await self.connection.execute(
            "SELECT pg_advisory_xact_lock($1, hashtext($2))", _RELINK_LOCK, self.stores.schema
        )

    async def hold_links_still(self) -> None:
        """Keep re-linking out until the end (others that only read links may run at once)."""
        await self.connection.execute(
            "SELECT pg_advisory_xact_lock_shared($1, hashtext($2))",
            _RELINK_LOCK,
            self.stores.schema,
        )

    def _bind(self, conn: Connection) -> None:
        stores = self.stores
        self.read_model = ReadModel(conn, stores.schema)
        self.matches = MatchStore(conn, stores.schema, decisions_schema=stores.decisions_schema)
        self.decisions = DecisionStore(conn, stores.decisions_schema)
        self.checkpoints = PostgresCheckpoints(conn, Checkpoints(stores.schema, consumer=CONSUMER))
        self._parked = ParkedEvents(stores.schema, consumer=CONSUMER)
        self._versions = ReadModelVersions(stores.schema)
