"""The projection's one way into the organisations' stores: what an erasure does there.

Each organisation's schema holds its events, its people lookup and search rows; the
projection reaches them only through `OrganisationRecords`, in the erasure's transaction:
which records an organisation holds under some NHS numbers, personal values stored before
sealing existed (erased in place), correlation ids of a shape no longer taken, and the
lookup and search rows.
"""

from collections.abc import Mapping, Sequence
from typing import Any

from asyncpg import Record

from events.envelope import OrgId
from events.inbound import MessageQuarantined
from services.projection.adapters.read_model import key_columns
from services.runtime.correlation import SAFE_CORRELATION_ID
from services.runtime.database import Connection
from services.runtime.event_store_schema import checked_schema
from services.runtime.person_keys import PersonKeys
from services.runtime.sealing import redacted
from services.runtime.search_keys import local_id_token, people_search_key

ERASED_CORRELATION_ID = "erased"  # replaces a free-text correlation id stored before its rule
UNSAFE_CORRELATION_ID = f"!~ '^{SAFE_CORRELATION_ID.pattern}$'"
RecordKeys = set[tuple[str, str]]


class OrganisationRecords:
    """Every organisation's store (schema by organisation), as an erasure reaches them."""

    def __init__(self, org_schemas: Mapping[OrgId, str]) -> None:
        self._stores = {str(org): checked_schema(s) for org, s in org_schemas.items()}

    async def held_under(self, conn: Connection, nhs_numbers: Sequence[str]) -> RecordKeys:
        """Return the records each organisation holds under these NHS numbers."""
        held: RecordKeys = set()
        for org, store in self._stores.items():
            rows = await conn.fetch(
                f"SELECT person_id::text AS person_id FROM {store}.people"  # noqa: S608 - schema name is checked
                " WHERE nhs_number = ANY($1::text[])",
                list(nhs_numbers),
            )
            held |= {(org, row["person_id"]) for row in rows}
        return held

    async def erase_unsealed_values(self, conn: Connection, records: RecordKeys) -> int:
        """Erase in place the personal values the records' events hold unsealed (stored
        before sealing existed); return how many stored events had some."""
        orgs, people = key_columns(records)
        named = "JOIN unnest($1::text[], $2::text[]) AS k(org, person_id)"
        erased = 0
        for org, store in self._stores.items():
            rows = await conn.fetch(
                f"SELECT e.event_id, e.type, e.schema_version AS version, e.data"  # noqa: S608 - schema name is checked
                f" FROM {store}.events e {named} ON e.org = k.org AND e.subject = k.person_id"
                " WHERE e.org = $3",
                orgs,
                people,
                org,
            )
            erased += await erased_in_place(
                conn,
                rows,
                f"UPDATE {store}.events SET data = $2 WHERE event_id = $1",  # noqa: S608 - schema name is checked
            )
        return erased

    async def erase_unsafe_correlation_ids(self, conn: Connection, records: RecordKeys) -> None:
        """Replace, in the records' events, correlation ids a caller chose before only a
        safe shape was taken (they may name the person)."""
        orgs, people = key_columns(records)
        named = "unnest($2::text[], $3::text[]) AS k(org, person_id)"
        for org, store in self._stores.items():
            await conn.execute(
                f"UPDATE {store}.events e SET correlation_id = $1 FROM {named}"  # noqa: S608 - schema name is checked
                " WHERE e.org = k.org AND e.subject = k.person_id AND e.org = $4"
                f" AND e.correlation_id {UNSAFE_CORRELATION_ID}",
                ERASED_CORRELATION_ID, orgs, people, org,
            )  # fmt: skip

    async def quarantined_about(
        self, conn: Connection, records: RecordKeys, keys: PersonKeys | None
    ) -> set[tuple[str, str]]:
        """Return the quarantined messages from charities' systems (organisation, quarantine
        id) that name these records' people by the charity's id (their local id)."""
        found: set[tuple[str, str]] = set()
        for org, person_id in records:
            store = self._stores.get(org)
            if store is None or not await _has_table(conn, f"{store}.people"):
                continue
            local_id = await conn.fetchval(
                f"SELECT local_id FROM {store}.people WHERE person_id = $1::uuid",  # noqa: S608 - schema name is checked
                person_id,
            )
            if not local_id:
                continue
            token = local_id_token(people_search_key(keys, org), local_id)
            rows = await conn.fetch(
                f"SELECT DISTINCT subject FROM {store}.events"  # noqa: S608 - schema name is checked
                " WHERE type = $1 AND data->>'person_token' = $2",
                MessageQuarantined.event_type,
                token,
            )
            found |= {(org, row["subject"]) for row in rows}
        return found

    async def forget_identifiers(self, conn: Connection, records: RecordKeys) -> None:
        """Delete the records' lookup rows (NHS number, local id) and search rows (keyed
        hashes of family name and birth date: nobody finds them by those any more) from
        their organisations."""
        for org, person_id in records:
            if org not in self._stores:
                continue
            store = self._stores[org]
            for table in ("people", "person_search"):
                if await conn.fetchval("SELECT to_regclass($1) IS NOT NULL", f"{store}.{table}"):
                    await conn.execute(
                        f"DELETE FROM {store}.{table} WHERE person_id = $1::uuid",  # noqa: S608 - schema name is checked
                        person_id,
                    )


async def erased_in_place(conn: Connection, rows: Sequence[Record | Any], update: str) -> int:
    """Run `update` (event id, new data[, org]) for each row holding unsealed personal
    values; return how many did."""
    erased = 0
    for row in rows:
        data = redacted(row["type"], row["version"], row["data"])
        if data is not None:
            org = row.get("org")  # the timeline's rows name theirs; a store holds one
            await conn.execute(update, row["event_id"], data, *(() if org is None else (org,)))
            erased += 1
    return erased


async def _has_table(conn: Connection, name: str) -> bool:
    found: bool = await conn.fetchval("SELECT to_regclass($1) IS NOT NULL", name)
    return found
