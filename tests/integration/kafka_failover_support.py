"""What the Kafka failover tests run and read: housing's outbox relay wired as the housing
service wires it, a steady write load, and what reached the topic and the single view."""

import asyncio
import contextlib
import dataclasses
import inspect
import time
from collections.abc import AsyncIterator, Callable, Mapping, Sequence
from typing import Any
from uuid import UUID

from aiokafka import AIOKafkaConsumer, TopicPartition
from prometheus_client import REGISTRY

from events.envelope import Envelope, OrgId
from services.projection.adapters.read_model_schema import prepare_read_model
from services.runtime.consumer_lag import LogLag, log_lag_sampler
from services.runtime.database import Pool
from services.runtime.event_log import PostgresEventLog
from services.runtime.kafka.admin import describe
from services.runtime.kafka.messages import envelope_from_value, message_from_envelope
from services.runtime.kafka.publisher import KafkaPublisher
from services.runtime.kafka.relay import CONSUMER as RELAY
from services.runtime.kafka.relay import OutboxRelay
from services.runtime.kafka.topics import TopicSpec, events_topic, wanted_topics
from services.runtime.metrics import sampled_on_scrape, set_relay_lag
from services.runtime.settings import Settings
from services.runtime.subscription import keep_running
from tests.integration.projection.conftest import Organisations
from tests.integration.projection.kafka_projection_fixtures import KafkaTopics
from tests.real_kafka import RealKafka

Logs = Mapping[OrgId, Sequence[Envelope]]
RELAY_RESTART_SECONDS = 5.0  # as the organisation services run their relay


def production_shaped(names: Sequence[str]) -> list[TopicSpec]:
    """Return topics called `names`, shaped as `caseweave kafka topics create` makes them."""
    [shape, *_] = wanted_topics(Settings())
    return [dataclasses.replace(shape, name=name) for name in names]


@contextlib.asynccontextmanager
async def relay_running(
    orgs: Organisations, topics: KafkaTopics, **options: Any
) -> AsyncIterator[None]:
    """Run housing's outbox relay onto its topic while the block runs, as the housing service
    does (`kafka_relay_running`: restarted after a failure, its lag sampled for /metrics)."""
    schema, org = orgs.sources["housing"], "housing"
    publisher = KafkaPublisher(topics.kafka.bootstrap_servers, client_id="caseweave-housing-relay")
    await publisher.start()
    relay = OutboxRelay(
        orgs.pool, publisher, org=org, schema=schema, topic=topics.topic_of[org], **options
    )
    log = PostgresEventLog(orgs.pool, source=org, schema=schema)
    stop = asyncio.Event()
    running = asyncio.create_task(
        keep_running(relay, [log], stop, name="kafka_relay", restart_delay=RELAY_RESTART_SECONDS)
    )
    lag = LogLag(orgs.pool, schema=schema, consumer=RELAY, logs={org: schema})
    try:
        with sampled_on_scrape(log_lag_sampler(lag, lambda _, n: set_relay_lag(org, n))):
            yield
    finally:
        stop.set()
        await asyncio.wait_for(running, 30)
        await log.close()
        await asyncio.wait_for(publisher.stop(), 30)


def published(org: OrgId = "housing") -> int:
    """Return how many events relays of `org` in this process have published (the metric)."""
    value = REGISTRY.get_sample_value("caseweave_relay_published_total", {"org": org})
    return int(value or 0)


@contextlib.asynccontextmanager
async def write_load(
    orgs: Organisations, events: Sequence[Envelope], *, per_second: int
) -> AsyncIterator[list[Envelope]]:
    """Append `events` to housing's log, a few every 0.1 s, while the block runs; yield the
    list of those appended so far (complete once the block has ended)."""
    appended: list[Envelope] = []
    chunk = max(1, per_second // 10)
    stop = asyncio.Event()

    async def write() -> None:
        for first in range(0, len(events), chunk):
            await orgs.record_logs({"housing": events[first : first + chunk]})
            appended.extend(events[first : first + chunk])
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), 0.1)
            if stop.is_set():
                return

    writing = asyncio.create_task(write())
    try:
        yield appended
    finally:
        stop.set()  # not cancelled: an append cut short could commit without being counted
        await writing


async def publish_to_organisation_topics(kafka: RealKafka, logs: Logs) -> None:
    """Publish each organisation's log to its own production topic, as its relay would."""
    publisher = KafkaPublisher(kafka.bootstrap_servers, client_id="failover-test-producer")
    await publisher.start()
    try:
        for org, events in logs.items():
            await publisher.publish(events_topic(org), [message_from_envelope(e) for e in events])
    finally:
        await publisher.stop()


async def until(condition: Callable[[], Any], *, within: float, what: str) -> None:
    """Wait until `condition()` (awaited if need be) is true, polling; fail after `within` s."""
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        found = condition()
        if inspect.isawaitable(found):
            found = await found
        if found:
            return
        await asyncio.sleep(0.02)
    raise AssertionError(f"timed out after {within} s waiting for {what}")


async def until_in_view(orgs: Organisations, events: int, *, within: float) -> None:
    """Wait until the projection's timeline holds `events` events."""

    async def there() -> bool:
        return await timeline_size(orgs.pool, orgs.schema) >= events

    await until(there, within=within, what=f"{events} events in the view")


async def until_applied(orgs: Organisations, messages: int, *, within: float) -> None:
    """Wait until the projection's saved offsets cover `messages` messages."""

    async def there() -> bool:
        return await applied_offsets(orgs.pool, orgs.schema) >= messages

    await until(there, within=within, what=f"{messages} messages applied")


async def timeline_ids(pool: Pool, schema: str) -> list[UUID]:
    """Return the event id of every row of a projection's timeline."""
    rows = await pool.fetch(f"SELECT event_id FROM {schema}.timeline")  # noqa: S608
    return [row["event_id"] for row in rows]


async def timeline_size(pool: Pool, schema: str) -> int:
    """Return how many events a projection's timeline holds."""
    count: int = await pool.fetchval(f"SELECT count(*) FROM {schema}.timeline")  # noqa: S608
    return count


async def applied_offsets(pool: Pool, schema: str) -> int:
    """Return how many messages a projection's saved offsets say it applied."""
    total = await pool.fetchval(
        f"SELECT coalesce(sum(next_offset), 0) FROM {schema}.kafka_offsets"  # noqa: S608
    )
    return int(total)


async def views(pool: Pool, schema: str) -> dict[str, Any]:
    """Return every citizen's view in a projection schema."""
    rows = await pool.fetch(f"SELECT citizen_id, view FROM {schema}.citizens")  # noqa: S608
    return {str(row["citizen_id"]): row["view"] for row in rows}


async def rebuilt_views(orgs: Organisations, unique_schema: Callable[[str], str]) -> Any:
    """Return the views a clean rebuild from the organisations' logs (embedded mode) shows."""
    schema = unique_schema("ref")
    await prepare_read_model(orgs.pool, schema)
    await orgs.catch_up(orgs.consumer(schema))
    return await views(orgs.pool, schema)


def size(logs: Logs) -> int:
    """Return how many events the logs hold."""
    return sum(len(events) for events in logs.values())


def every_event(logs: Logs) -> list[Envelope]:
    """Return the events of every log."""
    return [event for events in logs.values() for event in events]


def assert_exactly_once(found: Sequence[UUID], sent: Sequence[Envelope]) -> None:
    """Every event sent is in `found`, and nothing else, and nothing twice."""
    assert len(found) == len(set(found)), f"{len(found) - len(set(found))} events twice"
    missing = {e.event_id for e in sent} - set(found)
    assert not missing, f"{len(missing)} of {len(sent)} events lost"
    assert len(found) == len(sent), f"{len(found) - len(sent)} events never sent"


async def topic_event_ids(kafka: RealKafka, topic: str) -> list[UUID]:
    """Read a topic from its start to its end now; return the event id of every message."""
    [found] = (await describe(kafka.bootstrap_servers, [topic])).values()
    partitions = [TopicPartition(topic, p.partition) for p in found.partitions]
    consumer = AIOKafkaConsumer(bootstrap_servers=kafka.bootstrap_servers)
    await consumer.start()
    try:
        consumer.assign(partitions)
        await consumer.seek_to_beginning(*partitions)
        ends = await consumer.end_offsets(partitions)
        ids: list[UUID] = []
        async with asyncio.timeout(60):
            while any([await consumer.position(tp) < ends[tp] for tp in partitions]):
                batches = await consumer.getmany(timeout_ms=500)
                ids += [envelope_from_value(r.value).event_id for b in batches.values() for r in b]
        return ids
    finally:
        await consumer.stop()
