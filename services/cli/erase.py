"""`caseweave erase --citizen ID --yes`: the right to erasure, by crypto-shredding; and
`caseweave erase --again --yes` after restoring a backup of the keys.

See `services/projection/service_layer/erasure.py` for what goes and what stays.
"""

import sys
from uuid import UUID

from services.cli.service_runner import projection_sources
from services.projection.adapters.read_model_schema import prepare_read_model
from services.projection.service_layer.erasure import erase_citizen
from services.runtime.database import create_pool
from services.runtime.dev_secrets import person_keys
from services.runtime.settings import Settings


async def erase(settings: Settings, database_url: str, citizen_id: UUID | None) -> int:
    """Erase the citizen (or, given none, every erasure listed again); print what was done
    (exit 0) or that there is no such citizen (exit 1)."""
    keys = person_keys(settings)
    pool = await create_pool(database_url, max_size=2)
    try:
        await prepare_read_model(pool, "projection")
        async with pool.acquire() as conn:
            await keys.verify(conn)
            if citizen_id is None:
                again = await keys.erase_again(conn)
                print(f"shredded again the keys of {again} erased record(s)", file=sys.stderr)
                return 0
        schemas = projection_sources(settings)
        erased = await erase_citizen(pool, citizen_id, keys=keys, org_schemas=schemas)
    finally:
        await pool.close()
    if erased is None:
        print(f"no citizen {citizen_id}", file=sys.stderr)
        return 1
    print(
        f"erased citizen {citizen_id}: {erased.records} record(s) shredded"
        f" (erasure {erased.erasure_id})",
        file=sys.stderr,
    )
    return 0
