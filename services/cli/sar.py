"""`caseweave sar export --citizen ID`: everything held about a person, for subject access.

One JSON document: the single view unfiltered (every organisation's involvement, cases,
flags, referrals, consent decisions and registrations), the whole timeline with each
event as its organisation recorded it, the data stewards' identity decisions naming the
person's records, every read of their data (the access log) and every break-glass grant
that opened their record. Information governance reviews it (third parties' details, such
as staff names or a break-glass reason, may need redacting) before it goes to the person.
The export is a read like any other: it is in the person's access log (who ran it, when,
purpose `subject_access_request`, the kinds of information exported) before it is written.
"""

import json
import sys
from datetime import UTC, datetime, timedelta
from typing import Any, TextIO
from uuid import UUID

import structlog

from events.governance import BREAK_GLASS_CATEGORY
from events.identity import IDENTITY_CATEGORY
from services.projection.adapters.access_log import (
    Access,
    AccessLog,
    audit_schema_of,
    new_run,
    operator_of,
    operator_reads,
)
from services.projection.adapters.break_glass import BreakGlass
from services.projection.adapters.decision_store import DecisionStore, decisions_schema_of
from services.projection.adapters.queries import CitizenQueries, TimelineEvent
from services.projection.adapters.read_model import ReadModel
from services.projection.adapters.read_model_schema import prepare_read_model
from services.runtime.database import Pool, create_pool
from services.runtime.person_keys import PersonKeys

logger = structlog.get_logger(__name__)
PAGE = 1000


async def export_subject_access(
    database_url: str,
    citizen_id: UUID,
    *,
    out: TextIO = sys.stdout,
    schema: str = "projection",
    keys: PersonKeys | None = None,
    requested_by: str | None = None,
) -> dict[str, int] | None:
    """Write everything held about the citizen to `out` as one JSON document, once the
    export is in their access log (by `requested_by`, default the operating system user);
    return how many of each part were written, or None (writing nothing) for an unknown
    citizen."""
    pool = await create_pool(database_url, max_size=2)
    try:
        await prepare_read_model(pool, schema)
        if keys is not None:  # another master key would export nothing personal
            async with pool.acquire() as conn:
                await keys.verify(conn)
        document = await _everything_about(pool, schema, citizen_id, keys)
        if document is not None:
            await _log_the_export(pool, schema, citizen_id, document, operator_of(requested_by))
    finally:
        await pool.close()
    if document is None:
        return None
    json.dump(document, out, indent=2, ensure_ascii=False)
    out.write("\n")
    counts = {part: len(document[part]) for part in _PARTS}
    logger.info("subject_access_exported", citizen_id=str(citizen_id), **counts)
    return counts


_PARTS = ("timeline", "identity_decisions", "access_log", "break_glass")


async def _log_the_export(
    pool: Pool, schema: str, citizen_id: UUID, document: dict[str, Any], operator: str
) -> None:
    """Record the export in the person's access log, with the kinds of information in it."""
    categories = {event["category"] for event in document["timeline"]} | {IDENTITY_CATEGORY}
    if document["break_glass"]:
        categories.add(BREAK_GLASS_CATEGORY)
    reads = operator_reads(
        [(citizen_id, sorted(categories))], operator=operator, kind="subject_access_request",
        purpose="subject_access_request", run=new_run(),
    )  # fmt: skip
    await AccessLog(pool, schema=audit_schema_of(schema)).record(reads)


async def _everything_about(
    pool: Pool, schema: str, citizen_id: UUID, keys: PersonKeys | None
) -> dict[str, Any] | None:
    queries = CitizenQueries(pool, schema=schema, keys=keys)
    view = await queries.citizen_view(citizen_id)
    if view is None:
        return None
    timeline: list[TimelineEvent] = []
    offset = 0
    while (page := await queries.timeline(citizen_id, limit=PAGE, offset=offset)) and (page.events):
        timeline += page.events
        offset += PAGE
    log = AccessLog(pool, schema=audit_schema_of(schema))
    accesses: list[Access] = []
    while batch := await log.of_citizen(citizen_id, limit=PAGE, offset=len(accesses)):
        accesses += batch
    glass = BreakGlass(
        pool, schema=audit_schema_of(schema), read_model=schema, lasts=timedelta(0), keys=keys
    )
    async with pool.acquire() as conn:
        records = await ReadModel(conn, schema).records_of(citizen_id)
        decisions = await DecisionStore(conn, decisions_schema_of(schema)).naming(records)
    return {
        "subject_access_request": {
            "citizen_id": str(citizen_id),
            "generated_at": datetime.now(UTC).isoformat(),
            "records": [{"org": org, "person_id": person_id} for org, person_id in sorted(records)],
        },
        "single_view": view.model_dump(mode="json"),
        "timeline": [event.model_dump(mode="json") for event in timeline],
        "identity_decisions": [envelope.model_dump(mode="json") for envelope in decisions],
        "access_log": [access.model_dump(mode="json") for access in accesses[::-1]],
        "break_glass": [g.model_dump(mode="json") for g in await glass.of_citizen(citizen_id)],
    }
