"""The organisation's people lookup: which person holds an NHS number or local id.

Written in the same transaction as `person.registered`, so two registrations of one NHS number
(or local id) cannot both succeed: the second waits for the first and then finds it.
"""

from uuid import UUID

import asyncpg

from services.organisation.domain.people import ExistingPerson
from services.runtime.database import Connection
from services.runtime.event_store_schema import checked_schema


def people_ddl(schema: str) -> list[str]:
    """Return the idempotent DDL of the people lookup table in `schema`."""
    s = checked_schema(schema)
    return [
        f"CREATE SCHEMA IF NOT EXISTS {s}",
        f"""
        CREATE TABLE IF NOT EXISTS {s}.people (
            person_id uuid PRIMARY KEY,
            nhs_number text UNIQUE,
            local_id text UNIQUE,
            registered_at timestamptz NOT NULL DEFAULT now()
        )""",
    ]


class PeopleTable:
    """The people table of one organisation's schema."""

    def __init__(self, schema: str) -> None:
        self.schema = checked_schema(schema)

    async def claim(
        self,
        conn: Connection,
        *,
        person_id: UUID,
        nhs_number: str | None,
        local_id: str | None,
    ) -> ExistingPerson | None:
        """Record a person's identifiers; return who already holds them instead, if anyone does."""
        inserted = await conn.fetchval(
            f"INSERT INTO {self.schema}.people (person_id, nhs_number, local_id)"  # noqa: S608 - schema name is checked
            " VALUES ($1, $2, $3) ON CONFLICT DO NOTHING RETURNING true",
            person_id,
            nhs_number,
            local_id,
        )
        if inserted:
            return None
        row = await conn.fetchrow(
            f"SELECT person_id, nhs_number, local_id FROM {self.schema}.people"  # noqa: S608 - schema name is checked
            " WHERE person_id = $1 OR nhs_number = $2 OR local_id = $3 LIMIT 1",
            person_id,
            nhs_number,
            local_id,
        )
        assert row is not None  # ON CONFLICT found a committed row holding one of these values
        return ExistingPerson(row["person_id"], row["nhs_number"], row["local_id"])

    async def find_by_nhs_number(self, conn: Connection, nhs_number: str) -> UUID | None:
        """Return the person registered with this NHS number, if any."""
        person_id: UUID | None = await conn.fetchval(
            f"SELECT person_id FROM {self.schema}.people WHERE nhs_number = $1",  # noqa: S608 - schema name is checked
            nhs_number,
        )
        return person_id

    async def find_by_local_id(self, conn: Connection, local_id: str) -> UUID | None:
        """Return the person registered with this local id, if any."""
        person_id: UUID | None = await conn.fetchval(
            f"SELECT person_id FROM {self.schema}.people WHERE local_id = $1",  # noqa: S608 - schema name is checked
            local_id,
        )
        return person_id

    async def change(
        self,
        conn: Connection,
        *,
        person_id: UUID,
        nhs_number: str | None,
        local_id: str | None,
    ) -> ExistingPerson | None:
        """Make these the person's identifiers; return who already holds one of them instead
        (nothing changes then). In a savepoint: a clash leaves the transaction usable."""
        try:
            async with conn.transaction():
                await conn.execute(
                    f"UPDATE {self.schema}.people SET nhs_number = $2, local_id = $3"  # noqa: S608 - schema name is checked
                    " WHERE person_id = $1",
                    person_id,
                    nhs_number,
                    local_id,
                )
        except asyncpg.UniqueViolationError:
            row = await conn.fetchrow(
                f"SELECT person_id, nhs_number, local_id FROM {self.schema}.people"  # noqa: S608 - schema name is checked
                " WHERE person_id <> $1 AND (nhs_number = $2 OR local_id = $3) LIMIT 1",
                person_id,
                nhs_number,
                local_id,
            )
            assert row is not None  # the unique index found a holder
            return ExistingPerson(row["person_id"], row["nhs_number"], row["local_id"])
        return None
