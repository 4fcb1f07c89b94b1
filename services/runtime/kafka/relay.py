"""The outbox relay: publishes one organisation's log to its Kafka topic, at least once.

Per batch: read the relay's checkpoint (a short transaction), read the events after it, send
them all, wait until the broker has acknowledged every one, then move the checkpoint (another
short transaction). No transaction stays open while Kafka is waited on. A crash between the
acknowledgements and the checkpoint sends the batch again on restart, with the same event ids:
consumers dedupe by `event_id`. Order per person holds because the log keeps each stream in
order and every event of a person is keyed by the same `subject`.

While the acknowledgements do not come (fewer copies in sync than `min.insync.replicas`, no
leader), the producer retries for as long as it takes and the relay makes no progress: it
says so with a `kafka_relay_waiting_for_acks` warning every WAIT_WARNING_SECONDS.
"""

import asyncio
import time

import structlog

from events.envelope import OrgId
from services.runtime.checkpoints import Checkpoints
from services.runtime.database import Pool, transaction
from services.runtime.event_log import EventLog, LoggedEvent, LogPosition
from services.runtime.kafka.messages import message_from_envelope
from services.runtime.kafka.publisher import Publisher, TopicMissing
from services.runtime.kafka.topics import events_topic
from services.runtime.metrics import count_relay_published

logger = structlog.get_logger("caseweave.kafka.relay")
CONSUMER = "kafka_relay"
BATCH_SIZE = 500
WAIT_WARNING_SECONDS = 10.0


class OutboxRelay:
    """Publishes an organisation's events to Kafka, checkpoint after acknowledgement."""

    def __init__(
        self,
        pool: Pool,
        publisher: Publisher,
        *,
        org: OrgId,
        schema: str,
        topic: str | None = None,
        batch_size: int = BATCH_SIZE,
        wait_warning_seconds: float = WAIT_WARNING_SECONDS,
    ) -> None:
        self.org = org
        self.topic = topic or events_topic(org)
        self._pool = pool
        self._publisher = publisher
        self._checkpoints = Checkpoints(schema, consumer=CONSUMER)
        self._batch_size = batch_size
        self._wait_warning_seconds = wait_warning_seconds
        self._topic_checked = False

    async def start(self) -> None:
        """Refuse to run (TopicMissing) unless the relay's topic exists."""
        if not await self._publisher.topic_exists(self.topic):
            raise TopicMissing(self.topic)
        self._topic_checked = True

    async def handle_next_batch(self, log: EventLog) -> int:
        """Publish the events after the checkpoint in `log`; return how many were sent."""
        if not self._topic_checked:
            await self.start()
        started = time.perf_counter()
        after = await self._checkpoint(log.source)
        batch = await log.read_after(after, limit=self._batch_size)
        if not batch:
            return 0
        await self._publish(batch)
        async with transaction(self._pool) as conn:
            await self._checkpoints.save(conn, log.source, batch[-1].position)
        count_relay_published(self.org, len(batch))
        self._log_batch(log.source, after, batch, started)
        return len(batch)

    async def _publish(self, batch: list[LoggedEvent]) -> None:
        """Send `batch` and wait until every event is acknowledged, warning while it is not."""
        sending = asyncio.ensure_future(
            self._publisher.publish(self.topic, [message_from_envelope(e.envelope) for e in batch])
        )
        started = time.monotonic()
        try:
            while not (await asyncio.wait({sending}, timeout=self._wait_warning_seconds))[0]:
                logger.warning(
                    "kafka_relay_waiting_for_acks",
                    org=self.org,
                    topic=self.topic,
                    events=len(batch),
                    waited_s=round(time.monotonic() - started, 1),
                )
        finally:
            sending.cancel()  # a no-op once done; else the relay itself is being cancelled
        sending.result()

    async def _checkpoint(self, source: str) -> LogPosition:
        async with transaction(self._pool) as conn:
            return await self._checkpoints.lock(conn, source)

    def _log_batch(
        self, source: str, after: LogPosition, batch: list[LoggedEvent], started: float
    ) -> None:
        logger.info(
            "kafka_relay_batch",
            org=self.org,
            source=source,
            topic=self.topic,
            events=len(batch),
            after=_position(after),
            upto=_position(batch[-1].position),
            duration_ms=round((time.perf_counter() - started) * 1000, 1),
        )


def _position(position: LogPosition) -> str:
    return f"{position.transaction_id}:{position.position}"
