"""Erase a citizen: shred every record's key and purge what was derived from their data.

One transaction: the re-linking lock taken exclusive (so no projection batch reads a key
before the erasure and writes what it read after it), then:
- the citizen's records: each organisation's person ids the projection links to them, and
  those any organisation holds under the same NHS numbers (records the projection has not
  linked yet);
- every record's key gets a tombstone; personal values stored before sealing existed are
  erased in place in the organisations' stores and the projection's timeline;
- the projection's rows about them go: the view, links, registrations and blocking keys,
  candidate pairs, the data stewards' decisions naming them; each organisation's lookup
  row (NHS number, local id) too;
- the access log and break-glass grants about them are kept (who read what stays
  answerable) under the erasure's id instead of the citizen id, which an NHS number would
  give again to a later registration of the same person; what callers wrote about them goes:
  each grant's key (which seals its reason) gets a tombstone and the reason is erased in
  place; a correlation id of a shape we no longer take (free text) is replaced, there and in
  the records' events;
- a steward's decision that also names other records stays (it still keeps them apart), its
  reason erased in place;
- the erasure is listed in `caseweave_keys.erasures` with its records and grants, so that
  it can be applied again after a backup of the keys is restored (`caseweave erase --again`).

What stays: the events themselves, everywhere they were copied (stores, Kafka topics,
backups, the projection's timeline), with their personal values sealed under keys that no
longer exist; their non-personal facts (types, times, places, categories) still count, so
statistics over them do not change. A replay cannot rebuild the person: their events open
nowhere, and nothing links them to a citizen. Events published to Kafka before sealing
existed keep their values until the topics' retention removes them.
"""

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from uuid import UUID, uuid4

import structlog
from asyncpg import Record

from events.envelope import OrgId
from services.projection.adapters.access_log import audit_schema_of
from services.projection.adapters.break_glass import grant_record
from services.projection.adapters.decision_store import decisions_schema_of
from services.projection.adapters.read_model import ReadModel, key_columns
from services.projection.domain.fold import fold
from services.projection.service_layer.log_projection import (
    DEFAULT_MATCHING,
    identity_resolution,
    refolded_views,
)
from services.runtime.correlation import SAFE_CORRELATION_ID
from services.runtime.database import Connection, Pool, transaction
from services.runtime.event_store_schema import checked_schema
from services.runtime.person_keys import PersonKeys
from services.runtime.sealing import ERASED, redacted

logger = structlog.get_logger(__name__)
ERASED_CORRELATION_ID = "erased"  # replaces a free-text correlation id stored before its rule
_UNSAFE = f"!~ '^{SAFE_CORRELATION_ID.pattern}$'"


@dataclass(frozen=True)
class Erased:
    """What an erasure did: its id, and how many organisations' records it shredded."""

    erasure_id: UUID
    citizen_id: UUID
    records: int


async def erase_citizen(
    pool: Pool,
    citizen_id: UUID,
    *,
    keys: PersonKeys,
    org_schemas: Mapping[OrgId, str],
    schema: str = "projection",
) -> Erased | None:
    """Erase the citizen (None, changing nothing, when the projection knows no such citizen)."""
    model = ReadModel(schema)
    resolution = identity_resolution(model, id_secret=b"", matching=DEFAULT_MATCHING)
    stores = {str(org): checked_schema(s) for org, s in org_schemas.items()}
    async with transaction(pool) as conn:
        await resolution.hold_relinking(conn)
        linked = await model.records_of(conn, citizen_id)
        if not linked:
            return None
        records = linked | await _held_under_same_nhs_numbers(conn, schema, linked, stores)
        others = set((await model.links_of(conn, records)).values()) - {citizen_id}
        await model.lock_citizens(conn, [citizen_id, *others])
        await keys.erase(conn, records)
        redacted = await _erase_unsealed_values(conn, schema, records, stores)
        await _erase_unsafe_correlation_ids(conn, schema, records, stores)
        await _purge_projection(conn, schema, citizen_id, records)
        await _refold_without_them(conn, model, others, keys)
        for org, person_id in records:
            if org in stores:
                await conn.execute(
                    f"DELETE FROM {stores[org]}.people WHERE person_id = $1::uuid",  # noqa: S608 - schema name is checked
                    person_id,
                )
        erased = Erased(uuid4(), citizen_id, len(records))
        grants = await _shred_grant_reasons(conn, schema, citizen_id, keys)
        await keys.record_erasure(conn, erased.erasure_id, sorted(records | grants))
        await _audit_under_erasure_id(conn, schema, citizen_id, erased.erasure_id)
    logger.warning(
        "citizen_erased", erasure_id=str(erased.erasure_id), records=len(records),
        values_erased_in_place=redacted,
    )  # fmt: skip
    return erased


async def _held_under_same_nhs_numbers(
    conn: Connection, schema: str, linked: set[tuple[str, str]], stores: Mapping[str, str]
) -> set[tuple[str, str]]:
    """Return the records each organisation holds under the citizen's NHS numbers."""
    orgs, people = key_columns(linked)
    numbers = [
        row["nhs_number"]
        for row in await conn.fetch(
            f"SELECT DISTINCT r.nhs_number FROM {checked_schema(schema)}.registrations r"  # noqa: S608 - schema name is checked
            " JOIN unnest($1::text[], $2::text[]) AS k(org, person_id)"
            "  ON (r.org, r.person_id) = (k.org, k.person_id) WHERE r.nhs_number IS NOT NULL",
            orgs,
            people,
        )
    ]
    held: set[tuple[str, str]] = set()
    for org, store in stores.items():
        rows = await conn.fetch(
            f"SELECT person_id::text AS person_id FROM {store}.people"  # noqa: S608 - schema name is checked
            " WHERE nhs_number = ANY($1::text[])",
            numbers,
        )
        held |= {(org, row["person_id"]) for row in rows}
    return held


async def _erase_unsealed_values(
    conn: Connection, schema: str, records: set[tuple[str, str]], stores: Mapping[str, str]
) -> int:
    """Erase in place the personal values the records' events hold unsealed (events stored
    before sealing existed), in the organisations' stores and the projection's timeline;
    return how many stored events had some."""
    orgs, people = key_columns(records)
    named = "JOIN unnest($1::text[], $2::text[]) AS k(org, person_id)"
    erased = 0
    for org, store in stores.items():
        rows = await conn.fetch(
            f"SELECT e.event_id, e.type, e.schema_version AS version, e.data"  # noqa: S608 - schema name is checked
            f" FROM {store}.events e {named} ON e.org = k.org AND e.subject = k.person_id"
            " WHERE e.org = $3",
            orgs,
            people,
            org,
        )
        erased += await _erased_in_place(
            conn,
            rows,
            f"UPDATE {store}.events SET data = $2 WHERE event_id = $1",  # noqa: S608 - schema name is checked
        )
    s = checked_schema(schema)
    rows = await conn.fetch(
        "SELECT t.event_id, t.org, t.type, (t.envelope->>'schema_version')::int AS version,"  # noqa: S608 - schema name is checked
        f" t.envelope->'data' AS data FROM {s}.timeline t {named}"
        " ON t.org = k.org AND t.subject = k.person_id",
        orgs,
        people,
    )
    await _erased_in_place(
        conn,
        rows,
        f"UPDATE {s}.timeline SET envelope = jsonb_set(envelope, '{{data}}', $2::jsonb)"  # noqa: S608 - schema name is checked
        " WHERE event_id = $1 AND org = $3",
    )
    return erased


async def _erased_in_place(conn: Connection, rows: Sequence[Record], update: str) -> int:
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


async def _refold_without_them(
    conn: Connection, model: ReadModel, citizens: set[UUID], keys: PersonKeys
) -> None:
    """Fold again, from their remaining records, the other citizens an erased record was
    linked to (a steward kept it apart); drop those left with none."""
    remaining = {c for c in citizens if await model.records_of(conn, c)}
    if citizens - remaining:
        await conn.execute(
            f"DELETE FROM {model.schema}.citizens WHERE citizen_id = ANY($1::uuid[])",  # noqa: S608 - schema name is checked
            list(citizens - remaining),
        )
    views = await refolded_views(conn, model, remaining, fold, keys)
    await model.save_views(conn, list(views.values()))


async def _erase_unsafe_correlation_ids(
    conn: Connection, schema: str, records: set[tuple[str, str]], stores: Mapping[str, str]
) -> None:
    """Replace, in the records' events, correlation ids a caller chose before only a safe
    shape was taken (they may name the person)."""
    orgs, people = key_columns(records)
    named = "unnest($2::text[], $3::text[]) AS k(org, person_id)"
    for org, store in stores.items():
        await conn.execute(
            f"UPDATE {store}.events e SET correlation_id = $1 FROM {named}"  # noqa: S608 - schema name is checked
            " WHERE e.org = k.org AND e.subject = k.person_id AND e.org = $4"
            f" AND e.correlation_id {_UNSAFE}",
            ERASED_CORRELATION_ID, orgs, people, org,
        )  # fmt: skip
    await conn.execute(
        f"UPDATE {checked_schema(schema)}.timeline t SET envelope = jsonb_set(t.envelope,"  # noqa: S608 - schema name is checked
        f" '{{correlation_id}}', to_jsonb($1::text)) FROM {named}"
        " WHERE t.org = k.org AND t.subject = k.person_id"
        f" AND t.envelope->>'correlation_id' {_UNSAFE}",
        ERASED_CORRELATION_ID, orgs, people,
    )  # fmt: skip


async def _shred_grant_reasons(
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


async def _audit_under_erasure_id(
    conn: Connection, schema: str, citizen_id: UUID, erasure_id: UUID
) -> None:
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


async def _purge_projection(
    conn: Connection, schema: str, citizen_id: UUID, records: set[tuple[str, str]]
) -> None:
    s = checked_schema(schema)
    d = decisions_schema_of(schema)
    orgs, people = key_columns(records)
    named = "unnest($1::text[], $2::text[]) AS k(org, person_id)"
    decided = await conn.fetch(
        f"""SELECT DISTINCT q.event_id FROM {d}.decision_pairs q JOIN {named}
        ON (q.a_org, q.a_person) = (k.org, k.person_id)
        OR (q.b_org, q.b_person) = (k.org, k.person_id)""",  # noqa: S608 - schema name is checked
        orgs,
        people,
    )
    one = "(x.org, x.person_id) = (k.org, k.person_id)"
    a_side = "(x.a_org, x.a_person) = (k.org, k.person_id)"
    either = f"{a_side} OR {a_side.replace('x.a_', 'x.b_')}"
    for table, matching in (
        (f"{d}.decision_pairs", either),
        (f"{s}.match_pairs", either),
        (f"{s}.blocking_keys", one),
        (f"{s}.registrations", one),
        (f"{s}.person_links", one),
    ):
        await conn.execute(
            f"DELETE FROM {table} x USING {named} WHERE {matching}",  # noqa: S608 - schema names are checked
            orgs,
            people,
        )
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
    await conn.execute(f"DELETE FROM {s}.citizens WHERE citizen_id = $1", citizen_id)  # noqa: S608 - schema name is checked
