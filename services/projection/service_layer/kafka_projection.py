"""The projection's Kafka side: applies a batch of messages from the organisations' topics.

Per batch, one PostgreSQL transaction: lock the batch's partitions' saved offsets, skip what
was applied already, send poison messages to the dead-letter topic (waiting for the acks) and
record them, project the events (the same code as the embedded mode: timeline once per
`event_id`, links, views), save the next offsets, commit.

The saved offsets never jump over a message. Our topics' offsets are contiguous, so a batch
whose partition skips ahead of the saved offset means either that the broker deleted the
start of the partition (retention: the partition's earliest offset says so, and the batch
is applied from there, logged) or that the consumer skipped messages (Faust's fetch loop
moves its read offset past a message whose delivery a flow suspension cut short): then the
messages after the hole wait and the consumer is rewound to it (`Partitions.rewind`).

`apply` never raises: Faust acknowledges a batch even when the agent's body fails, and would
then lose it (faust-streaming acks in a `finally`). So every failure (PostgreSQL gone, a
deadlock, the dead-letter topic unavailable, a bug) is logged and the batch tried again after
a growing pause. That is also the backpressure: while PostgreSQL is slow or down, the batch
waits, Faust's buffer fills and it stops fetching; nothing is dropped or skipped.
"""

import asyncio
import contextlib
import time
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Protocol

import asyncpg
import structlog

from events.envelope import OrgId
from services.identity_matching.matching import MatchingConfig
from services.projection.adapters.postgres_unit_of_work import postgres_units
from services.projection.adapters.read_model_schema import CONSUMER
from services.projection.domain.fold import BatchFold, fold
from services.projection.service_layer.kafka_batch import BatchPlan, plan_batch
from services.projection.service_layer.log_projection import (
    DEFAULT_MATCHING,
    BatchOutcome,
    ProjectionConsumer,
)
from services.runtime.database import Pool
from services.runtime.kafka.consumed import ConsumedMessage, PoisonMessage
from services.runtime.kafka.dead_letters import DeadLetterRecord, dead_letter_message
from services.runtime.kafka.messages import CORRELATION_ID
from services.runtime.kafka.offsets import KafkaOffsets, TopicPartition
from services.runtime.kafka.publisher import Publisher
from services.runtime.kafka.topics import DEAD_LETTER_TOPIC, organisation_topics
from services.runtime.metrics import count_dead_letters, observe_projection_batch
from services.runtime.person_keys import PersonKeys

logger = structlog.get_logger("caseweave.projection.kafka")
RETRY_FIRST_SECONDS, RETRY_MOST_SECONDS = 0.2, 30.0
REWIND_EVERY_SECONDS = 1.0
OPEN_GAP_CHECK_SECONDS = 3.0


@dataclass(frozen=True)
class KafkaBatchReport:
    """What one batch did."""

    messages: int
    projected: BatchOutcome
    dead_lettered: int
    redelivered: int
    rewind: Mapping[TopicPartition, int] = field(default_factory=dict)
    next_offsets: Mapping[TopicPartition, int] = field(default_factory=dict)


class Partitions(Protocol):
    """The consumer's hold on its partitions: where each starts, and reading one again."""

    async def earliest_offsets(
        self, partitions: Collection[TopicPartition]
    ) -> dict[TopicPartition, int]:
        """Return the first offset still held by the broker in each partition."""
        ...

    async def rewind(self, partition: TopicPartition, offset: int) -> None:
        """Make the consumer read `partition` again from `offset`."""
        ...


class LogStartsAtZero:
    """Partitions when no consumer is attached (tests, tools): nothing deleted, no rewinding."""

    async def earliest_offsets(
        self, partitions: Collection[TopicPartition]
    ) -> dict[TopicPartition, int]:
        """Return 0 for every partition."""
        return dict.fromkeys(partitions, 0)

    async def rewind(self, partition: TopicPartition, offset: int) -> None:
        """Do nothing: a later batch of the partition will carry the missing messages."""


class KafkaProjection:
    """Applies batches of organisation-topic messages to the single view, exactly once each."""

    def __init__(
        self,
        pool: Pool,
        dead_letters: Publisher,
        *,
        id_secret: bytes,
        schema: str = "projection",
        topic_orgs: Mapping[str, OrgId] | None = None,
        dead_letter_topic: str = DEAD_LETTER_TOPIC,
        fold_batch: BatchFold = fold,
        matching: MatchingConfig = DEFAULT_MATCHING,
        keys: PersonKeys | None = None,
        decisions_schema: str | None = None,
    ) -> None:
        self._unit_of_work = postgres_units(
            pool, schema, keys=keys, decisions_schema=decisions_schema
        )
        self._consumer = ProjectionConsumer(
            self._unit_of_work, id_secret=id_secret, fold_batch=fold_batch, matching=matching
        )
        self._offsets = KafkaOffsets(schema, consumer=CONSUMER)
        self._record = DeadLetterRecord(schema, consumer=CONSUMER)
        self._dead_letters = dead_letters
        self._dead_letter_topic = dead_letter_topic
        self._topic_orgs = dict(topic_orgs or organisation_topics())
        self._partitions: Partitions = LogStartsAtZero()
        self._earliest: dict[TopicPartition, int] = {}
        self._rewound: dict[TopicPartition, tuple[int, float]] = {}
        self._open_gaps: dict[TopicPartition, int] = {}

    def attach(self, partitions: Partitions) -> None:
        """Use `partitions` (the running consumer) to find partition starts and to rewind."""
        self._partitions = partitions

    @property
    def topics(self) -> list[str]:
        """Return the topics this projection consumes."""
        return sorted(self._topic_orgs)

    async def apply(self, messages: Sequence[ConsumedMessage]) -> KafkaBatchReport:
        """Apply `messages` once; on any failure log, wait and try again. Never raises.

        A batch PostgreSQL refuses for its data (asyncpg `DataError`: a value it cannot
        store) is applied one message at a time instead, and a single message it refuses is
        set aside as poison, so one bad message cannot hold its partitions back for ever.
        """
        delay = RETRY_FIRST_SECONDS
        unstorable: str | None = None
        while True:
            try:
                report = await self.apply_once(messages, unstorable=unstorable)
            except asyncpg.DataError as error:
                if len(messages) > 1:
                    return _combined([await self.apply([m]) for m in messages])
                if unstorable is None:
                    unstorable = type(error).__name__
                    continue
                await self._wait_after_failure(error, messages, delay)
                delay = min(delay * 2, RETRY_MOST_SECONDS)
            except Exception as error:  # raising here would lose the batch (see above)
                await self._wait_after_failure(error, messages, delay)
                delay = min(delay * 2, RETRY_MOST_SECONDS)
            else:
                self._note_gaps(report)
                await self._rewind(report.rewind)
                return report

    @staticmethod
    async def _wait_after_failure(
        error: Exception, messages: Sequence[ConsumedMessage], delay: float
    ) -> None:
        logger.error(
            "projection_kafka_batch_failed",
            error_type=type(error).__name__,
            messages=len(messages),
            first=_where(messages[0]),
            retry_s=delay,
        )
        await asyncio.sleep(delay)

    async def apply_once(
        self, messages: Sequence[ConsumedMessage], *, unstorable: str | None = None
    ) -> KafkaBatchReport:
        """Apply `messages` in one transaction; raise on failure, leaving nothing applied.

        With `unstorable` (why PostgreSQL refused them), every message is set aside as poison
        instead of projected.
        """
        started = time.perf_counter()
        set_aside: Sequence[PoisonMessage] = ()
        async with self._unit_of_work() as uow:
            await uow.hold_live()
            conn = uow.connection  # the offsets and dead letters commit with the batch
            saved = await self._offsets.lock(conn, {m.topic_partition for m in messages})
            plan = self._plan(messages, saved)
            if plan.rewind:  # the broker may have deleted the start of a partition: ask again
                self._earliest.update(await self._partitions.earliest_offsets(plan.rewind))
                plan = self._plan(messages, saved)
                _log_retention_losses(saved, self._earliest, plan)
            if unstorable is not None:
                plan = _all_poison(plan, messages, unstorable)
            if plan.poison:
                set_aside = await self._record.add(conn, plan.poison)
                await self._set_aside(set_aside)
            outcome = await self._consumer.project(uow, plan.events)
            await self._offsets.save(conn, plan.next_offsets)
            await uow.commit()
        for poison in set_aside:  # counted once committed
            count_dead_letters(CONSUMER, poison.reason)
        observe_projection_batch("kafka", time.perf_counter() - started)
        report = KafkaBatchReport(
            len(messages), outcome, len(plan.poison), plan.redelivered, plan.rewind,
            plan.next_offsets,
        )  # fmt: skip
        _log_batch(messages, plan, report, started)
        return report

    def _note_gaps(self, report: KafkaBatchReport) -> None:
        """Remember partitions waiting to be read again; forget those that have been."""
        for tp, offset in report.rewind.items():
            self._open_gaps[tp] = offset
        for tp, next_offset in report.next_offsets.items():
            if tp in self._open_gaps and next_offset > self._open_gaps[tp]:
                del self._open_gaps[tp]

    async def keep_rewinding_open_gaps(self, stop: asyncio.Event) -> None:
        """Rewind, every few seconds, partitions still waiting to be read again.

        A rewind can be overtaken by messages the consumer had already fetched (Faust then
        drops the re-read ones as old), and a quiet partition brings no new message to
        trigger another: so keep rewinding until the partition has moved past its hole.
        """
        while not stop.is_set():
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), OPEN_GAP_CHECK_SECONDS)
            await self._rewind(dict(self._open_gaps))

    def _plan(
        self, messages: Sequence[ConsumedMessage], saved: Mapping[TopicPartition, int]
    ) -> BatchPlan:
        partitions = {m.topic_partition for m in messages}
        applied = {tp: max(saved.get(tp, 0), self._earliest.get(tp, 0)) for tp in partitions}
        return plan_batch(messages, applied=applied, topic_orgs=self._topic_orgs)

    async def _rewind(self, rewind: Mapping[TopicPartition, int]) -> None:
        """Read partitions again from where messages went missing (once a second at most)."""
        now = time.monotonic()
        for tp, offset in sorted(rewind.items()):
            logger.warning(
                "kafka_messages_skipped_by_consumer",
                topic=tp.topic,
                partition=tp.partition,
                rewind_to=offset,
            )
            last = self._rewound.get(tp)
            if last is not None and last[0] == offset and now - last[1] < REWIND_EVERY_SECONDS:
                continue  # messages fetched before the last rewind are still arriving
            self._rewound[tp] = (offset, now)
            try:
                await self._partitions.rewind(tp, offset)
            except Exception as error:  # a later batch finds the gap again and retries
                logger.error("kafka_rewind_failed", error_type=type(error).__name__)

    async def _set_aside(self, poison: Sequence[PoisonMessage]) -> None:
        await self._dead_letters.publish(
            self._dead_letter_topic, [dead_letter_message(p, consumer=CONSUMER) for p in poison]
        )
        for p in poison:
            logger.warning(
                "message_dead_lettered",
                reason=p.reason,
                detail=p.detail,
                topic=p.message.topic,
                partition=p.message.partition,
                offset=p.message.offset,
                event_type=p.event_type,
                event_id=p.event_id,
            )


def _combined(reports: Sequence[KafkaBatchReport]) -> KafkaBatchReport:
    return KafkaBatchReport(
        messages=sum(r.messages for r in reports),
        projected=BatchOutcome(
            new_events=sum(r.projected.new_events for r in reports),
            citizens=sum(r.projected.citizens for r in reports),
        ),
        dead_lettered=sum(r.dead_lettered for r in reports),
        redelivered=sum(r.redelivered for r in reports),
        rewind={tp: o for r in reports for tp, o in r.rewind.items()},
        next_offsets={tp: o for r in reports for tp, o in r.next_offsets.items()},
    )


def _all_poison(plan: BatchPlan, messages: Sequence[ConsumedMessage], why: str) -> BatchPlan:
    """Return the plan of a one-message batch with its message set aside as unstorable."""
    poison = [
        PoisonMessage(m, "unstorable", f"(value): PostgreSQL refused it ({why})")
        for m in messages
        if plan.next_offsets.get(m.topic_partition) == m.offset + 1
    ]
    return BatchPlan(
        poison=poison, next_offsets=plan.next_offsets, redelivered=plan.redelivered,
        rewind=plan.rewind,
    )  # fmt: skip


def _where(message: ConsumedMessage) -> str:
    return f"{message.topic}[{message.partition}]@{message.offset}"


def _log_retention_losses(
    saved: Mapping[TopicPartition, int], earliest: Mapping[TopicPartition, int], plan: BatchPlan
) -> None:
    for tp, start in sorted(earliest.items()):
        if tp in plan.next_offsets and start > saved.get(tp, 0):
            logger.warning(
                "kafka_messages_deleted_before_applied",
                topic=tp.topic,
                partition=tp.partition,
                first_available=start,
                next_unapplied=saved.get(tp, 0),
            )


def _log_batch(
    messages: Sequence[ConsumedMessage], plan: BatchPlan, report: KafkaBatchReport, started: float
) -> None:
    correlation_ids = {
        value.decode(errors="replace")
        for m in messages
        for name, value in m.headers
        if name == CORRELATION_ID
    }
    logger.info(
        "projection_batch",
        source="kafka",
        events=report.messages,
        new_events=report.projected.new_events,
        citizens=report.projected.citizens,
        dead_lettered=report.dead_lettered,
        redelivered=report.redelivered,
        rewound=len(report.rewind),
        offsets={f"{tp.topic}[{tp.partition}]": n for tp, n in sorted(plan.next_offsets.items())},
        correlation_ids=sorted(correlation_ids)[:50],
        duration_ms=round((time.perf_counter() - started) * 1000, 1),
    )
