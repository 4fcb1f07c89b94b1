"""The projection's Kafka side: applies a batch of messages from the organisations' topics.

Per batch, one PostgreSQL transaction: lock the batch's partitions' saved offsets, skip what
was applied already, send poison messages to the dead-letter topic (waiting for the acks) and
record them, project the events (the same code as the embedded mode: timeline once per
`event_id`, links, views), save the next offsets, commit.

`apply` never raises: Faust acknowledges a batch even when the agent's body fails, and would
then lose it (faust-streaming acks in a `finally`). So every failure (PostgreSQL gone, a
deadlock, the dead-letter topic unavailable, a bug) is logged and the batch tried again after
a growing pause. That is also the backpressure: while PostgreSQL is slow or down, the batch
waits, Faust's buffer fills and it stops fetching; nothing is dropped or skipped.
"""

import asyncio
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import structlog

from events.envelope import ORGANISATIONS, OrgId
from services.projection.consumer import BatchOutcome, ProjectionConsumer
from services.projection.domain.fold import BatchFold, fold
from services.projection.kafka_batch import BatchPlan, plan_batch
from services.projection.read_model_schema import CONSUMER
from services.runtime.database import Pool, transaction
from services.runtime.kafka.consumed import ConsumedMessage, PoisonMessage
from services.runtime.kafka.dead_letters import DeadLetterRecord, dead_letter_message
from services.runtime.kafka.messages import CORRELATION_ID
from services.runtime.kafka.offsets import KafkaOffsets
from services.runtime.kafka.publisher import Publisher
from services.runtime.kafka.topics import DEAD_LETTER_TOPIC, events_topic

logger = structlog.get_logger("caseweave.projection.kafka")
RETRY_FIRST_SECONDS, RETRY_MOST_SECONDS = 0.2, 30.0


def organisation_topics() -> dict[str, OrgId]:
    """Return the topic of each organisation's events, and whose it is."""
    return {events_topic(org): org for org in ORGANISATIONS}


@dataclass(frozen=True)
class KafkaBatchReport:
    """What one batch did."""

    messages: int
    projected: BatchOutcome
    dead_lettered: int
    redelivered: int


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
    ) -> None:
        self._pool = pool
        self._consumer = ProjectionConsumer(
            pool, id_secret=id_secret, schema=schema, fold_batch=fold_batch
        )
        self._offsets = KafkaOffsets(schema, consumer=CONSUMER)
        self._record = DeadLetterRecord(schema, consumer=CONSUMER)
        self._dead_letters = dead_letters
        self._dead_letter_topic = dead_letter_topic
        self._topic_orgs = dict(topic_orgs or organisation_topics())

    @property
    def topics(self) -> list[str]:
        """Return the topics this projection consumes."""
        return sorted(self._topic_orgs)

    async def apply(self, messages: Sequence[ConsumedMessage]) -> KafkaBatchReport:
        """Apply `messages` once; on any failure log, wait and try again. Never raises."""
        delay = RETRY_FIRST_SECONDS
        while True:
            try:
                return await self.apply_once(messages)
            except Exception as error:  # raising here would lose the batch (see above)
                logger.error(
                    "projection_kafka_batch_failed",
                    error_type=type(error).__name__,
                    messages=len(messages),
                    retry_s=delay,
                )
                await asyncio.sleep(delay)
                delay = min(delay * 2, RETRY_MOST_SECONDS)

    async def apply_once(self, messages: Sequence[ConsumedMessage]) -> KafkaBatchReport:
        """Apply `messages` in one transaction; raise on failure, leaving nothing applied."""
        started = time.perf_counter()
        async with transaction(self._pool) as conn:
            applied = await self._offsets.lock(conn, {m.topic_partition for m in messages})
            plan = plan_batch(messages, applied=applied, topic_orgs=self._topic_orgs)
            if plan.poison:
                await self._set_aside(plan.poison)
                await self._record.add(conn, plan.poison)
            outcome = await self._consumer.project(conn, plan.events)
            await self._offsets.save(conn, plan.next_offsets)
        report = KafkaBatchReport(len(messages), outcome, len(plan.poison), plan.redelivered)
        _log_batch(messages, plan, report, started)
        return report

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
        offsets={f"{tp.topic}[{tp.partition}]": n for tp, n in sorted(plan.next_offsets.items())},
        correlation_ids=sorted(correlation_ids)[:50],
        duration_ms=round((time.perf_counter() - started) * 1000, 1),
    )
