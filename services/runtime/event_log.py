"""Read a service's log in commit order without ever skipping an event (the embedded transport).

Why a plain "position > last seen" reader loses events: a sequence number is taken at insert
but becomes visible only at commit, so position 11 can commit before position 10; a reader
that has moved past 11 never sees 10. Caseweave's design cannot skip:

- every row records the id of the transaction that wrote it (`transaction_id`);
- a reader only reads rows whose transaction id is below the oldest transaction still
  running (`pg_snapshot_xmin(pg_current_snapshot())`): every such transaction has finished,
  so no row can still appear below that line;
- rows are read in `(transaction_id, position)` order and the checkpoint is that pair.

A transaction that has not yet written takes a transaction id above the line when it does,
so it lands after the checkpoint. Writers never wait on each other to publish; a long-running
transaction anywhere on the server (the horizon is server-wide) only delays readers. The event
store keeps each stream's log order equal to its version order (`TransactionTooOld`).
(This is the transaction-id watermark design; the other safe
choice, one writer at a time through a lock, caps a service at one commit at a time.)
"""

import asyncio
import contextlib
from collections.abc import Callable
from dataclasses import dataclass
from typing import NamedTuple, Protocol
from uuid import UUID

import asyncpg

from events.envelope import Envelope
from services.runtime.database import Pool
from services.runtime.event_store import envelope_from_row
from services.runtime.event_store_schema import checked_schema, notify_channel
from services.runtime.log_horizon import WARN_AFTER_SECONDS, HorizonWatch


class LogPosition(NamedTuple):
    """Where an event sits in a service's log: commit order first, then insert order."""

    transaction_id: int
    position: int


LOG_START = LogPosition(0, 0)
_ENVELOPE_COLUMNS = (
    "event_id, type, schema_version, occurred_at, recorded_at, org, subject, place, category,"
    " correlation_id, causation_id, actor, data"
)


@dataclass(frozen=True)
class LoggedEvent:
    """An event read from a log, with the position a consumer checkpoints after handling it."""

    source: str
    position: LogPosition
    envelope: Envelope


class EventLog(Protocol):
    """The transport port: one organisation's events, in order, from any checkpoint."""

    source: str

    async def read_after(self, after: LogPosition, *, limit: int) -> list[LoggedEvent]:
        """Return up to `limit` events that follow `after`, in log order."""
        ...

    async def wait_for_new(self, timeout: float) -> None:  # noqa: ASYNC109 - a bounded idle wait is the contract
        """Return when the log may have grown, or after `timeout` seconds."""
        ...


class PostgresEventLog:
    """The embedded transport: a service's events table, read gap-safely, woken by NOTIFY."""

    def __init__(
        self,
        pool: Pool,
        *,
        source: str,
        schema: str | None = None,
        warn_held_back_after: float = WARN_AFTER_SECONDS,
    ) -> None:
        self.source = source
        self.schema = checked_schema(schema or source)
        self._pool = pool
        self._grew = asyncio.Event()
        self._listener: asyncpg.pool.PoolConnectionProxy | None = None
        # one callback object: asyncpg removes a listener by identity, not equality
        self._on_notify: Callable[..., None] = lambda *_: self._grew.set()
        self._on_lost: Callable[..., None] = self._listener_lost
        self._horizon = HorizonWatch(
            pool, source=source, schema=self.schema, warn_after=warn_held_back_after
        )

    async def read_after(self, after: LogPosition, *, limit: int) -> list[LoggedEvent]:
        """Return up to `limit` finished-transaction events after `after`, in log order.

        A log whose service has never started (no table yet) reads as empty.
        """
        try:
            rows = await self._fetch(after, limit)
        except asyncpg.UndefinedTableError:
            return []
        if rows:
            self._horizon.events_arrived()
        else:
            await self._horizon.nothing_arrived(*after)
        return [
            LoggedEvent(
                self.source,
                LogPosition(row["transaction_id"], row["position"]),
                envelope_from_row(row),
            )
            for row in rows
        ]

    async def head(self) -> LogPosition:
        """Return the position of the log's last event of a finished transaction (LOG_START
        for an empty log): a consumer starting there reads only what comes after."""
        try:
            row = await self._pool.fetchrow(
                f"SELECT transaction_id, position FROM {self.schema}.events"  # noqa: S608 - schema name is checked
                " WHERE transaction_id < pg_snapshot_xmin(pg_current_snapshot())::text::bigint"
                " ORDER BY transaction_id DESC, position DESC LIMIT 1"
            )
        except asyncpg.UndefinedTableError:
            return LOG_START
        return LOG_START if row is None else LogPosition(row["transaction_id"], row["position"])

    async def event(self, event_id: UUID) -> Envelope | None:
        """Return the log's event `event_id` (one a consumer parked), or None."""
        row = await self._pool.fetchrow(
            f"SELECT {_ENVELOPE_COLUMNS} FROM {self.schema}.events WHERE event_id = $1",  # noqa: S608 - schema name is checked
            event_id,
        )
        return envelope_from_row(row) if row is not None else None

    async def _fetch(self, after: LogPosition, limit: int) -> list[asyncpg.Record]:
        return await self._pool.fetch(
            f"SELECT transaction_id, position, {_ENVELOPE_COLUMNS} FROM {self.schema}.events"  # noqa: S608 - schema name is checked
            " WHERE (transaction_id, position) > ($1, $2)"
            "   AND transaction_id < pg_snapshot_xmin(pg_current_snapshot())::text::bigint"
            " ORDER BY transaction_id, position LIMIT $3",
            after.transaction_id,
            after.position,
            limit,
        )

    async def wait_for_new(self, timeout: float) -> None:  # noqa: ASYNC109 - a bounded idle wait is the contract
        """Return when a NOTIFY says the log grew, or after `timeout` seconds."""
        if self._listener is None:
            await self._listen()
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._grew.wait(), timeout)
        self._grew.clear()

    async def close(self) -> None:
        """Stop listening for notifications."""
        if self._listener is not None:
            listener, self._listener = self._listener, None
            listener.remove_termination_listener(self._on_lost)
            await listener.remove_listener(notify_channel(self.schema), self._on_notify)
            await self._pool.release(listener)

    async def _listen(self) -> None:
        self._listener = listener = await self._pool.acquire()
        listener.add_termination_listener(self._on_lost)
        await listener.add_listener(notify_channel(self.schema), self._on_notify)

    def _listener_lost(self, *_: object) -> None:
        """The database ended the listening connection (asyncpg has already taken it back):
        listen again on the next wait, and wake the consumer to read what it may have missed."""
        self._listener = None
        self._grew.set()
