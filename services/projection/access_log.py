"""Who read which citizen's data: one row per read, written before the data is sent.

Every read of a citizen's data (single view, timeline page, FHIR export, each search hit)
is recorded with who read it (organisation, role, key id), what kinds of information came
back (event categories), why (the `X-Purpose-Of-Use` header), when, and the request's
correlation id. The log lives in its own schema, `<projection schema>_audit`: a replay of
the projection never empties it. Nothing personal is in it beyond the citizen id.
"""

from collections.abc import Collection, Sequence
from datetime import datetime
from typing import Literal
from uuid import UUID

from pydantic import BaseModel, ConfigDict, Field

from events.consent import Purpose
from events.envelope import OrgId
from services.runtime.api_keys import Role
from services.runtime.database import Pool
from services.runtime.event_store_schema import checked_schema

ReadKind = Literal["view", "timeline", "fhir", "search", "access_log"]


def audit_schema_of(schema: str) -> str:
    """Return the schema of the access log that belongs to projection schema `schema`."""
    return checked_schema(f"{schema}_audit")


def access_log_ddl(schema: str) -> list[str]:
    """Return the idempotent DDL of the access log in `schema`."""
    s = checked_schema(schema)
    return [
        f"CREATE SCHEMA IF NOT EXISTS {s}",
        f"""
        CREATE TABLE IF NOT EXISTS {s}.access_log (
            position bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
            read_at timestamptz NOT NULL DEFAULT now(),
            citizen_id uuid NOT NULL,
            viewer_org text NOT NULL,
            viewer_role text NOT NULL,
            key_id text NOT NULL,
            read_kind text NOT NULL,
            categories text[] NOT NULL,
            purpose text NOT NULL,
            break_glass boolean NOT NULL DEFAULT false,
            correlation_id text NOT NULL
        )""",
        f"""CREATE INDEX IF NOT EXISTS access_log_by_citizen
        ON {s}.access_log (citizen_id, read_at)""",
    ]


class Access(BaseModel):
    """One read of a citizen's data."""

    model_config = ConfigDict(frozen=True)

    read_at: datetime
    citizen_id: UUID
    viewer_org: OrgId
    viewer_role: Role
    key_id: str = Field(
        description="the API key used (its id, never the key), or oidc:<subject> for a token"
    )
    read_kind: ReadKind
    categories: list[str] = Field(description="the kinds of information returned")
    purpose: Purpose
    break_glass: bool
    correlation_id: str


class AccessLogPage(BaseModel):
    """A page of who read a citizen's data, newest first."""

    citizen_id: UUID
    limit: int
    offset: int
    accesses: list[Access]


class AccessLog:
    """The access log of one projection schema."""

    def __init__(self, pool: Pool, *, schema: str) -> None:
        self._pool = pool
        self.schema = checked_schema(schema)

    async def record(self, accesses: Sequence[Access]) -> None:
        """Write reads to the log (committed when this returns)."""
        if not accesses:
            return
        await self._pool.execute(
            f"INSERT INTO {self.schema}.access_log (read_at, citizen_id, viewer_org,"  # noqa: S608 - schema name is checked
            " viewer_role, key_id, read_kind, categories, purpose, break_glass, correlation_id)"
            " SELECT a.read_at, a.citizen_id, a.viewer_org, a.viewer_role, a.key_id, a.read_kind,"
            "  string_to_array(a.categories, ','), a.purpose, a.break_glass, a.correlation_id"
            " FROM unnest($1::timestamptz[], $2::uuid[], $3::text[], $4::text[], $5::text[],"
            "  $6::text[], $7::text[], $8::text[], $9::bool[], $10::text[]) AS a(read_at,"
            "  citizen_id, viewer_org, viewer_role, key_id, read_kind, categories, purpose,"
            "  break_glass, correlation_id)",
            [a.read_at for a in accesses],
            [a.citizen_id for a in accesses],
            [a.viewer_org for a in accesses],
            [a.viewer_role for a in accesses],
            [a.key_id for a in accesses],
            [a.read_kind for a in accesses],
            [",".join(a.categories) for a in accesses],
            [a.purpose for a in accesses],
            [a.break_glass for a in accesses],
            [a.correlation_id for a in accesses],
        )

    async def of_citizen(
        self,
        citizen_id: UUID,
        *,
        limit: int,
        offset: int,
        not_by: Collection[OrgId] = (),
    ) -> list[Access]:
        """Return a page of the reads of one citizen's data, newest first, leaving out the
        reads by organisations in `not_by`."""
        rows = await self._pool.fetch(
            f"SELECT * FROM {self.schema}.access_log WHERE citizen_id = $1"  # noqa: S608 - schema name is checked
            " AND viewer_org <> ALL($4::text[])"
            " ORDER BY read_at DESC, position DESC LIMIT $2 OFFSET $3",
            citizen_id,
            limit,
            offset,
            list(not_by),
        )
        return [_access(row) for row in rows]

    async def since(self, after_position: int, *, limit: int) -> list[tuple[int, Access]]:
        """Return reads after a position in the log, oldest first (for an export)."""
        rows = await self._pool.fetch(
            f"SELECT * FROM {self.schema}.access_log WHERE position > $1"  # noqa: S608 - schema name is checked
            " ORDER BY position LIMIT $2",
            after_position,
            limit,
        )
        return [(row["position"], _access(row)) for row in rows]


def _access(row: object) -> Access:
    values = dict(row)  # type: ignore[call-overload]
    values.pop("position", None)
    values["categories"] = [c for c in values["categories"] if c]
    return Access.model_validate(values)
