"""`caseweave audit export` and `caseweave audit alerts`: JSON lines for information governance.

`export`: each line is one read of a citizen's data (who, organisation and role, which
citizen, what kinds of information, why, when, break-glass or not), oldest first, with its
`position`: `--after POSITION` continues an earlier export where it stopped.
`alerts`: each line is one alert event (`access.break_glass_granted`, in its envelope),
oldest first: `--after TIME` (the last line's `occurred_at`) continues an earlier one; the
reasons are opened with the person keys (an erased person's read `{"$erased": true}`).
Both are reads of people's data: each batch is in the access log of every citizen it names
(by `requested_by`, default the operating system user) before it is written. An export of
the access log covers what was logged before it started: its own entries go to the next
one, and do not log again.
"""

import json
import sys
from datetime import datetime, timedelta
from typing import TextIO
from uuid import UUID

from events.governance import BREAK_GLASS_CATEGORY
from services.projection.adapters.access_log import (
    AccessLog,
    audit_schema_of,
    new_run,
    operator_of,
    operator_reads,
)
from services.projection.adapters.break_glass import BreakGlass
from services.projection.adapters.read_model_schema import prepare_read_model
from services.runtime.database import create_pool
from services.runtime.person_keys import PersonKeys

BATCH = 5_000


async def export_access_log(
    database_url: str,
    *,
    after: int = 0,
    out: TextIO = sys.stdout,
    schema: str = "projection",
    requested_by: str | None = None,
) -> int:
    """Write every read after position `after` to `out`, one JSON object a line; return how many."""
    operator, run = operator_of(requested_by), new_run()
    pool = await create_pool(database_url, max_size=2)
    try:
        await prepare_read_model(pool, schema)
        log = AccessLog(pool, schema=audit_schema_of(schema))
        upto = await log.last_position()  # this export's own entries go to the next one
        written = 0
        while batch := await log.since(after, limit=BATCH, upto=upto):
            named = {a.citizen_id for _, a in batch if a.read_kind != "access_log_export"}
            await log.record(
                operator_reads(
                    [(citizen, []) for citizen in sorted(named)], operator=operator,
                    kind="access_log_export", purpose="audit", run=run,
                )
            )  # fmt: skip
            for position, access in batch:
                out.write(json.dumps({"position": position, **access.model_dump(mode="json")}))
                out.write("\n")
            written += len(batch)
            after = batch[-1][0]
        return written
    finally:
        await pool.close()


async def export_alerts(
    database_url: str,
    *,
    after: datetime | None = None,
    out: TextIO = sys.stdout,
    schema: str = "projection",
    keys: PersonKeys | None = None,
    requested_by: str | None = None,
) -> int:
    """Write every alert event after `after` to `out`, one envelope a line; return how many."""
    operator, run = operator_of(requested_by), new_run()
    pool = await create_pool(database_url, max_size=2)
    try:
        await prepare_read_model(pool, schema)
        audit = audit_schema_of(schema)
        glass = BreakGlass(pool, schema=audit, read_model=schema, lasts=timedelta(0), keys=keys)
        log = AccessLog(pool, schema=audit)
        written = 0
        since = None if after is None else (after, UUID(int=(1 << 128) - 1))
        while batch := await glass.alerts(after=since, limit=BATCH):
            named = sorted({UUID(event.data["citizen_id"]) for event in batch})
            await log.record(
                operator_reads(
                    [(citizen, [BREAK_GLASS_CATEGORY]) for citizen in named], operator=operator,
                    kind="break_glass_alerts", purpose="audit", run=run,
                )
            )  # fmt: skip
            for event in batch:
                out.write(event.model_dump_json())
                out.write("\n")
            written += len(batch)
            since = (batch[-1].occurred_at, batch[-1].event_id)
        return written
    finally:
        await pool.close()
