"""Who read which citizen's data: one row per read, written before the data is sent.

Every read of a citizen's data (single view, timeline page, FHIR export, each search hit)
is recorded with who read it (organisation, role, key id), what kinds of information came
back (event categories), why (the `X-Purpose-Of-Use` header), when, and the request's
correlation id. The log lives in its own schema, `<projection schema>_audit`: a replay of
the projection never empties it. Nothing personal is in it beyond the citizen id.

Reads at the command line (`caseweave sar export`, `caseweave audit alerts`, `caseweave
audit export`) are logged too, before their output is written: organisation `caseweave`
(the platform's operators), role `ig_lead`, key id `cli:<operator>` (`--requested-by`, or
the operating system user).
"""

import asyncio
import os
import pwd
import re
from collections.abc import Collection, Iterable, Sequence
from datetime import UTC, datetime
from typing import Literal
from uuid import UUID, uuid4

from pydantic import BaseModel, ConfigDict, Field

from events.consent import Purpose
from events.envelope import OrgId, Role
from services.runtime.database import Pool
from services.runtime.event_store_schema import checked_schema

ReadKind = Literal[
    "view", "timeline", "fhir", "search", "access_log",
    "subject_access_request", "break_glass_alerts", "access_log_export",
    "relationship_alerts",
]  # fmt: skip
OPERATORS: Literal["caseweave"] = "caseweave"  # the organisation of command-line reads
AccessPurpose = Purpose | Literal["subject_access_request"]
OPERATOR_NAME = re.compile(r"[A-Za-z0-9._@-]{1,64}")


def audit_schema_of(schema: str) -> str:
    """Return the schema of the access log that belongs to projection schema `schema`."""
    return checked_schema(f"{schema}_audit")


def access_log_ddl(schema: str) -> list[str]:
    """Return the idempotent DDL of the access log in `schema`.

    Part of a baseline migration, so never edited: a change is a new migration.
    """
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
    viewer_org: OrgId | Literal["caseweave"] = Field(
        description="the reader's organisation; `caseweave`: an operator at the command line"
    )
    viewer_role: Role
    key_id: str = Field(
        description="the API key used (its id, never the key), oidc:<subject> for a token,"
        " or cli:<operator> at the command line"
    )
    read_kind: ReadKind
    categories: list[str] = Field(description="the kinds of information returned")
    purpose: AccessPurpose
    break_glass: bool
    correlation_id: str


class AccessLogPage(BaseModel):
    """A page of who read a citizen's data, newest first."""

    citizen_id: UUID
    limit: int
    offset: int
    accesses: list[Access]


class AccessLog:
    """The access log of one projection schema.

    Reads at the same moment share one commit (group commit): a read's rows join those
    waiting while an earlier write is in flight, and every read of the group returns once
    the one statement that writes them all has committed (or all raise its error). So a
    busy service commits once per group, not once per read, and no read is answered before
    its rows are durable.
    """

    def __init__(self, pool: Pool, *, schema: str) -> None:
        self._pool = pool
        self.schema = checked_schema(schema)
        self._waiting: list[tuple[Sequence[Access], asyncio.Future[None]]] = []
        self._writing: asyncio.Task[None] | None = None

    async def record(self, accesses: Sequence[Access]) -> None:
        """Write reads to the log (committed when this returns)."""
        if not accesses:
            return
        written = asyncio.get_running_loop().create_future()
        self._waiting.append((accesses, written))
        if self._writing is None or self._writing.done():
            self._writing = asyncio.create_task(self._write_waiting())
        await written

    async def _write_waiting(self) -> None:
        """Write the waiting reads, a group per statement, until none waits."""
        while self._waiting:
            group, self._waiting = self._waiting, []
            try:
                await self._insert([access for accesses, _ in group for access in accesses])
            except Exception as error:  # every read of the group fails with it
                _settle(group, error)
            else:
                _settle(group, None)
            finally:  # cancelled (the service stopping): no read waits for ever
                for _, written in group:
                    if not written.done():
                        written.cancel()

    async def _insert(self, accesses: Sequence[Access]) -> None:
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
        read_since: datetime | None = None,
    ) -> list[Access]:
        """Return a page of the reads of one citizen's data, newest first, leaving out the
        reads by organisations in `not_by`, and those before `read_since`."""
        rows = await self._pool.fetch(
            f"SELECT * FROM {self.schema}.access_log WHERE citizen_id = $1"  # noqa: S608 - schema name is checked
            " AND viewer_org <> ALL($4::text[])"
            " AND ($5::timestamptz IS NULL OR read_at >= $5)"
            " ORDER BY read_at DESC, position DESC LIMIT $2 OFFSET $3",
            citizen_id,
            limit,
            offset,
            list(not_by),
            read_since,
        )
        return [_access(row) for row in rows]

    async def since(
        self, after_position: int, *, limit: int, upto: int | None = None
    ) -> list[tuple[int, Access]]:
        """Return reads after a position in the log (up to `upto`, if given), oldest first
        (for an export)."""
        rows = await self._pool.fetch(
            f"SELECT * FROM {self.schema}.access_log WHERE position > $1"  # noqa: S608 - schema name is checked
            " AND ($3::bigint IS NULL OR position <= $3) ORDER BY position LIMIT $2",
            after_position,
            limit,
            upto,
        )
        return [(row["position"], _access(row)) for row in rows]

    async def last_position(self) -> int:
        """Return the position of the latest read logged (0 for none)."""
        last = await self._pool.fetchval(
            f"SELECT coalesce(max(position), 0) FROM {self.schema}.access_log"  # noqa: S608 - schema name is checked
        )
        return int(last)


def operator_of(requested_by: str | None) -> str:
    """Return who runs a command: the name given, else the operating system user (raises
    ValueError for a name that does not fit the log)."""
    if requested_by is not None:
        if not is_operator_name(requested_by):
            raise ValueError("an operator's name is letters, digits and ._@- only, 1 to 64")
        return requested_by
    try:
        return pwd.getpwuid(os.getuid()).pw_name
    except KeyError:  # a container's user without a name
        return f"uid-{os.getuid()}"


def is_operator_name(name: str) -> bool:
    """Tell whether an operator's name fits the log (letters, digits, `._@-`, up to 64)."""
    return OPERATOR_NAME.fullmatch(name) is not None


def operator_reads(
    citizen_categories: Iterable[tuple[UUID, Sequence[str]]],
    *,
    operator: str,
    kind: ReadKind,
    purpose: AccessPurpose,
    run: str,
) -> list[Access]:
    """Return the access log entries of a command-line read by `operator` in one run (its
    correlation id: `new_run()`)."""
    now = datetime.now(UTC)
    return [
        Access(
            read_at=now, citizen_id=citizen, viewer_org=OPERATORS, viewer_role="ig_lead",
            key_id=f"cli:{operator}", read_kind=kind, categories=list(categories),
            purpose=purpose, break_glass=False, correlation_id=run,
        )
        for citizen, categories in citizen_categories
    ]  # fmt: skip


def new_run() -> str:
    """Return a fresh correlation id for one command-line run."""
    return str(uuid4())


def _access(row: object) -> Access:
    values = dict(row)  # type: ignore[call-overload]
    values.pop("position", None)
    values["categories"] = [c for c in values["categories"] if c]
    return Access.model_validate(values)


def _settle(
    group: Sequence[tuple[Sequence[Access], asyncio.Future[None]]], error: Exception | None
) -> None:
    """Tell each read of a group its rows are written (or why not); a read whose request
    went away meanwhile is not waiting any more."""
    for _, written in group:
        if written.done():
            continue
        if error is None:
            written.set_result(None)
        else:
            written.set_exception(error)
