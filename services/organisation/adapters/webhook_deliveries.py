"""The webhooks out still to deliver (or given up on), in an organisation's schema: one row
per (source, event), naming the event, never holding its contents (the notice is built from
the event when it is sent, so nothing personal waits here)."""

from datetime import datetime
from typing import Any
from uuid import UUID

from services.organisation.domain.outbound_notices import Delivery
from services.runtime.database import Connection
from services.runtime.event_store_schema import checked_schema


def webhook_deliveries_ddl(schema: str) -> tuple[str, ...]:
    """Return the DDL of the deliveries table in `schema` (one migration: never edited)."""
    s = checked_schema(schema)
    return (
        f"""CREATE TABLE {s}.webhook_deliveries (
            delivery_id uuid PRIMARY KEY,
            source text NOT NULL,
            event_id uuid NOT NULL,
            stream_id text NOT NULL,
            status text NOT NULL DEFAULT 'pending',
            attempts integer NOT NULL DEFAULT 0,
            first_tried_at timestamptz,
            next_attempt_at timestamptz NOT NULL DEFAULT now(),
            last_error text,
            delivered_at timestamptz,
            queued_at timestamptz NOT NULL DEFAULT now()
        )""",
        f"CREATE INDEX webhook_deliveries_due ON {s}.webhook_deliveries (next_attempt_at)"
        " WHERE status = 'pending'",
    )


class WebhookDeliveries:
    """The deliveries table of one organisation's schema, on one connection."""

    def __init__(self, conn: Connection, schema: str) -> None:
        self._conn = conn
        self.schema = checked_schema(schema)

    async def queue(self, deliveries: list[tuple[UUID, str, UUID, str]]) -> None:
        """Queue (delivery id, source, event id, stream id)s; one queued before stays as it is."""
        if deliveries:
            await self._conn.executemany(
                f"INSERT INTO {self.schema}.webhook_deliveries"  # noqa: S608 - schema name is checked
                " (delivery_id, source, event_id, stream_id) VALUES ($1, $2, $3, $4)"
                " ON CONFLICT (delivery_id) DO NOTHING",
                deliveries,
            )

    async def due(self, now: datetime, limit: int) -> list[Delivery]:
        """Return pending deliveries due by `now`, oldest first, locked for this transaction
        (another sender skips them)."""
        rows = await self._conn.fetch(
            f"SELECT * FROM {self.schema}.webhook_deliveries"  # noqa: S608 - schema name is checked
            " WHERE status = 'pending' AND next_attempt_at <= $1"
            " ORDER BY next_attempt_at, queued_at LIMIT $2 FOR UPDATE SKIP LOCKED",
            now,
            limit,
        )
        return [_delivery(row) for row in rows]

    async def lease(self, delivery_id: UUID, until: datetime) -> None:
        """Hold a delivery being sent until `until`."""
        await self._conn.execute(
            f"UPDATE {self.schema}.webhook_deliveries SET next_attempt_at = $2"  # noqa: S608 - schema name is checked
            " WHERE delivery_id = $1",
            delivery_id,
            until,
        )

    async def settle(
        self,
        delivery_id: UUID,
        *,
        status: str,
        attempts: int,
        first_tried_at: datetime,
        next_attempt_at: datetime,
        error: str | None,
        delivered_at: datetime | None = None,
    ) -> None:
        """Record how an attempt went: delivered, to try again at `next_attempt_at`, or parked."""
        await self._conn.execute(
            f"UPDATE {self.schema}.webhook_deliveries SET status = $2, attempts = $3,"  # noqa: S608 - schema name is checked
            " first_tried_at = $4, next_attempt_at = $5, last_error = $6, delivered_at = $7"
            " WHERE delivery_id = $1",
            delivery_id, status, attempts, first_tried_at, next_attempt_at, error, delivered_at,
        )  # fmt: skip

    async def listed(self, *, status: str | None, limit: int = 500) -> list[Delivery]:
        """Return deliveries (of one status, if given), newest first."""
        rows = await self._conn.fetch(
            f"SELECT * FROM {self.schema}.webhook_deliveries"  # noqa: S608 - schema name is checked
            " WHERE $1::text IS NULL OR status = $1 ORDER BY queued_at DESC LIMIT $2",
            status,
            limit,
        )
        return [_delivery(row) for row in rows]

    async def counts(self) -> dict[str, int]:
        """Return how many deliveries there are of each status."""
        rows = await self._conn.fetch(
            f"SELECT status, count(*) AS n FROM {self.schema}.webhook_deliveries"  # noqa: S608 - schema name is checked
            " GROUP BY status"
        )
        return {row["status"]: row["n"] for row in rows}

    async def redrive(self, delivery_id: UUID, now: datetime) -> bool:
        """Make a parked delivery pending again, due now, with a day of retries ahead."""
        done = await self._conn.fetchval(
            f"UPDATE {self.schema}.webhook_deliveries SET status = 'pending', attempts = 0,"  # noqa: S608 - schema name is checked
            " first_tried_at = NULL, next_attempt_at = $2"
            " WHERE delivery_id = $1 AND status = 'parked' RETURNING true",
            delivery_id,
            now,
        )
        return bool(done)


def _delivery(row: Any) -> Delivery:
    return Delivery(
        row["delivery_id"], row["source"], row["event_id"], row["stream_id"], row["status"],
        row["attempts"], row["first_tried_at"], row["next_attempt_at"], row["last_error"],
    )  # fmt: skip
