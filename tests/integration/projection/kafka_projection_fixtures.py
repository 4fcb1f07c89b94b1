"""Organisation topics on the run's Kafka broker, and the Faust projection worker running over them.

Topic names are fixed per organisation in production; each test gets its own set (and its
own dead-letter topic and consumer group) so tests share one broker without seeing each
other's messages.
"""

import asyncio
import contextlib
import uuid
from collections.abc import AsyncIterator, Mapping, Sequence
from dataclasses import dataclass, field

from aiokafka import AIOKafkaConsumer

from events.envelope import Envelope, OrgId
from events.organisations import DEFAULT_ORGANISATIONS
from services.projection.bootstrap import run_kafka_projection_worker
from services.projection.domain.fold import BatchFold, fold
from services.projection.entrypoints.faust_worker import STOP_TIMEOUT_SECONDS
from services.runtime.database import POOL_CLOSE_SECONDS
from services.runtime.kafka.messages import KafkaMessage, message_from_envelope
from services.runtime.kafka.publisher import KafkaPublisher
from tests.integration.projection.conftest import ID_SECRET, Organisations
from tests.real_kafka import RealKafka

PARTITIONS = 3
# Faust's own stop is bounded (STOP_TIMEOUT_SECONDS, 20 s, then its consumer thread is
# ended: up to 10 s more); then the worker closes its producer and pool (at most
# POOL_CLOSE_SECONDS)
WORKER_STOP_SECONDS = STOP_TIMEOUT_SECONDS + 10.0 + POOL_CLOSE_SECONDS + 10.0
# How long a worker that vanished without leaving its group (killed) holds its partitions:
# the broker's least (group.min.session.timeout.ms, 6 s by default)
SESSION_TIMEOUT_SECONDS = 6.0


@dataclass
class KafkaTopics:
    """One test's organisation topics and dead-letter topic, and a producer to fill them."""

    kafka: RealKafka
    publisher: KafkaPublisher
    topic_of: dict[OrgId, str]
    dead_letter_topic: str
    group_id: str
    workers: list[tuple[asyncio.Event, asyncio.Task[None]]] = field(default_factory=list)

    @property
    def topic_orgs(self) -> dict[str, OrgId]:
        """Return whose events each topic carries."""
        return {topic: org for org, topic in self.topic_of.items()}

    async def publish(self, logs: Mapping[OrgId, Sequence[Envelope]]) -> None:
        """Publish each organisation's events to its topic, as the outbox relay does."""
        for org, events in logs.items():
            await self.publisher.publish(
                self.topic_of[org], [message_from_envelope(e) for e in events]
            )

    async def publish_raw(self, org: OrgId, messages: Sequence[KafkaMessage]) -> None:
        """Publish messages as given (poison, for instance) to an organisation's topic."""
        await self.publisher.publish(self.topic_of[org], messages)

    def start_worker(
        self, orgs: Organisations, database_url: str, fold_batch: BatchFold = fold
    ) -> asyncio.Event:
        """Start a Faust projection worker over these topics; return the event that stops it."""
        stop = asyncio.Event()
        task = asyncio.create_task(
            run_kafka_projection_worker(
                database_url=database_url,
                bootstrap_servers=self.kafka.bootstrap_servers,
                id_secret=ID_SECRET,
                stop=stop,
                schema=orgs.schema,
                topic_orgs=self.topic_orgs,
                dead_letter_topic=self.dead_letter_topic,
                group_id=self.group_id,
                fold_batch=fold_batch,
                session_timeout=SESSION_TIMEOUT_SECONDS,
            )
        )
        self.workers.append((stop, task))
        return stop

    async def stop_workers(self) -> None:
        """Stop every worker this test started, and surface any failure of theirs."""
        for stop, _ in self.workers:
            stop.set()
        tasks = [task for _, task in self.workers]
        self.workers = []
        if not tasks:
            return
        done, late = await asyncio.wait(tasks, timeout=WORKER_STOP_SECONDS)
        for task in late:
            task.cancel()
        assert not late, f"{len(late)} worker(s) still running {WORKER_STOP_SECONDS} s after stop"
        for task in done:
            task.result()

    async def dead_letters(self, expected: int) -> list[tuple[bytes, dict[str, bytes]]]:
        """Read `expected` messages from the dead-letter topic: (value, headers)."""
        consumer = AIOKafkaConsumer(
            self.dead_letter_topic,
            bootstrap_servers=self.kafka.bootstrap_servers,
            auto_offset_reset="earliest",
            enable_auto_commit=False,
        )
        await consumer.start()
        found: list[tuple[bytes, dict[str, bytes]]] = []
        try:
            async with asyncio.timeout(10):
                while len(found) < expected:
                    batch = await consumer.getmany(timeout_ms=200)
                    for records in batch.values():
                        found += [(r.value or b"", dict(r.headers)) for r in records]
        finally:
            await consumer.stop()
        return found


@contextlib.asynccontextmanager
async def kafka_topics(kafka: RealKafka) -> AsyncIterator[KafkaTopics]:
    """Fresh organisation topics (3 partitions each) and dead-letter topic on the broker."""
    run = uuid.uuid4().hex[:10]
    topic_of: dict[OrgId, str] = {
        org: f"caseweave.t{run}.{org}.events.v1" for org in DEFAULT_ORGANISATIONS.ids
    }
    dead_letter_topic = f"caseweave.t{run}.dead_letter.v1"
    for name in [*topic_of.values(), dead_letter_topic]:
        kafka.create_topic(name, partitions=PARTITIONS)
    publisher = KafkaPublisher(kafka.bootstrap_servers, client_id="test-producer")
    await publisher.start()
    found = KafkaTopics(kafka, publisher, topic_of, dead_letter_topic, f"test-projection-{run}")
    try:
        yield found
    finally:
        await found.stop_workers()
        await publisher.stop()
