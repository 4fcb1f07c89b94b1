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
import tempfile
import threading
from collections.abc import Awaitable, Callable, Collection, Sequence
from pathlib import Path
from typing import Any

import faust
import structlog
from faust.types import TP
from mode.threads import ServiceThread, WorkerThread

from services.runtime.kafka.consumed import ConsumedMessage, consumed_message
from services.runtime.kafka.offsets import TopicPartition

logger = structlog.get_logger("caseweave.projection.faust")
GROUP_ID = "caseweave-projection"
BATCH_SIZE = 1000
BATCH_WITHIN_SECONDS = 0.2
STOP_TIMEOUT_SECONDS = 20.0
CONSUMER_THREAD_END_SECONDS = 5.0
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
    faust_data = Path(tempfile.gettempdir()) / "caseweave-faust"  # none: the app has no tables
    faust_data.mkdir(exist_ok=True)  # Faust makes its own directory inside, not the parents
    app = faust.App(
        group_id,
        broker=[f"kafka://{server.strip()}" for server in bootstrap_servers.split(",")],
        topic_allow_declare=False,
        topic_disable_leader=True,
        web_enabled=False,
        datadir=str(faust_data / "{conf.name}-data"),  # not the working directory
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

    def held(self) -> set[TopicPartition]:
        """Return the partitions assigned to this worker (none before it has joined)."""
        try:
            assigned = self._app.consumer.assignment()
        except Exception:  # Faust's consumer not started yet (or stopped): it holds nothing
            return set()
        return {TopicPartition(tp.topic, tp.partition) for tp in assigned}

    async def end_offsets(
        self, partitions: Collection[TopicPartition]
    ) -> dict[TopicPartition, int]:
        """Return the broker's end offset (the next offset to be written) of each partition."""
        found = await self._app.consumer.highwaters(*(TP(*tp) for tp in partitions))
        return {TopicPartition(tp.topic, tp.partition): offset for tp, offset in found.items()}


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


async def run_faust_app(
    app: faust.App, stop: asyncio.Event, *, stop_timeout: float = STOP_TIMEOUT_SECONDS
) -> None:
    """Run `app` in this event loop until `stop` is set, then stop it (bounded in time).

    A stop while Faust is still starting (joining the group can wait on a rebalance) ends
    the start too.
    """
    bound_consumer_thread(app)
    starting = asyncio.ensure_future(app.start())
    stopped = asyncio.ensure_future(stop.wait())
    try:
        await asyncio.wait({starting, stopped}, return_when=asyncio.FIRST_COMPLETED)
        if starting.done():
            starting.result()  # a start that failed fails the worker
            logger.info("projection_kafka_worker_started", group_id=app.conf.id)
            await stopped
    finally:
        stopped.cancel()
        await stop_faust_app(app, stop_timeout)
        if not starting.done():
            starting.cancel()
            logger.error("projection_kafka_worker_start_abandoned")
        logger.info("projection_kafka_worker_stopped", group_id=app.conf.id)


async def stop_faust_app(app: faust.App, within: float) -> None:
    """Stop `app`; if that takes over `within` seconds, end its consumer thread to finish."""
    stopping = asyncio.ensure_future(app.stop())
    # not wait_for: Faust's stop can swallow a cancellation and go on waiting for ever
    done, _ = await asyncio.wait({stopping}, timeout=within)
    if not done:  # seen when a rebalance or a vanished broker holds up the consumer thread
        logger.error("projection_kafka_worker_stop_timed_out", timeout_s=within)
        await end_consumer_thread(app)
        # with its thread gone, the rest of Faust's stop goes through
        done, _ = await asyncio.wait({stopping}, timeout=CONSUMER_THREAD_END_SECONDS)
    if not done:
        stopping.cancel()
        logger.error("projection_kafka_worker_stop_abandoned")
    elif (failure := stopping.exception()) is not None:
        logger.error("projection_kafka_worker_stop_failed", error=repr(failure))


class BoundedConsumerThread(WorkerThread):
    """The thread Faust's consumer runs in, as a daemon whose stop waits a bounded time.

    mode's own waits for ever, blocking the event loop (its stop is called from it): a
    consumer stuck cancelling its tasks would freeze the worker, timeouts and signals too.
    """

    def __init__(self, service: ServiceThread, **kwargs: Any) -> None:
        super().__init__(service, **kwargs)
        self.daemon = True  # stuck on a vanished broker, it must not keep the process alive

    def stop(self) -> None:
        """Wait (blocking, bounded) for the thread to finish."""
        if self.is_stopped.wait(CONSUMER_THREAD_END_SECONDS) and self.is_alive():
            self.join(CONSUMER_THREAD_END_SECONDS)


def bound_consumer_thread(app: faust.App) -> None:
    """Make the thread Faust's consumer will start a `BoundedConsumerThread`."""
    service = getattr(app.consumer, "_thread", None)  # mode ServiceThread (faust-streaming 0.15)
    if isinstance(service, ServiceThread):
        service.Worker = BoundedConsumerThread


async def end_consumer_thread(app: faust.App) -> None:
    """Stop the event loop of the thread Faust's consumer runs in, and wait for the thread.

    For a stop that timed out: the thread is not a daemon, so one still retrying a broker
    that went away (or stuck in a rebalance) would keep the process from ever exiting.
    """
    thread = getattr(app.consumer, "_thread", None)  # mode ServiceThread (faust-streaming 0.15)
    loop = getattr(thread, "thread_loop", None)
    worker = getattr(thread, "_thread", None)  # its threading.Thread
    if not isinstance(loop, asyncio.AbstractEventLoop) or loop.is_closed():
        return
    with contextlib.suppress(RuntimeError):  # closed meanwhile: the thread is ending anyway
        loop.call_soon_threadsafe(loop.stop)
    if isinstance(worker, threading.Thread):
        await asyncio.to_thread(worker.join, CONSUMER_THREAD_END_SECONDS)
        if worker.is_alive():
            logger.error("projection_kafka_consumer_thread_still_running", thread=worker.name)
