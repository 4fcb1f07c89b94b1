"""The outbox relay in Kafka mode: publish one organisation's whole log to a topic.

`catch_up(OutboxRelay, [PostgresEventLog])` with a started `KafkaPublisher` (idempotent,
acks=all), against a real Apache Kafka on localhost (`caseweave kafka local`'s cluster: one
node, then three with every partition on all three and 2 in sync required), as the relay
process does after a fresh start: read a batch, send it, wait for every acknowledgement, move
the checkpoint. Run with the relay's default batch size and with a larger one; each run
publishes to its own new topic of 6 partitions from an empty checkpoint, and is checked
afterwards by summing the topic's end offsets.
"""

import time
import uuid
from typing import TYPE_CHECKING

from aiokafka import AIOKafkaConsumer, TopicPartition

from bench import payloads
from bench.event_store import append_batched, until_readable
from bench.figures import Run
from bench.kafka_cluster import KAFKA_BROKERS, cluster_name, real_kafka
from bench.part import BenchContext, Measurement, SizeOption
from bench.read_model import quiet_logs
from bench.sizes import EVENTS_PER_STREAM
from bench.timing import per_second, settle
from services.runtime.checkpoints import checkpoints_ddl
from services.runtime.database import Pool, apply_ddl, create_pool
from services.runtime.event_log import PostgresEventLog
from services.runtime.event_store_schema import checked_schema
from services.runtime.kafka.publisher import KafkaPublisher
from services.runtime.kafka.relay import BATCH_SIZE, OutboxRelay
from services.runtime.subscription import catch_up

if TYPE_CHECKING:
    from tests.real_kafka import RealKafka

RELAY_EVENTS = SizeOption("relay_events", 100_000, "events the relay part publishes to Kafka")
RELAY_BATCH = SizeOption(
    "relay_batch", 2_000, "the larger relay batch tried beside the default (500)"
)
_SCHEMA = "relay_log"
_PARTITIONS = 6
_SEED_BATCH = 1_000


async def run(ctx: BenchContext) -> list[Measurement]:
    """Measure the relay publishing a seeded log to Kafka, at two batch sizes, in events/s."""
    batches = sorted({BATCH_SIZE, ctx.size(RELAY_BATCH.name)})  # one run if they are equal
    with quiet_logs():
        pool = await create_pool(ctx.ours_url, max_size=2)
        try:
            seeded = await _seed(
                pool, ctx.size(RELAY_EVENTS.name), ctx.size(EVENTS_PER_STREAM.name)
            )
            runs: dict[tuple[int, int], Run] = {}
            for brokers in KAFKA_BROKERS:
                with real_kafka(brokers=brokers) as kafka:
                    for batch in batches:
                        runs[brokers, batch] = await _publish(pool, kafka, seeded, batch)
        finally:
            await pool.close()
    return [
        Measurement(
            f"relay.{brokers}b.{'default_batch' if batch == BATCH_SIZE else 'other_batch'}",
            f"relay to Kafka ({cluster_name(brokers)}), batch {batch:,}"
            f"{' (default)' if batch == BATCH_SIZE else ''}",
            "events/s", "ours", per_second(run.count, run.seconds),
        )
        for (brokers, batch), run in runs.items()
    ]  # fmt: skip


async def _seed(pool: Pool, events: int, per_stream: int) -> int:
    """Append `events` housing events to a new event store (untimed); wait until readable."""
    stored = await append_batched(
        pool, payloads.in_stream_order(events, per_stream), batch=_SEED_BATCH, schema=_SCHEMA
    )
    await apply_ddl(pool, lock_name=_SCHEMA, statements=[checkpoints_ddl(_SCHEMA)])
    await until_readable(pool, schema=_SCHEMA)
    return stored.count


async def _publish(pool: Pool, kafka: "RealKafka", seeded: int, batch: int) -> Run:
    """Time one relay catch-up from an empty checkpoint to a new topic; check the topic."""
    topic = f"caseweave.bench-{uuid.uuid4().hex[:10]}.events.v1"
    kafka.create_topic(topic, partitions=_PARTITIONS)
    await pool.execute(f"DELETE FROM {checked_schema(_SCHEMA)}.checkpoints")  # noqa: S608 - checked schema name
    publisher = KafkaPublisher(kafka.bootstrap_servers, client_id="caseweave-bench-relay")
    await publisher.start()
    try:
        relay = OutboxRelay(
            pool, publisher, org="housing", schema=_SCHEMA, topic=topic, batch_size=batch
        )
        await relay.start()  # the topic check, once, before the clock
        log = PostgresEventLog(pool, source="housing", schema=_SCHEMA)
        settle()
        start = time.perf_counter()
        published = await catch_up(relay, [log])
        seconds = time.perf_counter() - start
    finally:
        await publisher.stop()
    on_topic = await _messages_on(kafka, topic)
    if published != seeded or on_topic != seeded:
        raise RuntimeError(
            f"the relay (batch {batch}) published {published:,} events and the topic holds"
            f" {on_topic:,} messages, not {seeded:,}"
        )
    return Run(published, seconds)


async def _messages_on(kafka: "RealKafka", topic: str) -> int:
    """Return the messages on `topic`: the sum of its partitions' end offsets."""
    consumer = AIOKafkaConsumer(bootstrap_servers=kafka.bootstrap_servers)
    await consumer.start()
    try:
        partitions = [TopicPartition(topic, p) for p in range(_PARTITIONS)]
        return sum((await consumer.end_offsets(partitions)).values())
    finally:
        await consumer.stop()
