"""The outbox relay publishes an organisation's log to Kafka: nothing lost, order per person.

Runs over a real Apache Kafka (the run's one-node cluster) and a real PostgreSQL.
The topic name is fixed per organisation, so each test gives the relay its own topic.
"""

import asyncio
import time
import uuid
from collections.abc import AsyncIterator, Callable, Sequence
from typing import Any

import pytest
from aiokafka import AIOKafkaConsumer
from structlog.testing import capture_logs

from events.envelope import Envelope
from services.runtime.checkpoints import checkpoints_ddl
from services.runtime.database import Pool, apply_ddl
from services.runtime.event_log import PostgresEventLog
from services.runtime.event_store import EventStore
from services.runtime.event_store_schema import event_store_ddl
from services.runtime.kafka.messages import KafkaMessage, envelope_from_value, header_values
from services.runtime.kafka.publisher import KafkaPublisher, TopicMissing
from services.runtime.kafka.relay import OutboxRelay
from services.runtime.subscription import run_until_stopped
from tests.factories import an_envelope
from tests.real_kafka import RealKafka

DEADLINE_SECONDS = 10.0


class RelayDied(Exception):
    """The injected crash: the broker acknowledged, the checkpoint was never saved."""


class DiesAfterAcknowledgement:
    """A publisher that publishes for real, then dies on its `fatal_call`-th batch."""

    def __init__(self, publisher: KafkaPublisher, *, fatal_call: int) -> None:
        self._publisher = publisher
        self._fatal_call = fatal_call
        self.calls = 0
        self.died_after: list[KafkaMessage] = []

    async def topic_exists(self, topic: str) -> bool:
        return await self._publisher.topic_exists(topic)

    async def publish(self, topic: str, messages: Sequence[KafkaMessage]) -> None:
        await self._publisher.publish(topic, messages)
        self.calls += 1
        if self.calls == self._fatal_call:
            self.died_after = list(messages)
            raise RelayDied


@pytest.fixture
async def schema(pool: Pool, unique_schema: Callable[[str], str]) -> str:
    name = unique_schema("relay")
    await apply_ddl(
        pool, lock_name=name, statements=[*event_store_ddl(name), checkpoints_ddl(name)]
    )
    return name


@pytest.fixture
def topic(kafka: RealKafka) -> str:
    name = f"caseweave.test-{uuid.uuid4().hex[:10]}.events.v1"
    kafka.create_topic(name, partitions=3)
    return name


@pytest.fixture
async def publisher(kafka: RealKafka) -> AsyncIterator[KafkaPublisher]:
    publisher = KafkaPublisher(kafka.bootstrap_servers)
    await publisher.start()
    yield publisher
    await publisher.stop()


def relay_for(pool: Pool, publisher: Any, *, schema: str, topic: str, **kw: Any) -> OutboxRelay:
    return OutboxRelay(pool, publisher, org="housing", schema=schema, topic=topic, **kw)


async def append_interleaved(
    pool: Pool, schema: str, *, people: int, events_each: int
) -> list[Envelope]:
    """Append events for several people, one transaction each, people interleaved."""
    store, appended = EventStore(schema), []
    subjects = [f"HOU-{uuid.uuid4().hex[:8]}" for _ in range(people)]
    for version in range(events_each):
        for subject in subjects:
            event = an_envelope(subject=subject)
            async with pool.acquire() as conn:
                await store.append(
                    conn, stream_id=subject, expected_version=version, events=[event]
                )
            appended.append(event)
    return appended


async def consume(kafka: RealKafka, topic: str, *, at_least: int) -> list[Any]:
    """Read the topic from the start, in a new group, until `at_least` records or the deadline."""
    consumer = AIOKafkaConsumer(
        topic,
        bootstrap_servers=kafka.bootstrap_servers,
        group_id=f"test-{uuid.uuid4().hex}",
        auto_offset_reset="earliest",
    )
    await consumer.start()
    records: list[Any] = []
    deadline = time.monotonic() + DEADLINE_SECONDS
    try:
        while len(records) < at_least and time.monotonic() < deadline:
            batches = await consumer.getmany(timeout_ms=200)
            records.extend(r for batch in batches.values() for r in batch)
    finally:
        await consumer.stop()
    return records


def event_ids_by_key(records: Sequence[Any]) -> dict[bytes, list[uuid.UUID]]:
    by_key: dict[bytes, list[uuid.UUID]] = {}
    for record in sorted(records, key=lambda r: (r.partition, r.offset)):
        by_key.setdefault(record.key, []).append(envelope_from_value(record.value).event_id)
    return by_key


async def test_every_event_arrives_once_in_order_per_person_with_headers(
    pool: Pool, schema: str, topic: str, publisher: KafkaPublisher, kafka: RealKafka
) -> None:
    """Each appended event is published once, keyed by person, in that person's order."""
    appended = await append_interleaved(pool, schema, people=4, events_each=5)
    relay = relay_for(pool, publisher, schema=schema, topic=topic, batch_size=6)
    log = PostgresEventLog(pool, source="housing", schema=schema)

    with capture_logs() as logs:
        while await relay.handle_next_batch(log):
            pass
    records = await consume(kafka, topic, at_least=len(appended))

    assert len(records) == len(appended)
    expected: dict[bytes, list[uuid.UUID]] = {}
    for event in appended:
        expected.setdefault(event.subject.encode(), []).append(event.event_id)
    assert event_ids_by_key(records) == expected
    sent = {e.event_id: e for e in appended}
    for record in records:
        envelope = envelope_from_value(record.value)
        assert envelope == sent[envelope.event_id]
        assert header_values(record.headers) == {
            "event_id": str(envelope.event_id),
            "event_type": envelope.type,
            "schema_version": str(envelope.schema_version),
            "correlation_id": envelope.correlation_id,
            "org": "housing",
        }
    batches = [e for e in logs if e["event"] == "kafka_relay_batch"]
    assert [b["events"] for b in batches] == [6, 6, 6, 2]
    assert all(b["org"] == "housing" and b["topic"] == topic for b in batches)
    assert not any(e.subject in str(logs) for e in appended)  # no person references in logs


async def test_a_relay_that_dies_before_its_checkpoint_loses_nothing_on_restart(
    pool: Pool, schema: str, topic: str, publisher: KafkaPublisher, kafka: RealKafka
) -> None:
    """Killed between the broker's acknowledgement and the checkpoint: the batch is re-sent."""
    appended = await append_interleaved(pool, schema, people=2, events_each=5)
    log = PostgresEventLog(pool, source="housing", schema=schema)
    dying = DiesAfterAcknowledgement(publisher, fatal_call=2)
    first = relay_for(pool, dying, schema=schema, topic=topic, batch_size=4)
    assert await first.handle_next_batch(log) == 4
    with pytest.raises(RelayDied):
        await first.handle_next_batch(log)

    restarted = relay_for(pool, publisher, schema=schema, topic=topic, batch_size=4)
    while await restarted.handle_next_batch(log):
        pass
    records = await consume(kafka, topic, at_least=len(appended) + 4)

    ids = [envelope_from_value(r.value).event_id for r in records]
    assert set(ids) == {e.event_id for e in appended}
    assert len(ids) == len(appended) + 4
    redelivered = sorted(i for i in set(ids) if ids.count(i) > 1)
    assert redelivered == sorted(envelope_from_value(m.value).event_id for m in dying.died_after)


async def test_the_relay_refuses_to_start_when_its_topic_is_missing(
    pool: Pool, schema: str, publisher: KafkaPublisher
) -> None:
    """No implicit topic creation: the relay stops with an error naming the command to run."""
    missing = f"caseweave.missing-{uuid.uuid4().hex[:10]}.events.v1"
    relay = relay_for(pool, publisher, schema=schema, topic=missing)
    log = PostgresEventLog(pool, source="housing", schema=schema)
    await append_interleaved(pool, schema, people=1, events_each=1)

    with pytest.raises(TopicMissing, match="caseweave kafka topics create"):
        await run_until_stopped(relay, [log], asyncio.Event())

    assert not await publisher.topic_exists(missing)  # checking did not create it


async def test_events_appended_while_the_relay_runs_are_published(
    pool: Pool, schema: str, topic: str, publisher: KafkaPublisher, kafka: RealKafka
) -> None:
    """A running relay wakes on new events and publishes them without being restarted."""
    log = PostgresEventLog(pool, source="housing", schema=schema)
    relay = relay_for(pool, publisher, schema=schema, topic=topic)
    stop = asyncio.Event()
    running = asyncio.create_task(run_until_stopped(relay, [log], stop))
    try:
        appended = await append_interleaved(pool, schema, people=3, events_each=2)
        records = await consume(kafka, topic, at_least=len(appended))
    finally:
        stop.set()
        await asyncio.wait_for(running, DEADLINE_SECONDS)
        await log.close()

    assert {envelope_from_value(r.value).event_id for r in records} == {
        e.event_id for e in appended
    }
