"""Webhooks out, beside the HTTP API: a consumer of the organisation's own log queues the
notices its sources' systems are owed (with its checkpoint, in one transaction), and a
sender delivers what is due every second (`service_layer/outbound.py`).

Runs only where some source of the organisation has an endpoint. The first time it runs it
starts at the log's head: a charity's system is told of what happens from then on, not of
every referral the organisation ever had.
"""

import asyncio
import contextlib
from collections.abc import AsyncIterator, Mapping
from datetime import UTC, datetime
from functools import partial
from typing import Any

import structlog

from services.organisation.adapters.postgres_unit_of_work import PostgresUnitOfWork, Stores
from services.organisation.adapters.webhook_sender import WebhookSender
from services.organisation.domain.inbound_mapping import Source
from services.organisation.service_layer.outbound import (
    RetryPolicy,
    deliver_due,
    queue_notices,
)
from services.runtime.checkpoints import Checkpoints
from services.runtime.consumer_lag import LogLag, log_lag_sampler
from services.runtime.database import Pool
from services.runtime.event_log import EventLog, PostgresEventLog
from services.runtime.metrics import sampled_on_scrape, set_consumer_lag
from services.runtime.subscription import keep_running

logger = structlog.get_logger("caseweave.organisation.webhooks_out")
CONSUMER = "webhooks_out"
STOP_GRACE_SECONDS = 10.0


class NoticeQueuer:
    """Queues the notices the organisation's log owes its sources (a BatchConsumer)."""

    def __init__(
        self, pool: Pool, stores: Stores, sources: Mapping[str, Source], *, schema: str
    ) -> None:
        self._pool, self._stores, self._sources = pool, stores, sources
        self.checkpoints = Checkpoints(schema, consumer=CONSUMER)

    async def handle_next_batch(self, log: EventLog) -> int:
        """Queue the notices of the events after the checkpoint; return how many it read."""
        async with PostgresUnitOfWork(self._pool, self._stores) as uow:
            after = await self.checkpoints.lock(uow.connection, log.source)
            batch = await log.read_after(after, limit=500)
            if not batch:
                return 0
            queued = await queue_notices(
                uow, [event.envelope for event in batch], self._sources.values()
            )
            await self.checkpoints.save(uow.connection, log.source, batch[-1].position)
            await uow.commit()
        if queued:
            logger.info("webhooks_queued", deliveries=queued)
        return len(batch)


async def _keep_sending(
    pool: Pool,
    stores: Stores,
    sources: Mapping[str, Source],
    sender: WebhookSender,
    stop: asyncio.Event,
    *,
    every: float,
    policy: RetryPolicy,
) -> None:
    async def send(source: Source, message_id: str, notice: dict[str, Any]) -> str | None:
        assert source.endpoint is not None  # deliver_due sends to endpoints only
        sent = await sender.send(
            source.endpoint, message_id=message_id, notice=notice, secrets=source.secrets
        )
        return None if sent.taken else sent.why

    while not stop.is_set():
        try:
            attempted = await deliver_due(
                partial(PostgresUnitOfWork, pool, stores),
                sources=dict(sources), send=send, now=datetime.now(UTC), policy=policy,
            )  # fmt: skip
            if attempted.delivered or attempted.retrying or attempted.parked:
                logger.info("webhooks_sent", **attempted.__dict__)
        except Exception as error:  # the database away: try again next round
            logger.warning("webhooks_round_failed", error_type=type(error).__name__)
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), every)


@contextlib.asynccontextmanager
async def webhooks_sending(
    pool: Pool,
    stores: Stores,
    sources: Mapping[str, Source],
    *,
    schema: str,
    every: float = 1.0,
    policy: RetryPolicy = RetryPolicy(),  # noqa: B008 - frozen, never mutated
) -> AsyncIterator[None]:
    """Queue and deliver webhooks out in the background while the block runs (nothing, when
    no source of the organisation has an endpoint)."""
    if not any(source.endpoint for source in sources.values()):
        yield
        return
    log = PostgresEventLog(pool, source=stores.org, schema=schema)
    stop = asyncio.Event()
    sender = WebhookSender()
    queuer = NoticeQueuer(pool, stores, sources, schema=schema)
    async with pool.acquire() as conn:  # the first time: from now on, not the whole past
        if await queuer.checkpoints.start_at(conn, stores.org, await log.head()):
            logger.info("webhooks_out_started_at_the_log_head")
    tasks = [
        asyncio.create_task(keep_running(queuer, [log], stop, name=CONSUMER)),
        asyncio.create_task(
            _keep_sending(pool, stores, sources, sender, stop, every=every, policy=policy)
        ),
    ]
    lag = LogLag(pool, schema=schema, consumer=CONSUMER, logs={stores.org: schema})
    sampler = log_lag_sampler(
        lag, lambda source, n: set_consumer_lag(f"{stores.org}_{CONSUMER}", source, n)
    )
    try:
        with sampled_on_scrape(sampler):
            yield
    finally:
        stop.set()
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(asyncio.gather(*tasks), STOP_GRACE_SECONDS)
        await sender.close()
        await log.close()
