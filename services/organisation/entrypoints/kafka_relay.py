"""In Kafka mode, the service publishes its own log to its topic with the outbox relay."""

import asyncio
import contextlib
from collections.abc import AsyncIterator

from events.envelope import OrgId
from services.runtime.consumer_lag import LogLag, log_lag_sampler
from services.runtime.database import Pool
from services.runtime.event_log import PostgresEventLog
from services.runtime.kafka.publisher import KafkaPublisher
from services.runtime.kafka.relay import CONSUMER, OutboxRelay
from services.runtime.metrics import sampled_on_scrape, set_relay_lag
from services.runtime.subscription import keep_running

RESTART_DELAY_SECONDS = 5.0  # a broker that is down is retried at this pace
STOP_GRACE_SECONDS = 10.0


@contextlib.asynccontextmanager
async def kafka_relay_running(
    pool: Pool, *, org: OrgId, schema: str, bootstrap_servers: str | None
) -> AsyncIterator[OutboxRelay | None]:
    """Relay `org`'s log to Kafka in the background while the block runs (if Kafka is set)."""
    if bootstrap_servers is None:
        yield None
        return
    publisher = KafkaPublisher(bootstrap_servers, client_id=f"caseweave-{org}-relay")
    await publisher.start()
    relay = OutboxRelay(pool, publisher, org=org, schema=schema)
    await relay.start()  # refuses to run without its topic: `caseweave kafka topics create`
    log = PostgresEventLog(pool, source=org, schema=schema)
    stop = asyncio.Event()
    task = asyncio.create_task(
        keep_running(relay, [log], stop, name="kafka_relay", restart_delay=RESTART_DELAY_SECONDS)
    )
    lag = LogLag(pool, schema=schema, consumer=CONSUMER, logs={org: schema})
    try:
        with sampled_on_scrape(log_lag_sampler(lag, lambda _, n: set_relay_lag(org, n))):
            yield relay
    finally:
        stop.set()
        with contextlib.suppress(TimeoutError):  # an unfinished batch is re-sent next time
            await asyncio.wait_for(task, STOP_GRACE_SECONDS)
        await log.close()
        await publisher.stop()
