"""The referral inbox: a consumer of the other organisations' logs, running beside the HTTP API.

Per batch, one transaction: lock this consumer's checkpoint in the source log, read the events
after it, take in each referral step for this organisation (a referral made to it or
withdrawn from it, an answer to one it made; one this release cannot read is parked in
`parked_events`, for `caseweave dead-letters`), save the checkpoint, commit.
"""

import asyncio
import contextlib
from collections.abc import AsyncIterator, Mapping
from datetime import UTC, datetime

import structlog

from events.envelope import Envelope, OrgId
from services.organisation.adapters.postgres_unit_of_work import PostgresUnitOfWork, Stores
from services.organisation.service_layer.inbox import REFERRAL_MADE, is_for, take_in
from services.runtime.checkpoints import Checkpoints
from services.runtime.consumer_lag import LogLag, log_lag_sampler
from services.runtime.database import Pool
from services.runtime.event_log import EventLog, PostgresEventLog
from services.runtime.metrics import Sampler, sampled_on_scrape, set_consumer_lag
from services.runtime.parked_events import ParkedEvents
from services.runtime.subscription import BatchConsumer, keep_running

logger = structlog.get_logger("caseweave.organisation.referral_inbox")
CONSUMER = "referral_inbox"
RESTART_DELAY_SECONDS = 1.0
STOP_GRACE_SECONDS = 10.0


class ReferralInbox:
    """Receives referrals made to this organisation, exactly once (a BatchConsumer)."""

    def __init__(
        self,
        pool: Pool,
        stores: Stores,
        *,
        schema: str,
        consumer: str = CONSUMER,
        batch_size: int = 100,
    ) -> None:
        self._pool = pool
        self._stores = stores
        self._batch_size = batch_size
        self.checkpoints = Checkpoints(schema, consumer=consumer)
        self.parked = ParkedEvents(schema, consumer=f"{stores.org}_{consumer}")

    async def handle_next_batch(self, log: EventLog) -> int:
        """Receive the referrals after the checkpoint in `log`; return how many events it read."""
        async with PostgresUnitOfWork(self._pool, self._stores) as uow:
            after = await self.checkpoints.lock(uow.connection, log.source)
            batch = await log.read_after(after, limit=self._batch_size)
            received = [
                await self._take_in(uow, event.envelope)
                for event in batch
                if is_for(event.envelope, self._stores.org)
            ]
            if batch:
                await self.checkpoints.save(uow.connection, log.source, batch[-1].position)
            await uow.commit()
        for source in filter(None, received):
            logger.info(
                "referral_received" if source.type == REFERRAL_MADE else "referral_step_taken_in",
                org=self._stores.org,
                from_log=log.source,
                event_type=source.type,
                causation_id=str(source.event_id),
            )
        return len(batch)

    async def _take_in(self, uow: PostgresUnitOfWork, source: Envelope) -> Envelope | None:
        """Take in a referral step; park one this release cannot read (the log goes on)."""
        now = datetime.now(UTC)
        why = await take_in(uow, source=source, received_at=now)
        if why is not None:
            await self.parked.park(uow.connection, [(source, why)])
            return None
        return source


async def keep_inbox_running(
    inbox: BatchConsumer,
    logs: list[EventLog],
    stop: asyncio.Event,
    *,
    restart_delay: float = RESTART_DELAY_SECONDS,
) -> None:
    """Run the inbox until `stop` is set, starting it again after an unexpected failure."""
    await keep_running(inbox, logs, stop, name="referral_inbox", restart_delay=restart_delay)


@contextlib.asynccontextmanager
async def referral_inbox_running(
    pool: Pool, stores: Stores, *, schemas: Mapping[OrgId, str]
) -> AsyncIterator[tuple[ReferralInbox, list[EventLog]]]:
    """Run the inbox over the other organisations' logs in the background while the block runs."""
    inbox = ReferralInbox(pool, stores, schema=schemas[stores.org])
    sources = [
        PostgresEventLog(pool, source=org, schema=schema)
        for org, schema in schemas.items()
        if org != stores.org
    ]
    logs: list[EventLog] = list(sources)
    stop = asyncio.Event()
    task = asyncio.create_task(keep_inbox_running(inbox, logs, stop), name=f"{stores.org}-inbox")
    try:
        with sampled_on_scrape(_lag_sampler(pool, inbox, stores.org, schemas)):
            yield inbox, logs
    finally:
        stop.set()
        with contextlib.suppress(
            TimeoutError
        ):  # a long catch-up is cancelled: its batch rolls back
            await asyncio.wait_for(task, STOP_GRACE_SECONDS)
        for source in sources:
            await source.close()


def _lag_sampler(
    pool: Pool, inbox: ReferralInbox, org: OrgId, schemas: Mapping[OrgId, str]
) -> Sampler:
    """Return the sampler of the inbox's lag in each other organisation's log."""
    consumer = inbox.checkpoints.consumer
    lag = LogLag(
        pool,
        schema=schemas[org],
        consumer=consumer,
        logs={source: schema for source, schema in schemas.items() if source != org},
    )
    return log_lag_sampler(lag, lambda source, n: set_consumer_lag(f"{org}_{consumer}", source, n))
