"""Break-glass: a viewer without a relationship opens a person's full record in an emergency.

The viewer states a reason (`POST /v1/citizens/{id}/break-glass`); their key is granted the
full view, timeline and FHIR export of that person for a short time
(`CASEWEAVE_BREAK_GLASS_MINUTES`, default 60). Each grant is recorded in the audit schema,
every read through it is marked `break_glass` in the access log, and it is an alert for the
information governance leads of the viewer's organisation
and of every organisation that holds records of the person (`GET /v1/ig/break-glass`,
`ig_lead` keys).

The reason may name people, so it is kept only in the alert event, sealed with a key of the
grant's own (in the person key store, record `("break_glass", grant id)`); erasing the person
shreds that key and erases the reason in place: the alert stays (who, when, whom), its reason
reads as erased.
"""

from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any
from uuid import UUID

from pydantic import BaseModel, ConfigDict, Field

from events.envelope import Envelope, OrgId, Role, new_event_id
from events.governance import BreakGlassGranted
from services.runtime.api_keys import Caller
from services.runtime.database import Connection, Pool, transaction
from services.runtime.event_store_schema import checked_schema
from services.runtime.person_keys import PersonKeys, Record
from services.runtime.sealing import ERASED, is_sealed_value, seal

GRANT_KEYS = "break_glass"  # the key store's records of grants: (GRANT_KEYS, grant id)
ERASED_REASON = "(erased with the person)"


def grant_record(grant_id: UUID) -> Record:
    """Return the key store record whose key seals a grant's reason."""
    return GRANT_KEYS, str(grant_id)


def break_glass_ddl(schema: str) -> list[str]:
    """Return the idempotent DDL of break-glass grants in the audit schema `schema`.

    Part of a baseline migration, so never edited: a change is a new migration.
    """
    s = checked_schema(schema)
    return [
        f"""
        CREATE TABLE IF NOT EXISTS {s}.break_glass (
            grant_id uuid PRIMARY KEY,
            granted_at timestamptz NOT NULL,
            expires_at timestamptz NOT NULL,
            citizen_id uuid NOT NULL,
            viewer_org text NOT NULL,
            viewer_role text NOT NULL,
            key_id text NOT NULL,
            reason text NOT NULL,
            correlation_id text NOT NULL
        )""",
        f"ALTER TABLE {s}.break_glass ADD COLUMN IF NOT EXISTS event jsonb",
        f"ALTER TABLE {s}.break_glass ALTER COLUMN reason DROP NOT NULL",  # kept in `event`
        f"""CREATE INDEX IF NOT EXISTS break_glass_by_key
        ON {s}.break_glass (key_id, citizen_id, expires_at)""",
        f"""CREATE INDEX IF NOT EXISTS break_glass_by_org
        ON {s}.break_glass (viewer_org, granted_at)""",
        f"CREATE INDEX IF NOT EXISTS break_glass_by_time ON {s}.break_glass (granted_at)",
        f"""CREATE INDEX IF NOT EXISTS break_glass_by_citizen
        ON {s}.break_glass (citizen_id, granted_at)""",
    ]


class BreakGlassGrant(BaseModel):
    """One emergency opening of a person's record: by whom, why, until when."""

    model_config = ConfigDict(frozen=True)

    grant_id: UUID
    granted_at: datetime
    expires_at: datetime
    citizen_id: UUID
    viewer_org: OrgId
    viewer_role: Role
    key_id: str
    reason: str
    reason_erased: bool = Field(
        default=False, description="the person was erased, and the reason with them"
    )
    correlation_id: str


class BreakGlassAlerts(BaseModel):
    """A page of an organisation's break-glass grants, newest first."""

    org: OrgId
    limit: int
    offset: int
    grants: list[BreakGlassGrant] = Field(description="each one is an alert to review")


class BreakGlass:
    """Break-glass grants of one projection's audit schema."""

    def __init__(
        self,
        pool: Pool,
        *,
        schema: str,
        read_model: str,
        lasts: timedelta,
        keys: PersonKeys | None = None,
    ) -> None:
        self._pool = pool
        self.schema = checked_schema(schema)
        self._read_model = checked_schema(read_model)
        self.lasts = lasts
        self._keys = keys  # None: reasons are kept in clear (erased in place with the person)

    async def grant(
        self, citizen_id: UUID, *, caller: Caller, reason: str, correlation_id: str, now: datetime
    ) -> BreakGlassGrant:
        """Record a grant and its alert event, the reason sealed (committed when this
        returns); return it."""
        grant = BreakGlassGrant(
            grant_id=new_event_id(), granted_at=now, expires_at=now + self.lasts,
            citizen_id=citizen_id, viewer_org=caller.org, viewer_role=caller.role,
            key_id=caller.key_id, reason=reason, correlation_id=correlation_id,
        )  # fmt: skip
        async with transaction(self._pool) as conn:
            event = await self._sealed(conn, alert_event(grant, caller))
            await conn.execute(
                f"INSERT INTO {self.schema}.break_glass (grant_id, granted_at, expires_at,"  # noqa: S608 - schema name is checked
                " citizen_id, viewer_org, viewer_role, key_id, correlation_id, event)"
                " VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
                grant.grant_id, grant.granted_at, grant.expires_at, grant.citizen_id,
                grant.viewer_org, grant.viewer_role, grant.key_id, grant.correlation_id,
                event.model_dump(mode="json"),
            )  # fmt: skip
        return grant

    async def _sealed(self, conn: Connection, event: Envelope) -> Envelope:
        if self._keys is None:
            return event
        record = grant_record(event.event_id)
        key = (await self._keys.for_writing(conn, [record]))[record]
        return seal(event, key)

    async def alerts(self, *, after: tuple[datetime, UUID] | None, limit: int) -> list[Envelope]:
        """Return the alert events after `after` (granted at, grant id; all if None), oldest
        first."""
        since, grant = after or (None, None)
        async with self._pool.acquire() as conn:
            rows = await conn.fetch(
                f"SELECT event FROM {self.schema}.break_glass"  # noqa: S608 - schema name is checked
                " WHERE event IS NOT NULL"
                " AND ($1::timestamptz IS NULL OR (granted_at, grant_id) > ($1, $2::uuid))"
                " ORDER BY granted_at, grant_id LIMIT $3",
                since,
                grant,
                limit,
            )
            return await self._opened(conn, [Envelope.model_validate(r["event"]) for r in rows])

    async def _opened(self, conn: Connection, events: Sequence[Envelope]) -> list[Envelope]:
        """Return the alert events with their reasons opened, or marked erased."""
        sealed = [(e, grant_record(e.event_id)) for e in events if _sealed_reason(e)]
        opened = await self._keys.open_under(conn, sealed) if self._keys else [None] * len(sealed)
        by_id = {e.event_id: o for (e, _), o in zip(sealed, opened, strict=True)}
        return [
            e if not _sealed_reason(e) else by_id[e.event_id] or _reason_erased(e) for e in events
        ]

    async def _grants(self, conn: Connection, rows: Sequence[Any]) -> list[BreakGlassGrant]:
        """Return the grants of these rows, their reasons opened or marked erased."""
        events = [Envelope.model_validate(r["event"]) for r in rows if r["event"] is not None]
        opened = {e.event_id: e.data.get("reason") for e in await self._opened(conn, events)}
        reasons = [opened.get(row["grant_id"], row["reason"]) for row in rows]
        return [
            BreakGlassGrant.model_validate({**dict(row), **_shown(reason)})
            for row, reason in zip(rows, reasons, strict=True)
        ]

    async def is_open(self, citizen_id: UUID, *, key_id: str, now: datetime) -> bool:
        """Tell whether this key holds an unexpired grant for the citizen."""
        found = await self._pool.fetchval(
            f"SELECT true FROM {self.schema}.break_glass"  # noqa: S608 - schema name is checked
            " WHERE key_id = $1 AND citizen_id = $2 AND expires_at > $3 LIMIT 1",
            key_id,
            citizen_id,
            now,
        )
        return bool(found)

    async def of_citizen(self, citizen_id: UUID) -> list[BreakGlassGrant]:
        """Return every grant that opened this citizen's record, oldest first."""
        async with self._pool.acquire() as conn:
            rows = await conn.fetch(
                f"SELECT * FROM {self.schema}.break_glass WHERE citizen_id = $1"  # noqa: S608 - schema name is checked
                " ORDER BY granted_at, grant_id",
                citizen_id,
            )
            return await self._grants(conn, rows)

    async def of_org(self, org: OrgId, *, limit: int, offset: int) -> list[BreakGlassGrant]:
        """Return the grants an organisation's IG lead reviews, newest first: its own keys'
        grants, and grants to open a person it holds records of."""
        async with self._pool.acquire() as conn:
            rows = await conn.fetch(
                f"SELECT * FROM {self.schema}.break_glass b WHERE viewer_org = $1"  # noqa: S608 - schema name is checked
                f" OR EXISTS (SELECT 1 FROM {self._read_model}.person_links l"
                "  WHERE l.citizen_id = b.citizen_id AND l.org = $1)"
                " ORDER BY granted_at DESC, grant_id LIMIT $2 OFFSET $3",
                org,
                limit,
                offset,
            )
            return await self._grants(conn, rows)


def alert_event(grant: BreakGlassGrant, caller: Caller) -> Envelope:
    """Return the alert event (`access.break_glass_granted`) that records a grant."""
    payload = BreakGlassGranted(
        grant_id=grant.grant_id, citizen_id=grant.citizen_id, viewer_org=grant.viewer_org,
        viewer_role=grant.viewer_role, key_id=grant.key_id, reason=grant.reason,
        expires_at=grant.expires_at,
    )  # fmt: skip
    return Envelope(
        event_id=grant.grant_id, type=payload.event_type,
        schema_version=payload.schema_version, category=payload.category,
        occurred_at=grant.granted_at, recorded_at=grant.granted_at, org=grant.viewer_org,
        subject=str(grant.citizen_id), place="", correlation_id=grant.correlation_id,
        actor=caller.actor, data=payload.model_dump(mode="json"),
    )  # fmt: skip


def _shown(reason: object) -> dict[str, Any]:
    """Return how a grant shows its reason: the text, or that it was erased."""
    if isinstance(reason, str):
        return {"reason": reason, "reason_erased": False}
    return {"reason": ERASED_REASON, "reason_erased": True}


def _sealed_reason(event: Envelope) -> bool:
    return is_sealed_value(event.data.get("reason"))


def _reason_erased(event: Envelope) -> Envelope:
    return event.model_copy(update={"data": {**event.data, "reason": ERASED}})
