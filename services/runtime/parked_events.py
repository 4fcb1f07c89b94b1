"""Events a consumer cannot read yet, parked in PostgreSQL instead of stopping it or vanishing.

A consumer of the PostgreSQL logs (the embedded transport), and the projection for an event
whose personal values are sealed (it can only tell once it has opened them), keeps the event
where it already is (its organisation's log, the projection's timeline) and records here
that it parked it, and why: one row per consumer and event, written in the same transaction
as the batch it arrived in, so a batch read again parks nothing twice. The row holds ids,
the type and the reason; never the event's values. `caseweave dead-letters` lists these rows,
redrives them once a release can read them and records what became of each (`status`).
"""

from collections.abc import Sequence
from dataclasses import dataclass

import structlog
from pydantic import ValidationError

from events.envelope import Envelope
from events.registry import EventPayload, UnknownEventType, decode_payload
from services.runtime.database import Connection
from services.runtime.event_store_schema import checked_schema
from services.runtime.kafka.consumed import validation_detail
from services.runtime.metrics import count_dead_letters

logger = structlog.get_logger(__name__)


@dataclass(frozen=True)
class Unreadable:
    """Why this release cannot apply an event (no personal data in `detail`)."""

    reason: str
    detail: str


def decoded_or_unreadable(envelope: Envelope) -> EventPayload | Unreadable:
    """Return an opened event's typed payload, or why this release cannot read it."""
    try:
        return decode_payload(envelope.type, envelope.schema_version, envelope.data)
    except UnknownEventType:
        detail = f"type: no event type {envelope.type!r} version {envelope.schema_version}"
        return Unreadable("unknown_event_type", detail)
    except ValidationError as error:
        return Unreadable("invalid_payload", validation_detail(error, "data"))


def split_readable(
    events: Sequence[tuple[Envelope, EventPayload | None]],
) -> tuple[list[tuple[Envelope, EventPayload]], list[tuple[Envelope, Unreadable]]]:
    """Return the opened events with their payloads (given, else decoded), and those that
    cannot be read, with why."""
    readable: list[tuple[Envelope, EventPayload]] = []
    unreadable: list[tuple[Envelope, Unreadable]] = []
    for envelope, given in events:
        payload = given or decoded_or_unreadable(envelope)
        if isinstance(payload, Unreadable):
            unreadable.append((envelope, payload))
        else:
            readable.append((envelope, payload))
    return readable, unreadable


def parked_events_ddl(schema: str) -> str:
    """Return the idempotent DDL of a consumer's parked events in `schema`.

    Part of a baseline migration, so never edited: a change is a new migration.
    """
    return f"""
        CREATE TABLE IF NOT EXISTS {checked_schema(schema)}.parked_events (
            consumer text NOT NULL,
            org text NOT NULL,
            event_id uuid NOT NULL,
            event_type text NOT NULL,
            schema_version integer NOT NULL,
            reason text NOT NULL,
            detail text NOT NULL,
            parked_at timestamptz NOT NULL DEFAULT now(),
            status text NOT NULL DEFAULT 'parked'
                CHECK (status IN ('parked', 'redriven', 'discarded')),
            settled_at timestamptz,
            attempts integer NOT NULL DEFAULT 0,
            PRIMARY KEY (consumer, org, event_id)
        )"""


class ParkedEvents:
    """The parked_events table of one consumer, in its own schema."""

    def __init__(self, schema: str, *, consumer: str) -> None:
        self.schema = checked_schema(schema)
        self.consumer = consumer

    async def park(self, conn: Connection, events: Sequence[tuple[Envelope, Unreadable]]) -> int:
        """Record events set aside (in the caller's transaction); return how many are new."""
        parked = 0
        for envelope, why in events:
            inserted = await conn.fetchval(
                f"INSERT INTO {self.schema}.parked_events"  # noqa: S608 - schema name is checked
                " (consumer, org, event_id, event_type, schema_version, reason, detail)"
                " VALUES ($1, $2, $3, $4, $5, $6, $7) ON CONFLICT DO NOTHING RETURNING true",
                self.consumer, envelope.org, envelope.event_id, envelope.type,
                envelope.schema_version, why.reason, why.detail,
            )  # fmt: skip
            if inserted:
                parked += 1
                count_dead_letters(self.consumer, why.reason)
                logger.warning(
                    "event_parked", consumer=self.consumer, reason=why.reason, detail=why.detail,
                    org=envelope.org, event_id=str(envelope.event_id), event_type=envelope.type,
                )  # fmt: skip
        return parked
