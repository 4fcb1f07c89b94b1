"""`caseweave replay projection` in Kafka mode: rebuild the single view from the topics.

Empty the read model and its saved offsets, then read every organisation topic from its first
offset up to the end offsets found at the start, applying batches exactly as the worker does
(`KafkaProjection`). Running workers need not be stopped: they apply through the same saved
offsets under the same row locks, so whichever applies a message first wins and the other
skips it, and a worker whose position is past the rebuilt offsets notices the gap and is
rewound. The rebuild takes the read model's tables (offsets first) before emptying them, so a
worker's batch in flight finishes first.
"""

from collections.abc import Callable, Collection, Mapping

from aiokafka import AIOKafkaConsumer
from aiokafka import TopicPartition as KafkaTP

from events.envelope import OrgId
from services.projection.adapters.read_model_schema import (
    CONSUMER,
    clear_statements,
    prepare_read_model,
)
from services.projection.domain.matching import MatchingConfig
from services.projection.service_layer.kafka_projection import KafkaProjection
from services.projection.service_layer.log_projection import DEFAULT_MATCHING
from services.runtime.checkpoints import Checkpoints
from services.runtime.database import Pool, transaction
from services.runtime.kafka.consumed import consumed_message
from services.runtime.kafka.offsets import KafkaOffsets, TopicPartition
from services.runtime.kafka.publisher import KafkaPublisher
from services.runtime.kafka.topics import DEAD_LETTER_TOPIC
from services.runtime.person_keys import PersonKeys

BATCH_SIZE = 1000


class _AssignedPartitions:
    """The replay's own consumer, as `KafkaProjection` asks for partition starts and rewinds."""

    def __init__(self, consumer: AIOKafkaConsumer) -> None:
        self._consumer = consumer

    async def earliest_offsets(
        self, partitions: Collection[TopicPartition]
    ) -> dict[TopicPartition, int]:
        found = await self._consumer.beginning_offsets([KafkaTP(*tp) for tp in partitions])
        return {TopicPartition(tp.topic, tp.partition): offset for tp, offset in found.items()}

    async def rewind(self, partition: TopicPartition, offset: int) -> None:
        self._consumer.seek(KafkaTP(*partition), offset)


async def rebuild_projection_from_topics(
    *,
    pool: Pool,
    bootstrap_servers: str,
    id_secret: bytes,
    schema: str = "projection",
    topic_orgs: Mapping[str, OrgId] | None = None,
    dead_letter_topic: str = DEAD_LETTER_TOPIC,
    on_progress: Callable[[int], None] | None = None,
    matching: MatchingConfig = DEFAULT_MATCHING,
    keys: PersonKeys | None = None,
) -> int:
    """Empty the read model and apply every message of the topics to it; return how many."""
    await prepare_read_model(pool, schema)
    dead_letters = KafkaPublisher(bootstrap_servers, client_id="caseweave-replay-dead-letters")
    consumer = AIOKafkaConsumer(
        bootstrap_servers=bootstrap_servers,
        client_id="caseweave-replay",
        enable_auto_commit=False,
        auto_offset_reset="earliest",  # retention deleting a start mid-replay: go on from there
    )
    await dead_letters.start()
    await consumer.start()
    try:
        projection = KafkaProjection(
            pool, dead_letters, id_secret=id_secret, schema=schema,
            topic_orgs=topic_orgs, dead_letter_topic=dead_letter_topic, matching=matching,
            keys=keys,
        )  # fmt: skip
        known = await dead_letters.require_topics([*projection.topics, dead_letter_topic])
        readable = [KafkaTP(t, p) for t in projection.topics for p in known[t]]
        consumer.assign(readable)
        await consumer.seek_to_beginning(*readable)
        await _empty_read_model(pool, schema)
        # after emptying: anything a worker applies from here on is within these ends, or
        # contiguous after them, so nothing it applied is lost with the old read model
        ends: dict[KafkaTP, int] = await consumer.end_offsets(readable)
        projection.attach(_AssignedPartitions(consumer))
        return await _apply_until(consumer, projection, ends, on_progress)
    finally:
        await consumer.stop()
        await dead_letters.stop()


async def _empty_read_model(pool: Pool, schema: str) -> None:
    async with transaction(pool) as conn:
        for statement in clear_statements(schema):
            await conn.execute(statement)
        await Checkpoints(schema, consumer=CONSUMER).reset(conn)
        await KafkaOffsets(schema, consumer=CONSUMER).reset(conn)


async def _apply_until(
    consumer: AIOKafkaConsumer,
    projection: KafkaProjection,
    ends: Mapping[KafkaTP, int],
    on_progress: Callable[[int], None] | None,
) -> int:
    applied = 0
    while [tp for tp, end in ends.items() if await consumer.position(tp) < end]:
        fetched = await consumer.getmany(timeout_ms=500, max_records=BATCH_SIZE)
        messages = [
            consumed_message(r)
            for tp, records in fetched.items()
            for r in records
            if r.offset < ends[tp]
        ]
        if messages:
            report = await projection.apply(messages)
            applied += len(messages) - report.redelivered
            if on_progress is not None:
                on_progress(applied)
    return applied
