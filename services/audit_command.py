"""`caseweave audit export` and `caseweave audit alerts`: JSON lines for information governance.

`export`: each line is one read of a citizen's data (who, organisation and role, which
citizen, what kinds of information, why, when, break-glass or not), oldest first, with its
`position`: `--after POSITION` continues an earlier export where it stopped.
`alerts`: each line is one alert event (`access.break_glass_granted`, in its envelope),
oldest first: `--after TIME` (the last line's `occurred_at`) continues an earlier one.
"""

import json
import sys
from datetime import datetime, timedelta
from typing import TextIO
from uuid import UUID

from services.projection.access_log import AccessLog, audit_schema_of
from services.projection.bootstrap import prepare_read_model
from services.projection.break_glass import BreakGlass
from services.runtime.database import create_pool

BATCH = 5_000


async def export_access_log(
    database_url: str, *, after: int = 0, out: TextIO = sys.stdout, schema: str = "projection"
) -> int:
    """Write every read after position `after` to `out`, one JSON object a line; return how many."""
    pool = await create_pool(database_url, max_size=2)
    try:
        await prepare_read_model(pool, schema)
        log = AccessLog(pool, schema=audit_schema_of(schema))
        written = 0
        while batch := await log.since(after, limit=BATCH):
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
) -> int:
    """Write every alert event after `after` to `out`, one envelope a line; return how many."""
    pool = await create_pool(database_url, max_size=2)
    try:
        await prepare_read_model(pool, schema)
        glass = BreakGlass(
            pool, schema=audit_schema_of(schema), read_model=schema, lasts=timedelta(0)
        )
        written = 0
        since = None if after is None else (after, UUID(int=(1 << 128) - 1))
        while batch := await glass.alerts(after=since, limit=BATCH):
            for event in batch:
                out.write(event.model_dump_json())
                out.write("\n")
            written += len(batch)
            since = (batch[-1].occurred_at, batch[-1].event_id)
        return written
    finally:
        await pool.close()
