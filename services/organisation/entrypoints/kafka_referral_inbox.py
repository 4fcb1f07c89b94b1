"""The referral inbox in Kafka mode: the other organisations' topics, read with aiokafka.

One consumer group per receiving organisation (`caseweave-<org>-referral-inbox`). Per batch,
one transaction in this organisation's schema: lock the saved offsets of the batch's
partitions, skip what was applied, receive each referral made to this organisation, record
poison, save the next offsets, commit. The offsets saved in PostgreSQL decide where reading
resumes: each newly assigned partition is sought to its saved offset before it is fetched,
so Kafka's committed offsets (committed after each batch, for lag monitoring) are only a
hint. Any failure closes the consumer; a new one starts after a pause and seeks again, so a
batch that did not commit is read again.
"""

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator, Collection, Mapping, Sequence
from datetime import UTC, datetime

import structlog
from aiokafka import AIOKafkaConsumer, ConsumerRebalanceListener
from aiokafka import TopicPartition as KafkaTP

from events.envelope import Envelope, OrgId
from services.organisation.adapters.postgres_unit_of_work import PostgresUnitOfWork, Stores
from services.organisation.service_layer.inbox import REFERRAL_MADE, take_in
from services.organisation.service_layer.referral_messages import referral_in
from services.organisation.service_layer.unit_of_work import UnitOfWork
from services.runtime.backoff import Backoff
from services.runtime.consumer_lag import PartitionLag
from services.runtime.database import Pool
from services.runtime.kafka.consumed import ConsumedMessage, PoisonMessage, consumed_message
from services.runtime.kafka.dead_letters import DeadLetterRecord, dead_letter_message
from services.runtime.kafka.offsets import KafkaOffsets, TopicPartition
from services.runtime.kafka.publisher import KafkaPublisher
from services.runtime.kafka.topics import DEAD_LETTER_TOPIC
from services.runtime.metrics import count_dead_letters, sampled_on_scrape

logger = structlog.get_logger("caseweave.organisation.kafka_referral_inbox")
CONSUMER = "referral_inbox"
BATCH_SIZE = 100
RESTART_DELAY_SECONDS = 5.0
STOP_GRACE_SECONDS = 10.0


class KafkaReferralInbox:
    """Receives referrals made to this organisation from the other organisations' topics."""

    def __init__(
        self,
        pool: Pool,
        stores: Stores,
        dead_letters: KafkaPublisher,
        *,
        schema: str,
        bootstrap_servers: str,
        topics: Sequence[str],
        dead_letter_topic: str = DEAD_LETTER_TOPIC,
        group_id: str | None = None,
    ) -> None:
        self.org = stores.org
        self.topics = list(topics)  # the other organisations' topics
        self.group_id = group_id or f"caseweave-{stores.org}-referral-inbox"
        self._pool = pool
        self._stores = stores
        self._dead_letters = dead_letters
        self._dead_letter_topic = dead_letter_topic
        self._bootstrap_servers = bootstrap_servers
        self.offsets = KafkaOffsets(schema, consumer=CONSUMER)
        self._record = DeadLetterRecord(schema, consumer=f"{stores.org}_{CONSUMER}")
        self._consumer: AIOKafkaConsumer | None = None  # while running: for the lag metric

    async def check_topics(self) -> None:
        """Refuse to run (TopicMissing) unless every topic read or written exists."""
        await self._dead_letters.require_topics([*self.topics, self._dead_letter_topic])

    async def run(self, stop: asyncio.Event) -> None:
        """Receive referrals until `stop` is set; raise on failure (the caller restarts)."""
        consumer = AIOKafkaConsumer(
            bootstrap_servers=self._bootstrap_servers,
            group_id=self.group_id,
            client_id=self.group_id,
            enable_auto_commit=False,
            auto_offset_reset="earliest",
        )
        listener = _SeekToSaved(consumer, self._pool, self.offsets)
        consumer.subscribe(self.topics, listener=listener)
        await consumer.start()
        self._consumer = consumer
        try:
            while not stop.is_set():
                if listener.failure is not None:  # aiokafka only logs a listener's failure
                    raise listener.failure
                fetched = await consumer.getmany(timeout_ms=500, max_records=BATCH_SIZE)
                messages = [consumed_message(r) for records in fetched.values() for r in records]
                if messages:
                    next_offsets = await self.handle(messages)
                    await _commit_hint(consumer, next_offsets)
        finally:
            self._consumer = None
            await consumer.stop()

    def held(self) -> set[TopicPartition]:
        """Return the partitions this inbox holds right now (none while it restarts)."""
        assigned = self._consumer.assignment() if self._consumer is not None else set()
        return {TopicPartition(tp.topic, tp.partition) for tp in assigned}

    async def end_offsets(
        self, partitions: Collection[TopicPartition]
    ) -> Mapping[TopicPartition, int]:
        """Return the broker's end offset of each of `partitions`."""
        if self._consumer is None:
            return {}
        ends = await self._consumer.end_offsets([KafkaTP(*tp) for tp in partitions])
        return {TopicPartition(tp.topic, tp.partition): offset for tp, offset in ends.items()}

    async def handle(self, messages: Sequence[ConsumedMessage]) -> dict[TopicPartition, int]:
        """Apply a batch in one transaction; return the next offset of each partition."""
        async with PostgresUnitOfWork(self._pool, self._stores) as uow:
            saved = await self.offsets.lock(uow.connection, {m.topic_partition for m in messages})
            next_offsets: dict[TopicPartition, int] = {}
            poison: list[PoisonMessage] = []
            set_aside: list[PoisonMessage] = []  # poison not seen before (a redelivery is not)
            for message in messages:
                tp = message.topic_partition
                if message.offset < saved.get(tp, 0):
                    continue  # applied already: a redelivery
                outcome = referral_in(message, self.org)
                if isinstance(outcome, Envelope):  # sealed: it may be poison once opened
                    outcome = await self._receive(uow, message, outcome)
                if isinstance(outcome, PoisonMessage):
                    poison.append(outcome)
                next_offsets[tp] = message.offset + 1
            if poison:
                await self._dead_letters.publish(
                    self._dead_letter_topic,
                    [dead_letter_message(p, consumer=self._record.consumer) for p in poison],
                )
                set_aside = await self._record.add(uow.connection, poison)
                for p in poison:
                    logger.warning(
                        "referral_dead_lettered", reason=p.reason, detail=p.detail,
                        topic=p.message.topic, offset=p.message.offset, event_id=p.event_id,
                    )  # fmt: skip
            await self.offsets.save(uow.connection, next_offsets)
            await uow.commit()
        for p in set_aside:  # counted once committed
            count_dead_letters(self._record.consumer, p.reason)
        return next_offsets

    async def _receive(
        self, uow: UnitOfWork, message: ConsumedMessage, source: Envelope
    ) -> PoisonMessage | None:
        """Receive a referral; return it as poison if this release cannot read it."""
        now = datetime.now(UTC)
        why = await take_in(uow, source=source, received_at=now)
        if why is None:
            _log_received(self.org, message, source)
            return None
        ids = {"event_type": source.type, "event_id": str(source.event_id)}
        return PoisonMessage(message, why.reason, why.detail, **ids)


class _SeekToSaved(ConsumerRebalanceListener):  # type: ignore[misc]  # aiokafka is untyped here
    """Start every newly assigned partition at the offset saved in PostgreSQL."""

    def __init__(self, consumer: AIOKafkaConsumer, pool: Pool, offsets: KafkaOffsets) -> None:
        self._consumer = consumer
        self._pool = pool
        self._offsets = offsets
        self.failure: Exception | None = None

    async def on_partitions_revoked(self, revoked: object) -> None:
        """Nothing to do: every applied batch is already saved."""

    async def on_partitions_assigned(self, assigned: set[KafkaTP]) -> None:
        """Seek each assigned partition to its saved offset; one with none to its beginning.

        Kafka's committed offset is never used: after a restore of this database from a
        backup it may be ahead of what the database holds.
        """
        try:
            async with self._pool.acquire() as conn:
                saved = await self._offsets.all(conn)
            unsaved = []
            for tp in assigned:
                offset = saved.get(TopicPartition(tp.topic, tp.partition))
                if offset is None:
                    unsaved.append(tp)
                else:
                    self._consumer.seek(tp, offset)
            if unsaved:
                await self._consumer.seek_to_beginning(*unsaved)
        except Exception as error:  # handed to the consumer loop, which restarts
            self.failure = error


async def _commit_hint(consumer: AIOKafkaConsumer, offsets: dict[TopicPartition, int]) -> None:
    """Tell Kafka how far the inbox got (for lag tools); PostgreSQL stays the authority."""
    with contextlib.suppress(Exception):  # a failed commit costs a redelivery, skipped anyway
        await consumer.commit({KafkaTP(tp.topic, tp.partition): o for tp, o in offsets.items()})


def _log_received(org: OrgId, message: ConsumedMessage, source: Envelope) -> None:
    logger.info(
        "referral_received" if source.type == REFERRAL_MADE else "referral_step_taken_in",
        org=org,
        from_topic=message.topic,
        event_type=source.type,
        causation_id=str(source.event_id),
    )


@contextlib.asynccontextmanager
async def kafka_referral_inbox_running(
    pool: Pool, stores: Stores, *, schema: str, bootstrap_servers: str, topics: Sequence[str]
) -> AsyncIterator[KafkaReferralInbox]:
    """Run the Kafka referral inbox on `topics` (the other organisations') in the background
    while the block runs."""
    dead_letters = KafkaPublisher(bootstrap_servers, client_id=f"caseweave-{stores.org}-inbox")
    await dead_letters.start()
    try:
        inbox = KafkaReferralInbox(
            pool, stores, dead_letters, schema=schema, bootstrap_servers=bootstrap_servers,
            topics=topics,
        )  # fmt: skip
        await inbox.check_topics()
        stop = asyncio.Event()
        task = asyncio.create_task(_keep_running(inbox, stop), name=f"{stores.org}-kafka-inbox")
        lag = PartitionLag(
            pool, inbox.offsets, consumer=f"{stores.org}_{CONSUMER}", held=inbox.held,
            end_offsets=inbox.end_offsets,
        )  # fmt: skip
        try:
            with sampled_on_scrape(lag):
                yield inbox
        finally:
            stop.set()
            with contextlib.suppress(TimeoutError):  # an unfinished batch is read again
                await asyncio.wait_for(task, STOP_GRACE_SECONDS)
    finally:
        await dead_letters.stop()


async def _keep_running(inbox: KafkaReferralInbox, stop: asyncio.Event) -> None:
    """Run the inbox until `stop`, starting it again after a failure with a growing pause."""
    backoff = Backoff(first=RESTART_DELAY_SECONDS, most=max(RESTART_DELAY_SECONDS, 30.0))
    attempts = 0
    while not stop.is_set():
        started = time.monotonic()
        try:
            await inbox.run(stop)
        except Exception as error:
            ran_for = time.monotonic() - started
            attempts, delay = backoff.next_restart(attempts, ran_for=ran_for)
            logger.error(
                "kafka_referral_inbox_failed",
                error_type=type(error).__name__,
                attempt=attempts,
                retry_s=delay,
            )
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), delay)
