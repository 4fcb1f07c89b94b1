"""`caseweave audit export`: the access log as JSON lines, for information governance.

Each line is one read of a citizen's data (who, organisation and role, which citizen, what
kinds of information, why, when, break-glass or not), oldest first, with its `position`:
`--after POSITION` continues an earlier export where it stopped.
"""

import json
import sys
from typing import TextIO

from services.projection.access_log import AccessLog, audit_schema_of
from services.projection.bootstrap import prepare_read_model
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
