"""The quarantined messages of an organisation, as ops list them: read from its event store
(the `inbound.*` events), no personal value opened (the message and why in words are sealed;
`caseweave quarantine show` opens one)."""

from dataclasses import dataclass
from datetime import datetime
from uuid import UUID

from events.inbound import MessageDiscarded, MessageQuarantined, MessageRedriven
from services.runtime.database import Connection
from services.runtime.event_store_schema import checked_schema

_STATUS = {MessageRedriven.event_type: "redriven", MessageDiscarded.event_type: "discarded"}


@dataclass(frozen=True)
class QuarantineRow:
    """A quarantined message: where from, what stopped it, and where it stands."""

    quarantine_id: UUID
    source: str
    message_id: str
    field: str
    rule: str
    quarantined_at: datetime
    status: str  # held, redriven, discarded


async def held_count(conn: Connection, schema: str) -> int:
    """Return how many quarantined messages are held (neither redriven nor discarded)."""
    s = checked_schema(schema)
    if not await conn.fetchval("SELECT to_regclass($1) IS NOT NULL", f"{s}.events"):
        return 0
    held: int = await conn.fetchval(
        f"SELECT count(*) FROM {s}.events q WHERE q.type = $1"  # noqa: S608 - schema name is checked
        f" AND NOT EXISTS (SELECT 1 FROM {s}.events r WHERE r.stream_id = q.stream_id"
        "   AND r.stream_version > 1)",
        MessageQuarantined.event_type,
    )
    return held


async def quarantine_rows(
    conn: Connection, schema: str, *, source: str | None = None, settled_too: bool = False
) -> list[QuarantineRow]:
    """Return the organisation's quarantined messages, oldest first (held ones only, unless
    `settled_too`), of one source if named."""
    s = checked_schema(schema)
    rows = await conn.fetch(
        "SELECT q.data->>'quarantine_id' AS quarantine_id, q.data->>'source' AS source,"  # noqa: S608 - schema name is checked
        " q.data->>'message_id' AS message_id, q.data->>'field' AS field,"
        " q.data->>'rule' AS rule, q.recorded_at,"
        f" (SELECT max(r.type) FROM {s}.events r WHERE r.stream_id = q.stream_id"
        "   AND r.stream_version > 1) AS settled"
        f" FROM {s}.events q WHERE q.type = $1"
        " AND ($2::text IS NULL OR q.data->>'source' = $2)"
        " ORDER BY q.recorded_at, q.event_id",
        MessageQuarantined.event_type,
        source,
    )
    found = [
        QuarantineRow(
            UUID(row["quarantine_id"]), row["source"], row["message_id"], row["field"],
            row["rule"], row["recorded_at"], _STATUS.get(row["settled"] or "", "held"),
        )
        for row in rows
    ]  # fmt: skip
    return found if settled_too else [row for row in found if row.status == "held"]
