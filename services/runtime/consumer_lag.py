"""How far behind a consumer is, sampled for the metrics when /metrics is scraped.

Embedded transport: the events in a log after the consumer's checkpoint (the checkpoint is
the pair the log is read in, so this counts exactly what is still to come, including events
committed but held back behind an open transaction). Kafka: per partition this process
holds, the broker's end offset minus the next offset the consumer saved in PostgreSQL.
"""

from collections.abc import Awaitable, Callable, Collection, Mapping

import asyncpg

from events.envelope import OrgId
from services.runtime.database import Connection, Pool
from services.runtime.event_store_schema import checked_schema
from services.runtime.kafka.offsets import KafkaOffsets, TopicPartition
from services.runtime.metrics import Sampler, forget_consumer_lag, set_consumer_lag

EndOffsets = Callable[[Collection[TopicPartition]], Awaitable[Mapping[TopicPartition, int]]]


class LogLag:
    """A consumer's lag in the embedded logs it reads, from its checkpoints."""

    def __init__(
        self, pool: Pool, *, schema: str, consumer: str, logs: Mapping[OrgId, str]
    ) -> None:
        """`schema` holds the consumer's checkpoints; `logs` names each organisation's log
        (its schema)."""
        self._pool = pool
        self._schema = checked_schema(schema)
        self._consumer = consumer
        self._logs = {source: checked_schema(log) for source, log in logs.items()}

    async def events_behind(self) -> dict[str, int]:
        """Return, per source log, how many events follow the consumer's checkpoint."""
        async with self._pool.acquire() as conn:
            return {
                source: await self._behind(conn, source, log) for source, log in self._logs.items()
            }

    async def _behind(self, conn: Connection, source: str, log: str) -> int:
        try:
            behind = await conn.fetchval(
                f"SELECT count(*) FROM {log}.events"  # noqa: S608 - schema names are checked
                " WHERE (transaction_id, position) > (SELECT coalesce(max(transaction_id), 0),"
                f" coalesce(max(position), 0) FROM {self._schema}.checkpoints"
                " WHERE consumer = $1 AND source = $2)",
                self._consumer,
                source,
            )
        except asyncpg.UndefinedTableError:  # a service that never started has no log yet
            return 0
        return int(behind)


def log_lag_sampler(lag: LogLag, report: Callable[[str, int], None]) -> Sampler:
    """Return a sampler that hands each source's lag to `report`."""

    async def sample() -> None:
        for source, events in (await lag.events_behind()).items():
            report(source, events)

    return sample


class PartitionLag:
    """A Kafka consumer's lag on the partitions this process holds (a Sampler)."""

    def __init__(
        self,
        pool: Pool,
        offsets: KafkaOffsets,
        *,
        consumer: str,
        held: Callable[[], Collection[TopicPartition]],
        end_offsets: EndOffsets,
    ) -> None:
        self._pool = pool
        self._offsets = offsets
        self._consumer = consumer
        self._held = held
        self._end_offsets = end_offsets
        self._reported: set[TopicPartition] = set()

    async def __call__(self) -> None:
        """Export the lag of each held partition; forget partitions no longer held here."""
        held = set(self._held())
        ends = await self._end_offsets(held) if held else {}
        async with self._pool.acquire() as conn:
            saved = await self._offsets.all(conn)
        for tp, end in ends.items():
            lag = max(0, end - saved.get(tp, 0))
            set_consumer_lag(self._consumer, tp.topic, lag, partition=str(tp.partition))
        for tp in self._reported - set(ends):
            forget_consumer_lag(self._consumer, tp.topic, partition=str(tp.partition))
        self._reported = set(ends)
