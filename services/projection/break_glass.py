"""Break-glass: a viewer without a relationship opens a person's full record in an emergency.

The viewer states a reason (`POST /v1/citizens/{id}/break-glass`); their key is granted the
full view, timeline and FHIR export of that person for a short time
(`CASEWEAVE_BREAK_GLASS_MINUTES`, default 60). Each grant is recorded in the audit schema,
every read through it is marked `break_glass` in the access log, and it is an alert for the
information governance leads of the viewer's organisation
(`GET /v1/ig/break-glass`, `ig_lead` keys).
"""

from datetime import datetime, timedelta
from uuid import UUID

from pydantic import BaseModel, ConfigDict, Field

from events.envelope import OrgId, new_event_id
from services.runtime.api_keys import Caller, Role
from services.runtime.database import Pool
from services.runtime.event_store_schema import checked_schema


def break_glass_ddl(schema: str) -> list[str]:
    """Return the idempotent DDL of break-glass grants in the audit schema `schema`."""
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
        f"""CREATE INDEX IF NOT EXISTS break_glass_by_key
        ON {s}.break_glass (key_id, citizen_id, expires_at)""",
        f"""CREATE INDEX IF NOT EXISTS break_glass_by_org
        ON {s}.break_glass (viewer_org, granted_at)""",
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
    correlation_id: str


class BreakGlassAlerts(BaseModel):
    """A page of an organisation's break-glass grants, newest first."""

    org: OrgId
    limit: int
    offset: int
    grants: list[BreakGlassGrant] = Field(description="each one is an alert to review")


class BreakGlass:
    """Break-glass grants of one projection's audit schema."""

    def __init__(self, pool: Pool, *, schema: str, lasts: timedelta) -> None:
        self._pool = pool
        self.schema = checked_schema(schema)
        self.lasts = lasts

    async def grant(
        self, citizen_id: UUID, *, caller: Caller, reason: str, correlation_id: str, now: datetime
    ) -> BreakGlassGrant:
        """Record a grant (committed when this returns) and return it."""
        grant = BreakGlassGrant(
            grant_id=new_event_id(), granted_at=now, expires_at=now + self.lasts,
            citizen_id=citizen_id, viewer_org=caller.org, viewer_role=caller.role,
            key_id=caller.key_id, reason=reason, correlation_id=correlation_id,
        )  # fmt: skip
        await self._pool.execute(
            f"INSERT INTO {self.schema}.break_glass (grant_id, granted_at, expires_at,"  # noqa: S608 - schema name is checked
            " citizen_id, viewer_org, viewer_role, key_id, reason, correlation_id)"
            " VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
            *grant.model_dump().values(),
        )
        return grant

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

    async def of_org(self, org: OrgId, *, limit: int, offset: int) -> list[BreakGlassGrant]:
        """Return an organisation's grants, newest first."""
        rows = await self._pool.fetch(
            f"SELECT * FROM {self.schema}.break_glass WHERE viewer_org = $1"  # noqa: S608 - schema name is checked
            " ORDER BY granted_at DESC, grant_id LIMIT $2 OFFSET $3",
            org,
            limit,
            offset,
        )
        return [BreakGlassGrant.model_validate(dict(row)) for row in rows]
