"""PostgreSQL connections: pools, transactions, DDL, and telling an outage from a bug."""

import asyncio
import json
import os
import traceback
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager

import asyncpg
import structlog

log = structlog.get_logger(__name__)

Pool = asyncpg.Pool
# what a command works with: a plain connection, or one borrowed from a pool
Connection = asyncpg.Connection | asyncpg.pool.PoolConnectionProxy


_JSONB_VERSION = b"\x01"  # jsonb's binary format: a version byte, then the JSON text


def _encode_jsonb(value: object) -> bytes:
    return _JSONB_VERSION + json.dumps(value, separators=(",", ":")).encode()


def _decode_jsonb(data: bytes) -> object:
    return json.loads(data[1:])


async def _init_connection(conn: asyncpg.Connection) -> None:
    await conn.set_type_codec("json", encoder=json.dumps, decoder=json.loads, schema="pg_catalog")
    # binary, so that COPY (which speaks only binary) can write jsonb columns
    await conn.set_type_codec(
        "jsonb",
        encoder=_encode_jsonb,
        decoder=_decode_jsonb,
        schema="pg_catalog",
        format="binary",
    )


POOL_CLOSE_SECONDS = 10.0


async def close_pool(pool: Pool, *, within: float = POOL_CLOSE_SECONDS) -> None:
    """Close `pool` gracefully, or after `within` seconds by closing its connections hard.

    For a process on its way out: a connection still held by work that will never finish
    (a stop that timed out) must not keep it from exiting.
    """
    try:
        await asyncio.wait_for(pool.close(), within)
    except TimeoutError:  # asyncpg terminates the pool when close() is cancelled
        log.warning("database_pool_closed_hard", waited_s=within)


class _CleanConnection(asyncpg.Connection):
    """A connection given back to the pool without asyncpg's reset query.

    That query (`pg_advisory_unlock_all(); CLOSE ALL; UNLISTEN *; RESET ALL`) costs a round
    trip on every release, twice per HTTP write. Our code leaves no session state behind
    it: advisory locks are released in `finally` blocks (`migrations`, `apply_ddl`), LISTEN
    is undone by `remove_listener` (`event_log`), settings are per transaction
    (`SET LOCAL`, `set_config(..., true)`), cursors live in transactions. An open
    transaction is still rolled back on release (asyncpg does that whatever the query).
    """

    def get_reset_query(self) -> str:
        """Nothing to reset: see the class."""
        return ""


async def create_pool(url: str, *, max_size: int = 10) -> Pool:
    """Open a connection pool whose connections speak JSON as Python objects."""
    pool = await asyncpg.create_pool(
        url,
        min_size=1,
        max_size=max_size,
        connection_class=_CleanConnection,
        init=_init_connection,
        command_timeout=60,
        server_settings={"timezone": "UTC"},  # times rendered by the server are always UTC
    )
    assert pool is not None  # create_pool only returns None when given no loop to wait on
    return pool


@asynccontextmanager
async def transaction(pool: Pool) -> AsyncIterator[Connection]:
    """Yield a pooled connection inside a transaction that commits when the block ends cleanly."""
    async with pool.acquire() as connection, connection.transaction():
        yield connection


async def apply_ddl(pool: Pool, *, lock_name: str, statements: Sequence[str]) -> None:
    """Run idempotent DDL, one process at a time, even while others use the tables.

    How tests and benchmarks set up a part of a schema; the services' tables change by
    migrations instead (`services.runtime.migrations`). Each statement commits on its own:
    `CREATE INDEX IF NOT EXISTS` locks its table even when the index exists, so one
    transaction holding every statement's locks could deadlock with a worker already writing
    those tables (seen when a second projection worker started). A statement alone only
    waits. The statements are idempotent, so a run cut short is completed by the next one.
    """
    async with pool.acquire() as conn:
        await conn.execute("SELECT pg_advisory_lock(hashtext($1))", lock_name)
        try:
            for statement in statements:
                await conn.execute(statement)
        finally:
            await conn.execute("SELECT pg_advisory_unlock(hashtext($1))", lock_name)


# what asyncpg raises when the server is gone, going or not back yet (class 08 and the
# shutdown states of class 57P); a refused or reset socket comes as an OSError
_UNREACHABLE: tuple[type[BaseException], ...] = (
    asyncpg.PostgresConnectionError,
    asyncpg.AdminShutdownError,
    asyncpg.CrashShutdownError,
    asyncpg.CannotConnectNowError,
    ConnectionError,
)


def is_database_unreachable(error: BaseException) -> bool:
    """Return whether `error` (or one it was raised from or while handling) says the database
    cannot be reached right now, rather than that a statement or our code is wrong."""
    seen: set[int] = set()
    pending = [error]
    while pending:
        current = pending.pop()
        if id(current) in seen:
            continue
        seen.add(id(current))
        if isinstance(current, _UNREACHABLE) or _socket_error_in_asyncpg(current):
            return True
        if isinstance(current, BaseExceptionGroup):
            pending.extend(current.exceptions)
        pending.extend(e for e in (current.__cause__, current.__context__) if e is not None)
    return False


def _socket_error_in_asyncpg(error: BaseException) -> bool:
    """An OSError raised while asyncpg connected or talked: a socket file not there (yet),
    a timeout connecting; not a file our own code failed to open."""
    if not isinstance(error, OSError):
        return False
    frames = traceback.extract_tb(error.__traceback__)
    return any(f"{os.sep}asyncpg{os.sep}" in frame.filename for frame in frames)
