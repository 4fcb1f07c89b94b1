"""The worklists' tables in an organisation's schema: referrals, cases and people to find.

Written only by the worklists' consumer of the organisation's own log (each change in the
batch's transaction, with its checkpoint), read by the list endpoints. Rows hold ids,
statuses, times, organisations and who leads a case; a person's family name and date of
birth only as keyed hashes (`domain/worklists.py`). An erasure deletes a person's search row
(`projection/adapters/organisation_records.py`).
"""

from collections.abc import Sequence
from typing import Any
from uuid import UUID

from services.organisation.domain.worklists import (
    REFERRAL_RANK,
    CaseClosedListed,
    CaseLeadChanged,
    CaseListed,
    CaseReopened,
    CaseRow,
    Page,
    PersonListed,
    PersonRow,
    PersonSearchChanged,
    ReferralListed,
    ReferralMoved,
    ReferralRow,
    WorklistChange,
    cursor_after,
    next_cursor,
)
from services.runtime.database import Connection
from services.runtime.event_store_schema import checked_schema

_RANK_OF_STATUS = (  # REFERRAL_RANK of the stored status, in SQL
    "CASE status "
    + " ".join(f"WHEN '{status}' THEN {rank}" for status, rank in REFERRAL_RANK.items())
    + " END"
)


def worklist_ddl(schema: str) -> tuple[str, ...]:
    """Return the DDL of the worklists' tables in `schema` (one migration: never edited)."""
    s = checked_schema(schema)
    return (
        f"""CREATE TABLE {s}.referral_list (
            referral_id uuid PRIMARY KEY,
            direction text NOT NULL,
            status text NOT NULL,
            other_org text NOT NULL,
            person_id uuid NOT NULL,
            urgency text NOT NULL,
            listed_at timestamptz NOT NULL,
            updated_at timestamptz NOT NULL
        )""",
        f"""CREATE INDEX referral_list_newest ON {s}.referral_list
        (direction, listed_at DESC, referral_id DESC)""",
        f"""CREATE TABLE {s}.case_list (
            case_id uuid PRIMARY KEY,
            person_id uuid NOT NULL,
            status text NOT NULL,
            key_worker text NOT NULL,
            key_worker_email text,
            opened_at timestamptz NOT NULL,
            updated_at timestamptz NOT NULL
        )""",
        f"CREATE INDEX case_list_newest ON {s}.case_list (opened_at DESC, case_id DESC)",
        f"""CREATE TABLE {s}.person_search (
            person_id uuid PRIMARY KEY,
            family_name_token bytea NOT NULL,
            date_of_birth_token bytea NOT NULL,
            registered_at timestamptz NOT NULL
        )""",
        f"CREATE INDEX person_search_by_family_name ON {s}.person_search (family_name_token)",
        f"CREATE INDEX person_search_by_birth ON {s}.person_search (date_of_birth_token)",
    )


class WorklistTables:
    """The worklists of one organisation's schema, on one connection."""

    def __init__(self, conn: Connection, schema: str) -> None:
        self._conn = conn
        self.schema = checked_schema(schema)

    async def apply(self, changes: Sequence[WorklistChange]) -> None:
        """Apply a batch's changes in order (each idempotent: a batch read again is a no-op)."""
        for change in changes:
            statement, *values = self._statement(change)
            await self._conn.execute(statement, *values)

    def _statement(self, change: WorklistChange) -> tuple[Any, ...]:
        if isinstance(change, ReferralListed | ReferralMoved):
            return self._referral_statement(change)
        if isinstance(change, CaseReopened):
            return (
                f"UPDATE {self.schema}.case_list SET status = 'open', updated_at = $2"  # noqa: S608 - schema name is checked
                " WHERE case_id = $1",
                change.case_id, change.at,
            )  # fmt: skip
        if isinstance(change, CaseListed | CaseLeadChanged | CaseClosedListed):
            return self._case_statement(change)
        return self._person_statement(change)

    def _referral_statement(self, change: ReferralListed | ReferralMoved) -> tuple[Any, ...]:
        s = self.schema
        if isinstance(change, ReferralListed):
            return (
                f"INSERT INTO {s}.referral_list (referral_id, direction, status, other_org,"  # noqa: S608 - schema name is checked
                " person_id, urgency, listed_at, updated_at)"
                " VALUES ($1, $2, $3, $4, $5, $6, $7, $7)"
                " ON CONFLICT (referral_id) DO UPDATE SET status = excluded.status,"
                " person_id = excluded.person_id, updated_at = excluded.updated_at"
                " WHERE referral_list.status = 'held' AND excluded.status = 'received'",
                change.referral_id, change.direction, change.status, change.other_org,
                change.person_id, change.urgency, change.at,
            )  # fmt: skip
        return (  # moved: never back (`REFERRAL_RANK`)
            f"UPDATE {s}.referral_list SET status = $2, updated_at = $3"  # noqa: S608 - schema name is checked
            f" WHERE referral_id = $1 AND {_RANK_OF_STATUS} < $4",
            change.referral_id, change.status, change.at, REFERRAL_RANK[change.status],
        )  # fmt: skip

    def _case_statement(
        self, change: CaseListed | CaseLeadChanged | CaseClosedListed
    ) -> tuple[Any, ...]:
        s = self.schema
        if isinstance(change, CaseListed):
            return (
                f"INSERT INTO {s}.case_list (case_id, person_id, status, key_worker,"  # noqa: S608 - schema name is checked
                " key_worker_email, opened_at, updated_at) VALUES ($1, $2, 'open', $3, $4, $5, $5)"
                " ON CONFLICT (case_id) DO NOTHING",
                change.case_id, change.person_id, change.key_worker, change.key_worker_email,
                change.at,
            )  # fmt: skip
        if isinstance(change, CaseLeadChanged):
            return (
                f"UPDATE {s}.case_list SET key_worker = $2, key_worker_email = $3,"  # noqa: S608 - schema name is checked
                " updated_at = $4 WHERE case_id = $1",
                change.case_id, change.key_worker, change.key_worker_email, change.at,
            )  # fmt: skip
        return (  # closed
            f"UPDATE {s}.case_list SET status = 'closed', updated_at = $2"  # noqa: S608 - schema name is checked
            " WHERE case_id = $1",
            change.case_id, change.at,
        )  # fmt: skip

    def _person_statement(self, change: PersonListed | PersonSearchChanged) -> tuple[Any, ...]:
        s = self.schema
        if isinstance(change, PersonSearchChanged):
            return (
                f"UPDATE {s}.person_search SET"  # noqa: S608 - schema name is checked
                " family_name_token = coalesce($2, family_name_token),"
                " date_of_birth_token = coalesce($3, date_of_birth_token) WHERE person_id = $1",
                change.person_id, change.family_name_token, change.date_of_birth_token,
            )  # fmt: skip
        return (
            f"INSERT INTO {s}.person_search (person_id, family_name_token,"  # noqa: S608 - schema name is checked
            " date_of_birth_token, registered_at) VALUES ($1, $2, $3, $4)"
            " ON CONFLICT (person_id) DO NOTHING",
            change.person_id, change.family_name_token, change.date_of_birth_token, change.at,
        )  # fmt: skip

    async def referrals(
        self, *, direction: str, statuses: Sequence[str], limit: int, cursor: str | None
    ) -> Page[ReferralRow]:
        """Return a page of the referrals one way, of these statuses (all when empty)."""
        where = ["direction = $1", "(cardinality($2::text[]) = 0 OR status = ANY($2::text[]))"]
        page = await self._page(
            table="referral_list", key="referral_id", at="listed_at", where=where,
            values=[direction, list(statuses)], limit=limit, cursor=cursor,
        )  # fmt: skip
        return Page([ReferralRow(**row) for row in page.rows], page.total, page.next_cursor)

    async def cases(
        self, *, statuses: Sequence[str], key_worker: str | None, limit: int, cursor: str | None
    ) -> Page[CaseRow]:
        """Return a page of the cases of these statuses (all when empty), led by `key_worker`
        (name or email, any case) when given."""
        where = [
            "(cardinality($1::text[]) = 0 OR status = ANY($1::text[]))",
            "($2::text IS NULL OR lower(key_worker) = lower($2) OR lower(key_worker_email)"
            " = lower($2))",
        ]
        page = await self._page(
            table="case_list", key="case_id", at="opened_at", where=where,
            values=[list(statuses), key_worker], limit=limit, cursor=cursor,
        )  # fmt: skip
        return Page([CaseRow(**row) for row in page.rows], page.total, page.next_cursor)

    async def people(
        self,
        *,
        family_name_token: bytes | None,
        date_of_birth_token: bytes | None,
        limit: int,
        cursor: str | None,
    ) -> Page[PersonRow]:
        """Return a page of the people found by these tokens (each only when given)."""
        where = [
            "($1::bytea IS NULL OR family_name_token = $1)",
            "($2::bytea IS NULL OR date_of_birth_token = $2)",
        ]
        page = await self._page(
            table="person_search", key="person_id", at="registered_at", where=where,
            values=[family_name_token, date_of_birth_token], limit=limit, cursor=cursor,
        )  # fmt: skip
        rows = [PersonRow(row["person_id"], row["registered_at"]) for row in page.rows]
        return Page(rows, page.total, page.next_cursor)

    async def people_born_on(
        self, date_of_birth_tokens: Sequence[bytes], *, limit: int
    ) -> list[UUID]:
        """Return the people (the `limit` most recently registered) whose birth date has one
        of these search tokens."""
        rows = await self._conn.fetch(
            f"SELECT person_id FROM {self.schema}.person_search"  # noqa: S608 - schema name is checked
            " WHERE date_of_birth_token = ANY($1::bytea[])"
            " ORDER BY registered_at DESC, person_id DESC LIMIT $2",
            list(date_of_birth_tokens),
            limit,
        )
        return [row["person_id"] for row in rows]

    async def _page(
        self,
        *,
        table: str,
        key: str,
        at: str,
        where: list[str],
        values: list[Any],
        limit: int,
        cursor: str | None,
    ) -> Page[dict[str, Any]]:
        """Return the rows matching `where`, newest first by (`at`, `key`), after `cursor`,
        and how many match in all: one statement, so the count and the rows agree."""
        s, n = self.schema, len(values)
        matching = " AND ".join(where)
        after = cursor_after(cursor, table)
        at_n, key_n, limit_n = n + 1, n + 2, n + 3
        rows = await self._conn.fetch(
            f"WITH matching AS (SELECT * FROM {s}.{table} WHERE {matching}),"  # noqa: S608 - names are ours
            " page AS (SELECT * FROM matching"
            f"  WHERE ${at_n}::timestamptz IS NULL OR ({at}, {key}) < (${at_n}, ${key_n}::uuid)"
            f"  ORDER BY {at} DESC, {key} DESC LIMIT ${limit_n})"
            " SELECT (SELECT count(*) FROM matching) AS total_matching, page.*"
            f" FROM (SELECT) AS one LEFT JOIN page ON true ORDER BY {at} DESC, {key} DESC",
            *values,
            *(after or (None, None)),
            limit + 1,
        )
        total = rows[0]["total_matching"]
        found = [
            {name: value for name, value in row.items() if name != "total_matching"}
            for row in rows
            if row[key] is not None
        ]
        more = len(found) > limit
        shown = found[:limit]
        last = shown[-1] if shown and more else None
        following = next_cursor(table, last[at], last[key]) if last else None
        return Page(shown, int(total or 0), following)
