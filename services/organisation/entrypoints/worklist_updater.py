"""The worklists' consumer: follows the organisation's own log, running beside the HTTP API.

Per batch, one transaction: lock this consumer's checkpoint in the log, read the events after
it, apply the changes they make to the lists (`service_layer/worklists.py`), save the
checkpoint, commit. It starts from the beginning of the log the first time, so lists are
filled for everything recorded before they existed; a batch read again changes nothing.
"""

import asyncio
import contextlib
from collections.abc import AsyncIterator

import structlog

from services.organisation.adapters.postgres_unit_of_work import PostgresUnitOfWork, Stores
from services.organisation.service_layer.worklists import apply_to_worklists
from services.runtime.checkpoints import Checkpoints
from services.runtime.consumer_lag import LogLag, log_lag_sampler
from services.runtime.database import Pool
from services.runtime.event_log import EventLog, PostgresEventLog
from services.runtime.metrics import sampled_on_scrape, set_consumer_lag
from services.runtime.subscription import keep_running

logger = structlog.get_logger("caseweave.organisation.worklists")
CONSUMER = "worklists"
STOP_GRACE_SECONDS = 10.0


class WorklistUpdater:
    """Keeps the organisation's lists in step with its log (a BatchConsumer)."""

    def __init__(self, pool: Pool, stores: Stores, *, schema: str, batch_size: int = 500) -> None:
        self._pool = pool
        self._stores = stores
        self._batch_size = batch_size
        self.checkpoints = Checkpoints(schema, consumer=CONSUMER)

    async def handle_next_batch(self, log: EventLog) -> int:
        """Apply the events after the checkpoint in `log`; return how many it read."""
        async with PostgresUnitOfWork(self._pool, self._stores) as uow:
            after = await self.checkpoints.lock(uow.connection, log.source)
            batch = await log.read_after(after, limit=self._batch_size)
            if not batch:
                return 0
            changed = await apply_to_worklists(uow, [event.envelope for event in batch])
            await self.checkpoints.save(uow.connection, log.source, batch[-1].position)
            await uow.commit()
        logger.debug("worklists_updated", events=len(batch), changed=changed)
        return len(batch)


@contextlib.asynccontextmanager
async def worklists_updating(
    pool: Pool, stores: Stores, *, schema: str
) -> AsyncIterator[tuple[WorklistUpdater, EventLog]]:
    """Keep the lists up to date in the background while the block runs."""
    updater = WorklistUpdater(pool, stores, schema=schema)
    log = PostgresEventLog(pool, source=stores.org, schema=schema)
    stop = asyncio.Event()
    task = asyncio.create_task(
        keep_running(updater, [log], stop, name="worklists"), name=f"{stores.org}-worklists"
    )
    lag = LogLag(pool, schema=schema, consumer=CONSUMER, logs={stores.org: schema})
    sampler = log_lag_sampler(
        lag, lambda source, n: set_consumer_lag(f"{stores.org}_{CONSUMER}", source, n)
    )
    try:
        with sampled_on_scrape(sampler):
            yield updater, log
    finally:
        stop.set()
        with contextlib.suppress(TimeoutError):  # a long catch-up is cancelled: it rolls back
            await asyncio.wait_for(task, STOP_GRACE_SECONDS)
        await log.close()
