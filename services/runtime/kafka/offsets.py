"""A Kafka consumer's offsets, kept in PostgreSQL beside the state it writes.

Kafka's own committed offsets are a hint: a consumer saves, in the same transaction as its
writes, the next offset it has not yet applied in each (topic, partition). A message whose
offset is below the saved one has been applied already (Kafka redelivers after a rebalance
or a crash between our commit and Kafka's), and is skipped. A partition with no row has had
nothing applied.
"""

from collections.abc import Iterable, Mapping
from typing import NamedTuple

from services.runtime.database import Connection
from services.runtime.event_store_schema import checked_schema


class TopicPartition(NamedTuple):
    """One partition of one topic."""

    topic: str
    partition: int


def kafka_offsets_ddl(schema: str) -> str:
    """Return the idempotent DDL of a consumer's Kafka offsets table in `schema`.

    Part of a baseline migration, so never edited: a change is a new migration.
    """
    return f"""
        CREATE TABLE IF NOT EXISTS {checked_schema(schema)}.kafka_offsets (
            consumer text NOT NULL,
            topic text NOT NULL,
            partition integer NOT NULL,
            next_offset bigint NOT NULL,
            updated_at timestamptz NOT NULL DEFAULT now(),
            PRIMARY KEY (consumer, topic, partition)
        )"""


class KafkaOffsets:
    """The offsets table in a consumer's own schema."""

    def __init__(self, schema: str, *, consumer: str) -> None:
        self.schema = checked_schema(schema)
        self.consumer = consumer

    async def lock(
        self, conn: Connection, partitions: Iterable[TopicPartition]
    ) -> dict[TopicPartition, int]:
        """Return the next unapplied offset of each partition that has one, locking those rows.

        Two workers that both hold a partition for a moment during a rebalance then apply its
        messages one after the other, and the second skips what the first applied.
        """
        wanted = sorted(set(partitions))
        if not wanted:
            return {}
        await conn.execute(
            f"INSERT INTO {self.schema}.kafka_offsets (consumer, topic, partition, next_offset)"  # noqa: S608 - schema name is checked
            " SELECT $1, t, p, 0 FROM unnest($2::text[], $3::int[]) AS w(t, p)"
            " ORDER BY t, p ON CONFLICT DO NOTHING",
            self.consumer,
            [tp.topic for tp in wanted],
            [tp.partition for tp in wanted],
        )
        rows = await conn.fetch(
            f"SELECT topic, partition, next_offset FROM {self.schema}.kafka_offsets"  # noqa: S608 - schema name is checked
            " WHERE consumer = $1 AND (topic, partition) IN"
            " (SELECT * FROM unnest($2::text[], $3::int[]))"
            " ORDER BY topic, partition FOR UPDATE",
            self.consumer,
            [tp.topic for tp in wanted],
            [tp.partition for tp in wanted],
        )
        return {TopicPartition(r["topic"], r["partition"]): r["next_offset"] for r in rows}

    async def save(self, conn: Connection, next_offsets: Mapping[TopicPartition, int]) -> None:
        """Record the next unapplied offset per partition (never moving one backwards)."""
        if not next_offsets:
            return
        wanted = sorted(next_offsets.items())
        await conn.execute(
            f"UPDATE {self.schema}.kafka_offsets AS o"  # noqa: S608 - schema name is checked
            " SET next_offset = greatest(o.next_offset, w.n), updated_at = now()"
            " FROM unnest($2::text[], $3::int[], $4::bigint[]) AS w(t, p, n)"
            " WHERE o.consumer = $1 AND o.topic = w.t AND o.partition = w.p",
            self.consumer,
            [tp.topic for tp, _ in wanted],
            [tp.partition for tp, _ in wanted],
            [offset for _, offset in wanted],
        )

    async def all(self, conn: Connection) -> dict[TopicPartition, int]:
        """Return every partition's next unapplied offset."""
        rows = await conn.fetch(
            f"SELECT topic, partition, next_offset FROM {self.schema}.kafka_offsets"  # noqa: S608 - schema name is checked
            " WHERE consumer = $1",
            self.consumer,
        )
        return {TopicPartition(r["topic"], r["partition"]): r["next_offset"] for r in rows}

    async def reset(self, conn: Connection) -> None:
        """Forget every offset: the consumer applies each partition from its start again."""
        await conn.execute(
            f"DELETE FROM {self.schema}.kafka_offsets WHERE consumer = $1",  # noqa: S608 - schema name is checked
            self.consumer,
        )
