"""`caseweave replay projection` in Kafka mode: rebuild the single view from the topics.

A new version of the read model is built beside the live one (`service_layer/rebuild.py`)
by a consumer of its own (no group: it assigns itself every partition), reading every
organisation topic from its first offset, or from where a stopped rebuild saved it was, up
to the end offsets, and again to the ends found then, until it finds nothing new. Batches
are applied exactly as the worker applies them (`KafkaProjection`, with the next version's
saved offsets). Then the switch: the worker carries on in the new version from the offsets
saved there. Where they are behind its consumer's position it finds the gap and is rewound
(`KafkaProjection`); where they are ahead it skips what the rebuild applied already.
"""

from collections.abc import Callable, Collection, Mapping, Sequence

from aiokafka import AIOKafkaConsumer
from aiokafka import TopicPartition as KafkaTP

from events.envelope import OrgId
from services.identity_matching.matching import MatchingConfig
from services.projection.adapters.read_model_schema import CONSUMER, prepare_read_model
from services.projection.service_layer.kafka_projection import KafkaProjection
from services.projection.service_layer.log_projection import DEFAULT_MATCHING
from services.projection.service_layer.rebuild import (
    Rebuilding,
    ReplayProgress,
    rebuilding,
    switch_to_next,
)
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
    on_progress: Callable[[ReplayProgress], None] | None = None,
    matching: MatchingConfig = DEFAULT_MATCHING,
    keys: PersonKeys | None = None,
    restart: bool = False,
) -> int:
    """Build a new version of the read model from the topics beside the live one, then
    switch to it; return how many messages this run applied (a rebuild that stopped is
    resumed from the offsets it saved, unless `restart`)."""
    await prepare_read_model(pool, schema)
    async with rebuilding(pool, schema, keys=keys, restart=restart) as rebuild:
        applied = await _fold_topics_into(
            pool, rebuild, bootstrap_servers=bootstrap_servers, id_secret=id_secret,
            topic_orgs=topic_orgs, dead_letter_topic=dead_letter_topic,
            on_progress=on_progress, matching=matching, keys=keys,
        )  # fmt: skip
        await switch_to_next(pool, rebuild, id_secret=id_secret, keys=keys, matching=matching)
    return applied


async def _fold_topics_into(
    pool: Pool,
    rebuild: Rebuilding,
    *,
    bootstrap_servers: str,
    id_secret: bytes,
    topic_orgs: Mapping[str, OrgId] | None,
    dead_letter_topic: str,
    on_progress: Callable[[ReplayProgress], None] | None,
    matching: MatchingConfig,
    keys: PersonKeys | None,
) -> int:
    """Apply every message of the topics to the version being built; return how many."""
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
            pool, dead_letters, id_secret=id_secret, schema=rebuild.versions.next,
            topic_orgs=topic_orgs, dead_letter_topic=dead_letter_topic, matching=matching,
            keys=keys, decisions_schema=rebuild.decisions_schema,
        )  # fmt: skip
        known = await dead_letters.require_topics([*projection.topics, dead_letter_topic])
        readable = [KafkaTP(t, p) for t in projection.topics for p in known[t]]
        consumer.assign(readable)
        await _seek_to_saved(pool, consumer, rebuild.versions.next, readable)
        projection.attach(_AssignedPartitions(consumer))
        return await _apply_until_caught_up(consumer, projection, readable, on_progress)
    finally:
        await consumer.stop()
        await dead_letters.stop()


async def _seek_to_saved(
    pool: Pool, consumer: AIOKafkaConsumer, schema: str, partitions: Sequence[KafkaTP]
) -> None:
    """Start each partition where the version being built stopped (its first offset when new)."""
    async with transaction(pool) as conn:
        saved = await KafkaOffsets(schema, consumer=CONSUMER).lock(
            conn, {TopicPartition(tp.topic, tp.partition) for tp in partitions}
        )
    for tp in partitions:
        consumer.seek(tp, saved.get(TopicPartition(tp.topic, tp.partition), 0))


async def _apply_until_caught_up(
    consumer: AIOKafkaConsumer,
    projection: KafkaProjection,
    partitions: Sequence[KafkaTP],
    on_progress: Callable[[ReplayProgress], None] | None,
) -> int:
    """Apply every message up to the partitions' end offsets, then to the ends found
    after that, until a look finds no new message."""
    applied = 0
    ends: dict[KafkaTP, int] = await consumer.end_offsets(partitions)
    starts = {tp: await consumer.position(tp) for tp in partitions}
    expected = sum(max(0, ends[tp] - starts[tp]) for tp in partitions)
    while True:

        def report(done_in_pass: int, before: int = applied, expected: int = expected) -> None:
            if on_progress is not None:
                done = before + done_in_pass
                on_progress(ReplayProgress(done, max(expected, done)))

        applied += await _apply_until(consumer, projection, ends, report)
        later: dict[KafkaTP, int] = await consumer.end_offsets(partitions)
        if later == ends:
            return applied
        expected += sum(later[tp] - ends[tp] for tp in partitions)
        ends = later


async def _apply_until(
    consumer: AIOKafkaConsumer,
    projection: KafkaProjection,
    ends: Mapping[KafkaTP, int],
    report: Callable[[int], None],
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
            applied += len(messages) - (await projection.apply(messages)).redelivered
            report(applied)
    return applied
