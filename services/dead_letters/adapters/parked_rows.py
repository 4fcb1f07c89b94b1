"""Parked events as dead letters: the `parked_events` rows of each consumer's schema.

The event itself stays where it is kept (the projection's timeline, the sender's log); the
row says who parked it, why and what became of it (`services/runtime/parked_events.py`).
"""

from collections.abc import Mapping
from uuid import UUID

import asyncpg

from services.dead_letters.adapters.settlement import (
    Consumer,
    StatusRow,
    discard_once,
    redrive_once,
)
from services.dead_letters.domain import (
    DeadLetter,
    LogOrigin,
    ParkedMessage,
    Settled,
    log_letter_id,
)
from services.runtime.database import Pool
from services.runtime.kafka.messages import message_from_envelope

_COLUMNS = (
    "consumer, org, event_id, event_type, reason, detail, parked_at, status, settled_at, attempts"
)


class ParkedEventRows:
    """The consumers' parked events (a DeadLetterStore)."""

    def __init__(self, pool: Pool, *, consumers: Mapping[str, Consumer]) -> None:
        self._pool = pool
        self._consumers = consumers

    async def dead_letters(self) -> list[DeadLetter]:
        """Return every event the consumers parked, with what became of it."""
        letters: list[DeadLetter] = []
        for schema in sorted({c.schema for c in self._consumers.values()}):
            mine = [name for name, c in self._consumers.items() if c.schema == schema]
            try:
                rows = await self._pool.fetch(
                    f"SELECT {_COLUMNS} FROM {schema}.parked_events"  # noqa: S608 - schema names are checked
                    " WHERE consumer = ANY($1::text[])",
                    mine,
                )
            except asyncpg.UndefinedTableError:
                continue  # that consumer never ran with this release: it parked nothing
            letters += [_letter(row) for row in rows]
        return letters

    async def message(self, letter: DeadLetter) -> ParkedMessage | None:
        """Return the event as its consumer received it (as a Kafka message would carry it)."""
        consumer, origin = self._consumers.get(letter.consumer), letter.origin
        assert isinstance(origin, LogOrigin)
        found = await consumer.parked_event(origin.org, origin.event_id) if consumer else None
        if found is None:
            return None
        message = message_from_envelope(found)
        return ParkedMessage(letter, message.key, message.value, message.headers)

    async def redrive(self, letter: DeadLetter) -> Settled:
        """Apply the event with its consumer's code and record it, once."""
        consumer, origin = self._consumers.get(letter.consumer), letter.origin
        assert isinstance(origin, LogOrigin)
        if consumer is None:
            return Settled(letter.id, "no_consumer")
        return await redrive_once(
            self._pool, _row(consumer, letter), letter.id,
            lambda conn: consumer.apply_parked(conn, origin.org, origin.event_id),
        )  # fmt: skip

    async def discard(self, letter: DeadLetter) -> Settled:
        """Record that the event is not to be applied."""
        consumer = self._consumers.get(letter.consumer)
        if consumer is None:
            return Settled(letter.id, "no_consumer")
        return await discard_once(self._pool, _row(consumer, letter), letter.id)


def _row(consumer: Consumer, letter: DeadLetter) -> StatusRow:
    origin = letter.origin
    assert isinstance(origin, LogOrigin)
    key = (("consumer", letter.consumer), ("org", origin.org), ("event_id", UUID(origin.event_id)))
    return StatusRow(
        f"{consumer.schema}.parked_events", key, ("reason", "detail"), made_on_demand=False
    )


def _letter(row: asyncpg.Record) -> DeadLetter:
    event_id = str(row["event_id"])
    return DeadLetter(
        id=log_letter_id(row["consumer"], row["org"], event_id),
        parked_at=row["parked_at"], consumer=row["consumer"], reason=row["reason"],
        detail=row["detail"], event_type=row["event_type"], event_id=event_id,
        origin=LogOrigin(row["org"], event_id), status=row["status"],
        settled_at=row["settled_at"], attempts=row["attempts"],
    )  # fmt: skip
