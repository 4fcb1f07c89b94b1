"""The read model's versions: the live one, and the next one a rebuild fills beside it.

- The live version is the schema the projection is configured with (`projection`). A
  rebuild fills `<schema>_next`; the switch renames the live one `<schema>_retired` and the
  next one `<schema>` in one transaction, and the retired one is dropped afterwards.
  Statements name tables by schema and PostgreSQL resolves names afresh after a rename
  (prepared statements too), so readers and the worker follow the switch without a restart.
- Every transaction that writes the live version takes the switch lock shared as its first
  statement (`hold_live`); the switch takes it exclusive (`hold_for_switch`). So no batch
  writes half into the old version and half into the new one.
- `rebuild_state` in the next version records what the rebuild started from: the stewards'
  last decision then, and the erasures done by then. The switch re-applies what came after.
- What operators did with dead letters and parked events lives in the version's schema: it
  is copied into the next one when the rebuild starts and again at the switch (the live
  version's word wins), so no disposition is lost. The stewards' decisions, the access log
  and break-glass grants live in schemas of their own (`<schema>_decisions`,
  `<schema>_audit`) that a rebuild never touches.
"""

from collections.abc import AsyncIterator, Collection
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import datetime
from uuid import UUID

from services.projection.adapters.read_model_schema import (
    projection_migrations,
    rebuilt_tables_ddl,
)
from services.runtime.database import Connection, Pool
from services.runtime.event_store_schema import checked_schema

_SWITCH_LOCK = 0x0C19  # advisory lock class of the live version (two-key space: no other user)
_REBUILD_LOCK = 0x0C1A  # advisory lock class of a rebuild under way (held by its session)


class RebuildRunning(Exception):
    """Another rebuild of the same read model is under way."""


@dataclass(frozen=True)
class RebuildState:
    """Where a rebuild in progress started from."""

    started_at: datetime
    decisions_after: int
    erasures_before: frozenset[UUID]
    tables_version: int  # the read model's last migration when it started


class ReadModelVersions:
    """The live version of the read model in `schema`, and the next one beside it."""

    def __init__(self, schema: str) -> None:
        self.live = checked_schema(schema)
        self.next = checked_schema(f"{schema}_next")
        self.retired = checked_schema(f"{schema}_retired")

    @asynccontextmanager
    async def rebuilding_alone(self, pool: Pool) -> AsyncIterator[None]:
        """Hold the rebuild lock of this read model while the block runs, on a connection
        of its own (RebuildRunning when another process holds it)."""
        async with pool.acquire() as conn:
            held = await conn.fetchval(
                "SELECT pg_try_advisory_lock($1, hashtext($2))", _REBUILD_LOCK, self.live
            )
            if not held:
                raise RebuildRunning(self.live)
            try:
                yield
            finally:
                await conn.execute(
                    "SELECT pg_advisory_unlock($1, hashtext($2))", _REBUILD_LOCK, self.live
                )

    async def hold_live(self, conn: Connection) -> None:
        """Keep the live version from being switched until this transaction ends (call it
        first: a statement before it would resolve table names before a switch)."""
        await conn.execute(
            "SELECT pg_advisory_xact_lock_shared($1, hashtext($2))", _SWITCH_LOCK, self.live
        )

    async def hold_for_switch(self, conn: Connection) -> None:
        """Wait for the transactions writing the live version, and keep new ones waiting."""
        await conn.execute(
            "SELECT pg_advisory_xact_lock($1, hashtext($2))", _SWITCH_LOCK, self.live
        )

    async def rebuild_state(self, conn: Connection) -> RebuildState | None:
        """Return where the rebuild in the next version started from (None: none is there)."""
        if await conn.fetchval("SELECT to_regclass($1)", f"{self.next}.rebuild_state") is None:
            return None
        row = await conn.fetchrow(
            "SELECT started_at, decisions_after, erasures_before, tables_version"  # noqa: S608 - schema name is checked
            f" FROM {self.next}.rebuild_state"
        )
        if row is None:
            return None
        return RebuildState(
            row["started_at"], row["decisions_after"], frozenset(row["erasures_before"]),
            row["tables_version"],
        )  # fmt: skip

    def tables_version(self) -> int:
        """Return the version of this release's read model tables (its last migration)."""
        return projection_migrations(self.live).migrations[-1].version

    async def start_next(
        self, conn: Connection, *, decisions_after: int, erasures_before: Collection[UUID]
    ) -> RebuildState:
        """Make an empty next version (dropping any earlier one) and record where it starts."""
        await self.drop_next(conn)
        for statement in rebuilt_tables_ddl(self.next):
            await conn.execute(statement)
        await conn.execute(
            f"""CREATE TABLE {self.next}.rebuild_state (
                started_at timestamptz NOT NULL DEFAULT now(),
                decisions_after bigint NOT NULL,
                erasures_before uuid[] NOT NULL,
                tables_version integer NOT NULL
            )"""
        )
        version = self.tables_version()
        started_at = await conn.fetchval(
            f"INSERT INTO {self.next}.rebuild_state"  # noqa: S608 - schema name is checked
            " (decisions_after, erasures_before, tables_version) VALUES ($1, $2, $3)"
            " RETURNING started_at",
            decisions_after,
            sorted(erasures_before),
            version,
        )
        await self._copy_dispositions(conn)
        return RebuildState(started_at, decisions_after, frozenset(erasures_before), version)

    async def switch(self, conn: Connection) -> None:
        """Make the next version the live one (the caller holds `hold_for_switch`)."""
        await self._copy_dispositions(conn)
        await conn.execute(f"DROP TABLE {self.next}.rebuild_state")
        await conn.execute(f"ALTER SCHEMA {self.live} RENAME TO {self.retired}")
        await conn.execute(f"ALTER SCHEMA {self.next} RENAME TO {self.live}")

    async def drop_next(self, conn: Connection) -> None:
        """Drop the next version, if there is one."""
        await conn.execute(f"DROP SCHEMA IF EXISTS {self.next} CASCADE")

    async def drop_retired(self, conn: Connection) -> None:
        """Drop the version the last switch retired, if it is still there."""
        await conn.execute(f"DROP SCHEMA IF EXISTS {self.retired} CASCADE")

    async def _copy_dispositions(self, conn: Connection) -> None:
        """Copy the live version's dead letters, parked events and what operators did with
        them into the next one (the live version's word wins)."""
        live, next_ = self.live, self.next
        await conn.execute(
            f"INSERT INTO {next_}.dead_letters SELECT * FROM {live}.dead_letters"  # noqa: S608 - schema names are checked
            " ON CONFLICT DO NOTHING"
        )
        await conn.execute(f"DELETE FROM {next_}.dead_letter_dispositions")  # noqa: S608 - schema name is checked
        await conn.execute(
            f"INSERT INTO {next_}.dead_letter_dispositions"  # noqa: S608 - schema names are checked
            f" SELECT * FROM {live}.dead_letter_dispositions"
        )
        await conn.execute(
            f"INSERT INTO {next_}.parked_events SELECT * FROM {live}.parked_events"  # noqa: S608 - schema names are checked
            " ON CONFLICT (consumer, org, event_id) DO UPDATE SET reason = excluded.reason,"
            " detail = excluded.detail, parked_at = excluded.parked_at,"
            " status = excluded.status, settled_at = excluded.settled_at,"
            " attempts = excluded.attempts"
        )
