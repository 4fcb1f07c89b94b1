"""A process that starts (and migrates the read model) while another is mid-batch waits.

It must never deadlock with it: `CREATE INDEX IF NOT EXISTS` locks its table even when the
index exists. Seen when a second projection worker joined a running one; now it matters
when the first process of a release migrates a database its predecessor's workers write.
"""

import asyncio
import uuid
from collections.abc import Callable

from services.projection.adapters.read_model_schema import prepare_read_model, read_model_ddl
from services.runtime.database import Pool, apply_ddl


async def test_migrating_the_read_model_waits_for_a_batch_in_flight_without_deadlock(
    pool: Pool, unique_schema: Callable[[str], str]
) -> None:
    """The baseline takes a lock on every table in one transaction; it gives way to the
    batch (which finishes) rather than hold one table the batch needs while it waits."""
    schema = unique_schema("proj")
    await apply_ddl(pool, lock_name=schema, statements=read_model_ddl(schema))  # older release
    async with pool.acquire() as batch:
        in_flight = batch.transaction()
        await in_flight.start()
        await batch.execute(
            f"INSERT INTO {schema}.timeline"  # noqa: S608 - test schema
            " (event_id, org, subject, occurred_at, recorded_at, type, category, envelope)"
            " VALUES ($1, 'housing', 's', now(), now(), 't', 'c', '{}')",
            uuid.uuid4(),
        )
        starting = asyncio.create_task(prepare_read_model(pool, schema))
        await asyncio.sleep(0.5)  # the newcomer now waits for the timeline
        await asyncio.wait_for(
            batch.execute(
                f"INSERT INTO {schema}.citizens (citizen_id, view) VALUES ($1, '{{}}')",  # noqa: S608
                uuid.uuid4(),
            ),
            5,
        )
        await in_flight.commit()
    await asyncio.wait_for(starting, 30)
