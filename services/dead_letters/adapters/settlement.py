"""Settling one dead letter in PostgreSQL, exactly once.

Its status row is locked first (a second redrive of it waits, then finds it redriven), the
consumer applies the message in the same transaction, and the new status is written before
the commit: a redrive cut short leaves nothing applied and the letter parked.
"""

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Protocol, cast

from events.envelope import Envelope
from services.dead_letters.domain import Settled, Status, discarded, may_redrive
from services.runtime.database import Connection, Pool, transaction
from services.runtime.kafka.consumed import ConsumedMessage
from services.runtime.parked_events import Unreadable

Apply = Callable[[Connection], Awaitable[Unreadable | None]]


class Consumer(Protocol):
    """A consumer's own code for its dead letters (the projection's, a referral inbox's)."""

    @property
    def schema(self) -> str:
        """Return the schema the consumer keeps its state in, dead letters' status too."""
        ...

    async def apply_message(self, conn: Connection, message: ConsumedMessage) -> Unreadable | None:
        """Apply a message from the dead-letter topic; return why it still cannot be."""
        ...

    async def apply_parked(self, conn: Connection, org: str, event_id: str) -> Unreadable | None:
        """Apply an event parked where it is kept; return why it still cannot be."""
        ...

    async def parked_event(self, org: str, event_id: str) -> Envelope | None:
        """Return a parked event as it is kept (personal values sealed)."""
        ...


@dataclass(frozen=True)
class StatusRow:
    """Where one dead letter's status is kept: a table, the row's key, its reason columns."""

    table: str  # schema-qualified, from checked names only
    key: tuple[tuple[str, object], ...]
    reason_columns: tuple[str, str]
    made_on_demand: bool  # a row written on first settling (no row: parked)

    async def lock(self, conn: Connection) -> Status | None:
        """Lock the row (making it, if made on demand) and return its status."""
        columns, values = [name for name, _ in self.key], [value for _, value in self.key]
        if self.made_on_demand:
            names = ", ".join(f'"{name}"' for name in columns)
            slots = ", ".join(f"${i}" for i in range(1, len(values) + 1))
            await conn.execute(
                f"INSERT INTO {self.table} ({names}) VALUES ({slots}) ON CONFLICT DO NOTHING",  # noqa: S608 - names are ours
                *values,
            )
        status = await conn.fetchval(
            f"SELECT status FROM {self.table} WHERE {self._where()} FOR UPDATE",  # noqa: S608 - names are ours
            *values,
        )
        return cast(Status | None, status)

    async def record(self, conn: Connection, why: Unreadable | None) -> None:
        """Record a redrive: the message applied, or why it still cannot be."""
        values = [value for _, value in self.key]
        if why is None:
            change = "status = 'redriven', settled_at = now(), attempts = attempts + 1"
            await conn.execute(f"UPDATE {self.table} SET {change} WHERE {self._where()}", *values)  # noqa: S608 - names are ours
            return
        reason, detail = self.reason_columns
        n = len(values)
        change = f"attempts = attempts + 1, {reason} = ${n + 1}, {detail} = ${n + 2}"
        await conn.execute(
            f"UPDATE {self.table} SET {change} WHERE {self._where()}",  # noqa: S608 - names are ours
            *values, why.reason, why.detail,
        )  # fmt: skip

    async def discard(self, conn: Connection) -> None:
        """Record that the dead letter is discarded."""
        change = "status = 'discarded', settled_at = now()"
        values = [value for _, value in self.key]
        await conn.execute(f"UPDATE {self.table} SET {change} WHERE {self._where()}", *values)  # noqa: S608 - names are ours

    def _where(self) -> str:
        return " AND ".join(f'"{name}" = ${i}' for i, (name, _) in enumerate(self.key, start=1))


async def redrive_once(pool: Pool, row: StatusRow, letter_id: str, apply: Apply) -> Settled:
    """Apply a dead letter and record it, in one transaction, unless it was redriven already."""
    async with transaction(pool) as conn:
        status = await row.lock(conn)
        if status is None:
            return Settled(letter_id, "not_found")
        if not may_redrive(status):
            return Settled(letter_id, "already_redriven")
        why = await apply(conn)
        await row.record(conn, why)
    if why is None:
        return Settled(letter_id, "redriven")
    return Settled(letter_id, "still_parked", why.reason, why.detail)


async def discard_once(pool: Pool, row: StatusRow, letter_id: str) -> Settled:
    """Discard a dead letter still parked; say what it was if it was not."""
    async with transaction(pool) as conn:
        status = await row.lock(conn)
        if status is None:
            return Settled(letter_id, "not_found")
        result = discarded(status)
        if result == "discarded":
            await row.discard(conn)
    return Settled(letter_id, result)
