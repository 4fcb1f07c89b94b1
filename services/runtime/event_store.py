"""Append to and read from one service's event streams in PostgreSQL (asyncpg).

Functions take a connection so that a command handler can append events, record an
idempotency key and update its own lookup tables in one transaction.
"""

import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any
from uuid import UUID

import asyncpg

from events.envelope import Envelope
from services.runtime.database import Connection
from services.runtime.event_store_schema import checked_schema
from services.runtime.metrics import count_events_appended
from services.runtime.person_keys import PersonKeys
from services.runtime.sealing import all_values_erased, needs_sealing, record_of, seal

_COLUMNS = (
    "event_id, type, schema_version, occurred_at, recorded_at, org, subject, place, category,"
    " correlation_id, causation_id, actor, data"
)


class StreamConflict(Exception):
    """The stream is not at the version the writer expected: someone else wrote first."""

    def __init__(self, stream_id: str, *, expected: int, actual: int) -> None:
        super().__init__(f"stream {stream_id} is at version {actual}, expected {expected}")
        self.stream_id = stream_id
        self.expected = expected
        self.actual = actual


class TransactionTooOld(Exception):
    """The stream's last event was written by a newer transaction: retry in a new transaction.

    A transaction takes its id at its first write. One that wrote something (an idempotency
    key, say) before a newer transaction appended to the same stream would otherwise put its
    event before that one in the log, which is read in transaction order.
    """

    def __init__(self, stream_id: str) -> None:
        super().__init__(f"stream {stream_id} moved on in a newer transaction; retry afresh")
        self.stream_id = stream_id


class EventIdReused(Exception):
    """An event id given for an append already belongs to a different event."""


@dataclass(frozen=True)
class StoredEvent:
    """An event as its stream holds it."""

    stream_id: str
    stream_version: int
    envelope: Envelope


_ENVELOPE_FIELDS = tuple(Envelope.model_fields)
_COPY_COLUMNS = ["stream_id", "stream_version", *_ENVELOPE_FIELDS]


def envelope_from_row(row: asyncpg.Record | dict[str, Any]) -> Envelope:
    """Rebuild an envelope from an events-table row (validating is cheaper than model_construct)."""
    return Envelope.model_validate({name: row[name] for name in _ENVELOPE_FIELDS})


class EventStore:
    """The streams of one service, kept in its own PostgreSQL schema.

    With `keys`, personal values are sealed with their person's key as they are appended
    and opened as streams are read (`services/runtime/sealing.py`); a stream of an erased
    person reads as empty and takes no more events (RecordErased).
    """

    def __init__(self, schema: str, *, keys: PersonKeys | None = None) -> None:
        self.schema = checked_schema(schema)
        self._insert_sql = _insert_statement(self.schema)
        self.keys = keys

    async def stream_version(self, conn: Connection, stream_id: str) -> int:
        """Return the number of events in a stream (0 when it does not exist)."""
        version = await conn.fetchval(
            f"SELECT coalesce(max(stream_version), 0) FROM {self.schema}.events"  # noqa: S608 - schema name is checked
            " WHERE stream_id = $1",
            stream_id,
        )
        return int(version)

    async def read_stream(self, conn: Connection, stream_id: str) -> list[StoredEvent]:
        """Return a stream's events in order (an empty list when it does not exist)."""
        rows = await conn.fetch(
            f"SELECT stream_id, stream_version, {_COLUMNS} FROM {self.schema}.events"  # noqa: S608 - schema name is checked
            " WHERE stream_id = $1 ORDER BY stream_version",
            stream_id,
        )
        return await self._opened(conn, rows)

    async def read_streams(
        self, conn: Connection, stream_ids: Sequence[str]
    ) -> dict[str, list[StoredEvent]]:
        """Return each stream's events in order (an empty list for one that does not
        exist), in one statement and one opening of their personal values."""
        rows = await conn.fetch(
            f"SELECT stream_id, stream_version, {_COLUMNS} FROM {self.schema}.events"  # noqa: S608 - schema name is checked
            " WHERE stream_id = ANY($1::text[]) ORDER BY stream_id, stream_version",
            list(stream_ids),
        )
        found: dict[str, list[StoredEvent]] = {stream_id: [] for stream_id in stream_ids}
        for event in await self._opened(conn, rows):
            found[event.stream_id].append(event)
        return found

    async def _opened(self, conn: Connection, rows: Sequence[Any]) -> list[StoredEvent]:
        """Return the rows' events, personal values opened (an erased record's left out)."""
        stored = [
            StoredEvent(r["stream_id"], r["stream_version"], envelope_from_row(r)) for r in rows
        ]
        if self.keys is None or not stored:
            return stored
        opened = await self.keys.open(conn, [event.envelope for event in stored])
        return [
            StoredEvent(event.stream_id, event.stream_version, envelope)
            for event, envelope in zip(stored, opened, strict=True)
            if envelope is not None
        ]

    async def erase_values(self, conn: Connection, event_id: UUID) -> bool:
        """Erase in place every personal value of one stored event, sealed or not (an event
        retracted with its values); return whether it held any."""
        row = await conn.fetchrow(
            f"SELECT type, schema_version, data FROM {self.schema}.events"  # noqa: S608 - schema name is checked
            " WHERE event_id = $1",
            event_id,
        )
        erased = None if row is None else all_values_erased(*row)
        if erased is not None:
            await conn.execute(
                f"UPDATE {self.schema}.events SET data = $2 WHERE event_id = $1",  # noqa: S608 - schema name is checked
                event_id,
                erased,
            )
        return erased is not None

    async def _sealed(self, conn: Connection, events: Sequence[Envelope]) -> list[Envelope]:
        """Return the events with their personal values sealed (raises RecordErased for an
        erased person's: nothing personal about them is written again)."""
        personal = [e for e in events if needs_sealing(e)]
        if self.keys is None or not personal:
            return list(events)
        keys = await self.keys.for_writing(conn, {record_of(e) for e in personal})
        return [seal(e, keys[record_of(e)]) if needs_sealing(e) else e for e in events]

    async def append(
        self,
        conn: Connection,
        *,
        stream_id: str,
        expected_version: int,
        events: Sequence[Envelope],
    ) -> int:
        """Append events to a stream at `expected_version`; return the stream's new version.

        One statement when the stream is where the writer expected. Appending events whose ids
        the stream already holds is a no-op (a retried write); raises StreamConflict when the
        stream moved on, EventIdReused for an id another stream holds. A lost race leaves the
        caller's transaction usable.
        """
        rows = [
            (stream_id, expected_version + offset, *_values(envelope))
            for offset, envelope in enumerate(await self._sealed(conn, events), start=1)
        ]
        try:
            inserted = await self._insert_if_at(conn, rows, stream_id, expected_version)
        except asyncpg.UniqueViolationError:
            inserted = 0  # a concurrent writer took these versions or ids first
        if inserted == len(events):
            _count_appended(events)
            return expected_version + len(events)
        if await self._already_appended(conn, stream_id, events):
            return await self.stream_version(conn, stream_id)
        actual = await self.stream_version(conn, stream_id)
        if actual == expected_version:
            raise TransactionTooOld(stream_id)
        raise StreamConflict(stream_id, expected=expected_version, actual=actual)

    async def append_many(
        self, conn: Connection, streams: Sequence[tuple[str, int, Sequence[Envelope]]]
    ) -> None:
        """Append to several streams at once (each `(stream_id, expected_version, events)`).

        For bulk loads, through COPY: a stream not at its expected version fails the whole
        load with asyncpg.UniqueViolationError.
        """
        sealed = iter(await self._sealed(conn, [e for _, _, events in streams for e in events]))
        rows = [
            (stream_id, expected + offset, *_values(next(sealed)))
            for stream_id, expected, events in streams
            for offset in range(1, len(events) + 1)
        ]
        if rows:
            await conn.copy_records_to_table(
                "events", schema_name=self.schema, columns=_COPY_COLUMNS, records=rows
            )
            _count_appended([e for _, _, events in streams for e in events])

    async def _insert_if_at(
        self, conn: Connection, rows: list[tuple[Any, ...]], stream_id: str, version: int
    ) -> int:
        """Insert rows only if the stream is at `version`; return how many were inserted.

        The stream's last event must also come from this transaction or an older one: the log
        is read in transaction order, so this keeps each stream's log order its version order.
        """
        head = f"SELECT stream_version, transaction_id FROM {self.schema}.events"  # noqa: S608 - schema name is checked
        head += " WHERE stream_id = $16 ORDER BY stream_version DESC LIMIT 1"
        sql = f"WITH head AS ({head}) {self._insert_sql}"
        sql += " WHERE coalesce((SELECT stream_version FROM head), 0) = $17"
        sql += " AND coalesce((SELECT transaction_id FROM head), 0)"
        sql += " <= pg_current_xact_id()::text::bigint"
        columns = _columns(rows)
        columns[-1] = [json.dumps(data, separators=(",", ":")) for data in columns[-1]]
        if len(rows) == 1:  # one row goes in whole or not at all: a lost race skips it
            status = await conn.execute(
                f"{sql} ON CONFLICT DO NOTHING", *columns, stream_id, version
            )
        elif not conn.is_in_transaction():
            status = await conn.execute(sql, *columns, stream_id, version)
        else:  # a savepoint, so a lost race leaves no part of the batch and the caller's
            # transaction usable (ON CONFLICT DO NOTHING would keep the rows that did not clash)
            async with conn.transaction():
                status = await conn.execute(sql, *columns, stream_id, version)
        return int(status.rsplit(" ", 1)[-1])

    async def _already_appended(
        self, conn: Connection, stream_id: str, events: Sequence[Envelope]
    ) -> bool:
        """Tell whether these very events are in the stream already (a retry); refuse reused ids."""
        wanted = {e.event_id: (stream_id, e.type, e.data) for e in events}
        found = await conn.fetch(
            f"SELECT stream_id, stream_version, {_COLUMNS} FROM {self.schema}.events"  # noqa: S608 - schema name is checked
            " WHERE event_id = ANY($1)",
            list(wanted),
        )
        if not found:
            return False
        envelopes: list[Envelope | None] = [envelope_from_row(r) for r in found]
        if self.keys is not None:  # compare what was meant, not two sealings of it
            envelopes = await self.keys.open(conn, [e for e in envelopes if e is not None])
        stored = {
            e.event_id: (r["stream_id"], e.type, e.data)
            for r, e in zip(found, envelopes, strict=True)
            if e is not None
        }
        if stored == wanted:
            return True
        raise EventIdReused(f"event ids already used for other events: {sorted(map(str, stored))}")


def _insert_statement(schema: str) -> str:
    # data travels as text and is cast by the server: encoding a jsonb[] parameter costs the
    # client more than the whole insert costs the server
    return (
        f"INSERT INTO {schema}.events (stream_id, stream_version, {_COLUMNS})"  # noqa: S608 - schema name is checked
        f" SELECT stream_id, stream_version, {_COLUMNS.replace(' data', ' data::jsonb')}"
        " FROM unnest($1::text[], $2::int[], $3::uuid[], $4::text[], $5::int[],"
        " $6::timestamptz[], $7::timestamptz[], $8::text[], $9::text[], $10::text[],"
        " $11::text[], $12::text[], $13::text[], $14::text[], $15::text[])"
        f" AS t(stream_id, stream_version, {_COLUMNS})"
    )


def _count_appended(events: Sequence[Envelope]) -> None:
    """Count appended events per organisation (a transaction that then rolls back, rarely,
    still counts: the metric is a rate, not the store's size)."""
    for org in {e.org for e in events}:
        count_events_appended(org, sum(1 for e in events if e.org == org))


def _columns(rows: list[tuple[Any, ...]]) -> list[list[Any]]:
    return [list(column) for column in zip(*rows, strict=True)]


def _values(envelope: Envelope) -> tuple[Any, ...]:
    e = envelope
    return (
        e.event_id, e.type, e.schema_version, e.occurred_at, e.recorded_at, e.org, e.subject,
        e.place, e.category, e.correlation_id, e.causation_id, e.actor, e.data,
    )  # fmt: skip
