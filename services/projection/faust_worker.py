"""The projection worker in Kafka mode: a faust-streaming app over every organisation's topic.

How it is set up, and why (each point checked against faust-streaming 0.15):
- No tables and the leader topic disabled, so the only topics the app uses are the
  organisations' topics, and `topic_allow_declare=False`: Faust never creates a topic.
- One agent with `concurrency=1`: with more, Faust can commit an offset past a message that is
  still being processed and lose it on restart (faust-streaming issue #606). Parallelism
  comes from running more workers in the same group: Kafka gives each its own partitions.
- The agent takes up to `batch_size` messages at a time (`take_events`), which Faust acks
  only after the body returns. The body never raises (see `KafkaProjection.apply`) and, if
  the worker is stopped mid-batch, finishes the batch before letting Faust ack it, so
  Kafka's committed offset never passes what PostgreSQL holds.
- What was applied is decided by the offsets saved in PostgreSQL with each batch, not by
  Kafka's commit, so a redelivery after a rebalance (#502) or a crash is skipped, and
  messages Faust dropped on the way are noticed and read again (`FaustPartitions.rewind`).
"""

import asyncio
import contextlib
from collections.abc import Awaitable, Callable, Collection, Sequence

import faust
import structlog
from faust.types import TP

from services.runtime.kafka.consumed import ConsumedMessage, consumed_message
from services.runtime.kafka.offsets import TopicPartition

logger = structlog.get_logger("caseweave.projection.faust")
GROUP_ID = "caseweave-projection"
BATCH_SIZE = 1000
BATCH_WITHIN_SECONDS = 0.2
STOP_TIMEOUT_SECONDS = 20.0
SESSION_TIMEOUT_SECONDS = 45.0  # Kafka's own default: how long a vanished worker holds partitions

BatchHandler = Callable[[Sequence[ConsumedMessage]], Awaitable[object]]


def create_faust_app(
    *,
    bootstrap_servers: str,
    topics: Sequence[str],
    handle_batch: BatchHandler,
    group_id: str = GROUP_ID,
    batch_size: int = BATCH_SIZE,
    batch_within: float = BATCH_WITHIN_SECONDS,
    session_timeout: float = SESSION_TIMEOUT_SECONDS,
) -> faust.App:
    """Return a Faust app whose one agent hands batches of `topics`' messages to `handle_batch`."""
    app = faust.App(
        group_id,
        broker=[f"kafka://{server.strip()}" for server in bootstrap_servers.split(",")],
        topic_allow_declare=False,
        topic_disable_leader=True,
        web_enabled=False,
        key_serializer="raw",
        value_serializer="raw",
        consumer_auto_offset_reset="earliest",
        producer_acks=-1,
        broker_session_timeout=session_timeout,
        # fewer, fuller fetches: measured 5,700-7,400 -> 7,600-8,300 messages/s delivered to
        # a no-op agent on the mock broker (bench/README.md)
        broker_max_poll_records=5000,
        stream_buffer_maxsize=16384,
        broker_heartbeat_interval=min(3.0, session_timeout / 3),
    )
    source = app.topic(*topics, key_serializer="raw", value_serializer="raw")

    async def project(stream: faust.types.StreamT[bytes]) -> None:
        assert isinstance(stream, faust.Stream)  # take_events is on the class, not the protocol
        async for events in stream.take_events(batch_size, within=batch_within):
            await finish_even_if_cancelled(
                handle_batch([consumed_message(event.message) for event in events])
            )

    app.agent(source, name="project", concurrency=1)(project)
    return app


class FaustPartitions:
    """The running Faust consumer's partitions, for `KafkaProjection.attach`."""

    def __init__(self, app: faust.App) -> None:
        self._app = app

    async def earliest_offsets(
        self, partitions: Collection[TopicPartition]
    ) -> dict[TopicPartition, int]:
        """Return the first offset the broker still holds in each partition."""
        found = await self._app.consumer.earliest_offsets(*(TP(*tp) for tp in partitions))
        return {TopicPartition(tp.topic, tp.partition): offset for tp, offset in found.items()}

    async def rewind(self, partition: TopicPartition, offset: int) -> None:
        """Make the consumer fetch `partition` again from `offset`."""
        await self._app.consumer.seek(TP(*partition), offset)


async def finish_even_if_cancelled(work: Awaitable[object]) -> None:
    """Await `work`; if cancelled meanwhile, let `work` finish first, then re-raise.

    Faust acks a batch when the agent's body ends, cancelled or not; the batch must be in
    PostgreSQL before that ack can be committed.
    """
    task = asyncio.ensure_future(work)
    try:
        await asyncio.shield(task)
    except asyncio.CancelledError:
        with contextlib.suppress(Exception):
            await task
        raise


async def run_faust_app(app: faust.App, stop: asyncio.Event) -> None:
    """Run `app` in this event loop until `stop` is set, then stop it (bounded in time)."""
    await app.start()
    logger.info("projection_kafka_worker_started", group_id=app.conf.id)
    try:
        await stop.wait()
    finally:
        try:
            await asyncio.wait_for(app.stop(), STOP_TIMEOUT_SECONDS)
        except TimeoutError:  # a broker that went away first can hang Faust's shutdown
            logger.error("projection_kafka_worker_stop_timed_out", timeout_s=STOP_TIMEOUT_SECONDS)
        logger.info("projection_kafka_worker_stopped", group_id=app.conf.id)
