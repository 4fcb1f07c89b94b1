"""What an erasure changes in the projection's own tables: the timeline's unsealed values
and unsafe correlation ids, break-glass reasons, the audit trail re-keyed to the erasure's id,
and every row identity resolution and the stewards kept about the erased records."""

from uuid import UUID

from services.projection.adapters.access_log import audit_schema_of
from services.projection.adapters.break_glass import grant_record
from services.projection.adapters.decision_store import decisions_schema_of
from services.projection.adapters.organisation_records import (
    ERASED_CORRELATION_ID,
    UNSAFE_CORRELATION_ID,
    RecordKeys,
    erased_in_place,
)
from services.projection.adapters.read_model import key_columns
from services.runtime.database import Connection
from services.runtime.event_store_schema import checked_schema
from services.runtime.person_keys import PersonKeys
from services.runtime.sealing import ERASED

_UNSAFE = UNSAFE_CORRELATION_ID


async def nhs_numbers_of(conn: Connection, schema: str, records: RecordKeys) -> list[str]:
    """Return the NHS numbers the records were registered with."""
    orgs, people = key_columns(records)
    rows = await conn.fetch(
        f"SELECT DISTINCT r.nhs_number FROM {checked_schema(schema)}.registrations r"  # noqa: S608 - schema name is checked
        " JOIN unnest($1::text[], $2::text[]) AS k(org, person_id)"
        "  ON (r.org, r.person_id) = (k.org, k.person_id) WHERE r.nhs_number IS NOT NULL",
        orgs,
        people,
    )
    return [row["nhs_number"] for row in rows]


async def erase_unsealed_timeline_values(
    conn: Connection, schema: str, records: RecordKeys
) -> None:
    """Erase in place the personal values the records' timeline events hold unsealed."""
    orgs, people = key_columns(records)
    s = checked_schema(schema)
    rows = await conn.fetch(
        "SELECT t.event_id, t.org, t.type, (t.envelope->>'schema_version')::int AS version,"  # noqa: S608 - schema name is checked
        f" t.envelope->'data' AS data FROM {s}.timeline t"
        " JOIN unnest($1::text[], $2::text[]) AS k(org, person_id)"
        " ON t.org = k.org AND t.subject = k.person_id",
        orgs,
        people,
    )
    await erased_in_place(
        conn,
        rows,
        f"UPDATE {s}.timeline SET envelope = jsonb_set(envelope, '{{data}}', $2::jsonb)"  # noqa: S608 - schema name is checked
        " WHERE event_id = $1 AND org = $3",
    )


async def erase_unsafe_timeline_correlation_ids(
    conn: Connection, schema: str, records: RecordKeys
) -> None:
    """Replace unsafe correlation ids in the records' timeline events."""
    orgs, people = key_columns(records)
    await conn.execute(
        f"UPDATE {checked_schema(schema)}.timeline t SET envelope = jsonb_set(t.envelope,"  # noqa: S608 - schema name is checked
        " '{correlation_id}', to_jsonb($1::text))"
        " FROM unnest($2::text[], $3::text[]) AS k(org, person_id)"
        " WHERE t.org = k.org AND t.subject = k.person_id"
        f" AND t.envelope->>'correlation_id' {_UNSAFE}",
        ERASED_CORRELATION_ID, orgs, people,
    )  # fmt: skip


async def shred_grant_reasons(
    conn: Connection, schema: str, citizen_id: UUID, keys: PersonKeys
) -> set[tuple[str, str]]:
    """Tombstone the keys sealing the reasons of the break-glass grants that opened the
    citizen, and erase those reasons in place (sealed or, from before sealing, in clear);
    return the grants' key records."""
    audit = audit_schema_of(schema)
    rows = await conn.fetch(
        f"UPDATE {audit}.break_glass SET reason = NULL, event = CASE WHEN event IS NULL"  # noqa: S608 - schema name is checked
        " THEN NULL ELSE jsonb_set(event, '{data,reason}', $2::jsonb) END"
        " WHERE citizen_id = $1 RETURNING grant_id",
        citizen_id,
        ERASED,
    )
    grants = {grant_record(row["grant_id"]) for row in rows}
    await keys.erase(conn, grants)
    return grants


async def audit_under_erasure_id(
    conn: Connection, schema: str, citizen_id: UUID, erasure_id: UUID
) -> None:
    """Keep the citizen's access log and grants, under the erasure's id instead."""
    audit = audit_schema_of(schema)
    unsafe = f"CASE WHEN correlation_id {_UNSAFE} THEN $3 ELSE correlation_id END"
    for table in ("access_log", "break_glass"):
        await conn.execute(
            f"UPDATE {audit}.{table} SET citizen_id = $2, correlation_id = {unsafe}"  # noqa: S608 - schema name is checked
            " WHERE citizen_id = $1",
            citizen_id,
            erasure_id,
            ERASED_CORRELATION_ID,
        )
    await conn.execute(  # the alert events name the citizen too, and hold the correlation id
        f"UPDATE {audit}.break_glass SET event = jsonb_set(jsonb_set(jsonb_set(event,"  # noqa: S608 - schema name is checked
        " '{subject}', to_jsonb($1::text)), '{data,citizen_id}', to_jsonb($1::text)),"
        " '{correlation_id}', to_jsonb(correlation_id))"
        " WHERE citizen_id = $2::uuid AND event IS NOT NULL",
        str(erasure_id),
        erasure_id,
    )


_NAMED = "unnest($1::text[], $2::text[]) AS k(org, person_id)"
_ONE = "(x.org, x.person_id) = (k.org, k.person_id)"
_A_SIDE = "(x.a_org, x.a_person) = (k.org, k.person_id)"
_EITHER = f"{_A_SIDE} OR {_A_SIDE.replace('x.a_', 'x.b_')}"


async def purge_projection(
    conn: Connection, schema: str, citizen_id: UUID, records: set[tuple[str, str]]
) -> None:
    """Delete what identity resolution and the stewards kept about the records; a decision
    that still keeps other records apart stays, without its reason."""
    d = decisions_schema_of(schema)
    orgs, people = key_columns(records)
    decided = await conn.fetch(
        f"""SELECT DISTINCT x.event_id FROM {d}.decision_pairs x JOIN {_NAMED}
        ON {_EITHER}""",  # noqa: S608 - schema name is checked
        orgs,
        people,
    )
    await conn.execute(
        f"DELETE FROM {d}.decision_pairs x USING {_NAMED} WHERE {_EITHER}",  # noqa: S608 - schema name is checked
        orgs,
        people,
    )
    await purge_identity_rows(conn, schema, records)
    await conn.execute(  # a decision about erased records only goes whole (its reason too)
        f"""DELETE FROM {d}.decisions x WHERE x.event_id = ANY($1::uuid[])
        AND NOT EXISTS (SELECT 1 FROM {d}.decision_pairs p WHERE p.event_id = x.event_id)""",  # noqa: S608 - schema name is checked
        [row["event_id"] for row in decided],
    )
    await conn.execute(  # one that still keeps other records apart stays, without its reason
        f"UPDATE {d}.decisions SET envelope = jsonb_set(envelope, '{{data,reason}}', $2::jsonb)"  # noqa: S608 - schema name is checked
        " WHERE event_id = ANY($1::uuid[])",
        [row["event_id"] for row in decided],
        ERASED,
    )
    citizens = f"{checked_schema(schema)}.citizens"
    await conn.execute(f"DELETE FROM {citizens} WHERE citizen_id = $1", citizen_id)  # noqa: S608 - schema name is checked


async def purge_identity_rows(conn: Connection, schema: str, records: RecordKeys) -> None:
    """Delete what identity resolution kept about the records in the read model `schema`:
    their candidate pairs, blocking keys, registrations and links."""
    s = checked_schema(schema)
    orgs, people = key_columns(records)
    for table, matching in (
        (f"{s}.match_pairs", _EITHER),
        (f"{s}.blocking_keys", _ONE),
        (f"{s}.registrations", _ONE),
        (f"{s}.person_links", _ONE),
    ):
        await conn.execute(
            f"DELETE FROM {table} x USING {_NAMED} WHERE {matching}",  # noqa: S608 - schema names are checked
            orgs,
            people,
        )
