"""Schema changes as numbered migrations, each applied once per database and recorded.

A *schema set* is the tables one part of Caseweave owns: the API keys (`auth:…`), the person
keys (`person_keys:…`), one organisation's schema (`organisation:<schema>`), one projection
schema with its decisions and audit schemas (`projection:<schema>`). Its migrations are
numbered 1..N in code. Migration 1 is the baseline: the idempotent DDL that releases before
migrations ran on every start, so a database they made takes it harmlessly. Every later
change is a new migration at the end of the list, never an edit of an earlier one.

One table records what each set has applied: `caseweave_migrations.applied` (schema_set,
version, name, applied_at). One table rather than one per schema: a set may span schemas,
a deployment's status is one query, and a read model's rebuild never comes near it.

A start with nothing pending reads that table and stops: no lock, no DDL. Otherwise the
set's advisory lock makes concurrent starters take turns (the later ones find nothing left),
and each migration runs in one transaction with its version row: applied wholly or not at
all. DDL locks its tables (`CREATE INDEX IF NOT EXISTS` even when the index exists), so a
migration could form a lock cycle with a worker writing those tables; its `lock_timeout`,
shorter than PostgreSQL's `deadlock_timeout`, makes the migration give up first (never the
worker's batch), and it tries again after a pause. A database migrated further than this
release knows refuses to start (`SchemaAhead`).
"""

import asyncio
from dataclasses import dataclass

import asyncpg
import structlog

from services.runtime.backoff import Backoff
from services.runtime.database import Connection, Pool

log = structlog.get_logger(__name__)

VERSIONS_TABLE = "caseweave_migrations.applied"
_VERSIONS_DDL = (
    "CREATE SCHEMA IF NOT EXISTS caseweave_migrations",
    f"""
    CREATE TABLE IF NOT EXISTS {VERSIONS_TABLE} (
        schema_set text NOT NULL,
        version integer NOT NULL CHECK (version > 0),
        name text NOT NULL,
        applied_at timestamptz NOT NULL DEFAULT now(),
        PRIMARY KEY (schema_set, version)
    )""",
)
LOCK_TIMEOUT_SECONDS = 0.5  # under PostgreSQL's default deadlock_timeout of 1 s
ATTEMPTS = 10
_PAUSES = Backoff(first=0.2, most=5.0)
_LOCKS_LOST = (asyncpg.LockNotAvailableError, asyncpg.DeadlockDetectedError)


@dataclass(frozen=True)
class Migration:
    """One change of a schema set: its number, what it does, and its statements."""

    version: int
    name: str
    statements: tuple[str, ...]


class MigrationsOutOfOrder(ValueError):
    """A schema set's migrations are not numbered 1, 2, … N in that order."""


class SchemaAhead(Exception):
    """The database was migrated by a newer release than this one."""

    def __init__(self, schema_set: str, *, database: int, release: int) -> None:
        super().__init__(
            f"schema set {schema_set}: this release knows up to migration {release};"
            f" the database is at migration {database}: upgrade Caseweave"
        )
        self.schema_set, self.database, self.release = schema_set, database, release


@dataclass(frozen=True)
class SchemaSet:
    """Tables migrated together, their migrations, and the advisory lock starters take
    turns with (default: the set's name; the sets older than migrations keep the lock
    their idempotent DDL took, so an older release starting during an upgrade waits too)."""

    name: str
    migrations: tuple[Migration, ...]
    lock_name: str = ""

    def __post_init__(self) -> None:
        found = [migration.version for migration in self.migrations]
        if found != list(range(1, len(found) + 1)):
            raise MigrationsOutOfOrder(
                f"schema set {self.name}: migrations must be numbered 1 to {len(found)}"
                f" in order; found {found}"
            )

    @property
    def lock(self) -> str:
        """Return the name of the advisory lock that starters take turns with."""
        return self.lock_name or self.name

    @property
    def version(self) -> int:
        """Return the last migration this release knows (0: none)."""
        return len(self.migrations)


async def apply_migrations(
    pool: Pool,
    schema_set: SchemaSet,
    *,
    lock_timeout: float = LOCK_TIMEOUT_SECONDS,
    attempts: int = ATTEMPTS,
) -> list[Migration]:
    """Apply the migrations of `schema_set` that the database lacks; return them.

    Raises SchemaAhead if the database is at a later migration than this release knows.
    """
    async with pool.acquire() as conn:
        if not await _pending(conn, schema_set):
            return []
        await _create_versions_table(conn)
        await conn.execute("SELECT pg_advisory_lock(hashtext($1))", schema_set.lock)
        try:
            pending = await _pending(conn, schema_set)  # another starter's turn came first?
            for migration in pending:
                await _apply(conn, schema_set, migration, lock_timeout, attempts)
        finally:
            await conn.execute("SELECT pg_advisory_unlock(hashtext($1))", schema_set.lock)
    return pending


async def database_version(conn: Connection, schema_set: str) -> int:
    """Return the last migration of `schema_set` the database has applied (0: none)."""
    if await conn.fetchval("SELECT to_regclass($1)", VERSIONS_TABLE) is None:
        return 0
    version: int = await conn.fetchval(
        f"SELECT coalesce(max(version), 0) FROM {VERSIONS_TABLE} WHERE schema_set = $1",  # noqa: S608 - constant table
        schema_set,
    )
    return version


async def _pending(conn: Connection, schema_set: SchemaSet) -> list[Migration]:
    applied = await database_version(conn, schema_set.name)
    if applied > schema_set.version:
        raise SchemaAhead(schema_set.name, database=applied, release=schema_set.version)
    return list(schema_set.migrations[applied:])


async def _create_versions_table(conn: Connection) -> None:
    if await conn.fetchval("SELECT to_regclass($1)", VERSIONS_TABLE) is not None:
        return
    async with conn.transaction():  # the lock: two sets' first starts must not race for it
        await conn.execute("SELECT pg_advisory_xact_lock(hashtext($1))", VERSIONS_TABLE)
        for statement in _VERSIONS_DDL:
            await conn.execute(statement)


async def _apply(
    conn: Connection,
    schema_set: SchemaSet,
    migration: Migration,
    lock_timeout: float,
    attempts: int,
) -> None:
    """Run `migration` and record it in one transaction, again after a pause while a lock
    it needs is not to be had."""
    context = {"schema_set": schema_set.name, "version": migration.version}
    for attempt in range(1, attempts + 1):
        try:
            await _run_once(conn, schema_set, migration, lock_timeout)
        except _LOCKS_LOST:
            if attempt == attempts:
                log.error("migration_locks_unavailable", **context, attempts=attempts)
                raise
            pause = _PAUSES.next_restart(attempt - 1, ran_for=0.0).delay
            log.warning("migration_waiting_for_locks", **context, attempt=attempt, retry_s=pause)
            await asyncio.sleep(pause)
        except Exception:
            log.error("migration_failed", **context, name=migration.name)
            raise
        else:
            log.info("migration_applied", **context, name=migration.name)
            return


async def _run_once(
    conn: Connection, schema_set: SchemaSet, migration: Migration, lock_timeout: float
) -> None:
    async with conn.transaction():
        await conn.execute(
            "SELECT set_config('lock_timeout', $1, true)", f"{round(lock_timeout * 1000)}ms"
        )
        for statement in migration.statements:
            await conn.execute(statement)
        await conn.execute(
            f"INSERT INTO {VERSIONS_TABLE} (schema_set, version, name) VALUES ($1, $2, $3)",  # noqa: S608 - constant table
            schema_set.name,
            migration.version,
            migration.name,
        )
