"""A consumer's position in each log it reads, kept beside the state it writes.

A consumer locks its checkpoint row, reads the events after it, writes its own changes and
the new checkpoint, and commits: one transaction. A crash before the commit leaves both
untouched, so the batch is read again; two consumers never handle the same batch twice
because the second waits on the row lock and then sees the moved checkpoint.
"""

from services.runtime.database import Connection
from services.runtime.event_log import LOG_START, LogPosition
from services.runtime.event_store_schema import checked_schema


def checkpoints_ddl(schema: str) -> str:
    """Return the idempotent DDL of a consumer's checkpoints table in `schema`.

    Part of a baseline migration, so never edited: a change is a new migration.
    """
    return f"""
        CREATE TABLE IF NOT EXISTS {checked_schema(schema)}.checkpoints (
            consumer text NOT NULL,
            source text NOT NULL,
            transaction_id bigint NOT NULL DEFAULT 0,
            position bigint NOT NULL DEFAULT 0,
            updated_at timestamptz NOT NULL DEFAULT now(),
            PRIMARY KEY (consumer, source)
        )"""


class Checkpoints:
    """The checkpoints table in a consumer's own schema."""

    def __init__(self, schema: str, *, consumer: str) -> None:
        self.schema = checked_schema(schema)
        self.consumer = consumer

    async def lock(self, conn: Connection, source: str) -> LogPosition:
        """Return the consumer's position in `source`, holding it until the transaction ends."""
        await conn.execute(
            f"INSERT INTO {self.schema}.checkpoints (consumer, source) VALUES ($1, $2)"  # noqa: S608 - schema name is checked
            " ON CONFLICT DO NOTHING",
            self.consumer,
            source,
        )
        row = await conn.fetchrow(
            f"SELECT transaction_id, position FROM {self.schema}.checkpoints"  # noqa: S608 - schema name is checked
            " WHERE consumer = $1 AND source = $2 FOR UPDATE",
            self.consumer,
            source,
        )
        return LogPosition(row["transaction_id"], row["position"]) if row else LOG_START

    async def start_at(self, conn: Connection, source: str, position: LogPosition) -> bool:
        """Give the consumer its first position in `source` (a consumer that owes nothing
        for the past starts at the log's head); return False when it had one already."""
        started = await conn.fetchval(
            f"INSERT INTO {self.schema}.checkpoints (consumer, source, transaction_id, position)"  # noqa: S608 - schema name is checked
            " VALUES ($1, $2, $3, $4) ON CONFLICT DO NOTHING RETURNING true",
            self.consumer,
            source,
            position.transaction_id,
            position.position,
        )
        return bool(started)

    async def save(self, conn: Connection, source: str, position: LogPosition) -> None:
        """Move the consumer's position in `source` (inside the caller's transaction)."""
        await conn.execute(
            f"UPDATE {self.schema}.checkpoints SET transaction_id = $3, position = $4,"  # noqa: S608 - schema name is checked
            " updated_at = now() WHERE consumer = $1 AND source = $2",
            self.consumer,
            source,
            position.transaction_id,
            position.position,
        )

    async def reset(self, conn: Connection) -> None:
        """Send the consumer back to the start of every log."""
        await conn.execute(
            f"DELETE FROM {self.schema}.checkpoints WHERE consumer = $1",  # noqa: S608 - schema name is checked
            self.consumer,
        )
