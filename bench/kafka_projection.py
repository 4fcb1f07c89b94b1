"""The projection in Kafka mode: the Faust worker consuming three organisations' topics.

The same crowd the `projection` part folds from the PostgreSQL logs is published to three
new topics on a real Apache Kafka (untimed, as the relays would; one node, then three with
every partition on all three), then
`run_kafka_projection_worker` (the Faust app, one worker) is started on an empty read model
and timed until its saved offsets cover every message. Start-up (joining the consumer group,
the first assignment) is inside the time, as it is for a worker an operator starts. The read
model is then checked like the embedded catch-up's: every event once, every citizen.
"""

import asyncio
import time
import uuid
from typing import TYPE_CHECKING

from bench import crowd
from bench.figures import Run
from bench.kafka_cluster import KAFKA_BROKERS, cluster_name, real_kafka
from bench.part import BenchContext, Measurement, SizeOption
from bench.read_model import (
    ID_SECRET,
    KEYS,
    Seeded,
    as_projection_process,
    check_read_model,
    quiet_logs,
)
from bench.timing import per_second, settle
from events.envelope import Envelope, OrgId
from services.projection.adapters.read_model_schema import CONSUMER, prepare_read_model
from services.projection.bootstrap import run_kafka_projection_worker
from services.runtime.database import Pool, create_pool
from services.runtime.kafka.messages import message_from_envelope
from services.runtime.kafka.offsets import KafkaOffsets
from services.runtime.kafka.publisher import KafkaPublisher
from services.runtime.sealing import needs_sealing, record_of, seal

if TYPE_CHECKING:
    from tests.real_kafka import RealKafka

KAFKA_PROJECTION_EVENTS = SizeOption(
    "kafka_projection_events",
    100_000,
    "events on the three organisations' topics the Faust worker consumes (whole people)",
)
_PARTITIONS = 16  # as many as the mock-broker figures before it had, to compare with them


def _read_model(brokers: int) -> str:
    """Return the read model's schema for a run on `brokers` nodes (each starts empty)."""
    return f"kafka_projection_{brokers}b"


_DONE_TIMEOUT_SECONDS = 600.0


async def run(ctx: BenchContext) -> list[Measurement]:
    """Measure the Faust worker consuming a crowd's topics into an empty read model."""
    logs, people = crowd.crowd_of_events(ctx.size(KAFKA_PROJECTION_EVENTS.name))
    seeded = Seeded(crowd.event_count(logs), crowd.citizens_in(people))
    consumed: dict[int, Run] = {}
    for brokers in KAFKA_BROKERS:
        with quiet_logs(), real_kafka(brokers=brokers) as kafka:
            pool = await create_pool(ctx.ours_url, max_size=2)
            try:
                await prepare_read_model(pool, _read_model(brokers))
                topics = await _publish(pool, kafka, logs)
                with as_projection_process():
                    consumed[brokers] = await _consume(
                        ctx.ours_url, pool, kafka, topics, seeded, schema=_read_model(brokers)
                    )
                await check_read_model(pool, _read_model(brokers), seeded)
            finally:
                await pool.close()
    return [
        Measurement(
            f"kafka_projection.{brokers}b.consume",
            f"projection consume from Kafka ({cluster_name(brokers)}; Faust worker)",
            "events/s", "ours", per_second(run.count, run.seconds),
        )
        for brokers, run in consumed.items()
    ]  # fmt: skip


async def _publish(
    pool: Pool, kafka: "RealKafka", logs: crowd.Logs
) -> tuple[dict[str, OrgId], str]:
    """Publish each organisation's log, sealed as its relay would, to a new topic of its
    own; return whose each topic is, and a new dead-letter topic."""
    run = uuid.uuid4().hex[:10]
    topic_orgs: dict[str, OrgId] = {}
    publisher = KafkaPublisher(kafka.bootstrap_servers, client_id="caseweave-bench-seed")
    await publisher.start()
    try:
        for org, events in logs.items():
            topic = f"caseweave.bench-{run}.{org}.events.v1"
            kafka.create_topic(topic, partitions=_PARTITIONS)
            sealed = await _sealed(pool, [e.envelope for e in events])
            await publisher.publish(topic, [message_from_envelope(e) for e in sealed])
            topic_orgs[topic] = org
        dead_letters = f"caseweave.bench-{run}.dead_letter.v1"
        kafka.create_topic(dead_letters, partitions=1)
    finally:
        await publisher.stop()
    return topic_orgs, dead_letters


async def _sealed(pool: Pool, envelopes: list[Envelope]) -> list[Envelope]:
    """Seal the events' personal values with their people's keys, as a service's store does."""
    async with pool.acquire() as conn:
        keys = await KEYS.for_writing(conn, {record_of(e) for e in envelopes if needs_sealing(e)})
    return [seal(e, keys[record_of(e)]) if needs_sealing(e) else e for e in envelopes]


async def _consume(
    url: str,
    pool: Pool,
    kafka: "RealKafka",
    topics: tuple[dict[str, OrgId], str],
    seeded: Seeded,
    *,
    schema: str,
) -> Run:
    topic_orgs, dead_letters = topics
    stop = asyncio.Event()
    settle()
    start = time.perf_counter()
    worker = asyncio.create_task(
        run_kafka_projection_worker(
            database_url=url,
            bootstrap_servers=kafka.bootstrap_servers,
            id_secret=ID_SECRET,
            stop=stop,
            schema=schema,
            topic_orgs=topic_orgs,
            dead_letter_topic=dead_letters,
            group_id=f"caseweave-bench-{uuid.uuid4().hex[:10]}",
            keys=KEYS,
        )
    )
    try:
        await asyncio.wait_for(
            _until_applied(pool, seeded.events, worker, schema=schema), _DONE_TIMEOUT_SECONDS
        )
        seconds = time.perf_counter() - start
    finally:
        stop.set()
        await worker
    return Run(seeded.events, seconds)


async def _until_applied(
    pool: Pool, events: int, worker: "asyncio.Task[None]", *, schema: str
) -> None:
    offsets = KafkaOffsets(schema, consumer=CONSUMER)
    while True:
        if worker.done():
            worker.result()  # raises the worker's failure
            raise RuntimeError("the Kafka projection worker stopped early")
        async with pool.acquire() as conn:
            if sum((await offsets.all(conn)).values()) >= events:
                return
        await asyncio.sleep(0.05)
