"""Poison messages set aside: sent to the dead-letter topic, and counted in PostgreSQL.

A dead letter keeps the original key, value and headers, and adds headers that say where it
came from and why it was refused, so an operator can fix and re-publish it. The count lives
in the consumer's schema (one row per source message, so a redelivered poison message is
counted once and not sent again), written in the same transaction as the batch it arrived
in. The dead-letter topic is still at-least-once: the message is sent before that transaction
commits, so a failure between the two sends it again on retry; the
`dead_letter_source_topic/_partition/_offset` headers identify a repeat.
"""

from collections.abc import Sequence

from services.runtime.database import Connection
from services.runtime.event_store_schema import checked_schema
from services.runtime.kafka.consumed import PoisonMessage
from services.runtime.kafka.messages import KafkaMessage

REASON = "dead_letter_reason"
DETAIL = "dead_letter_detail"
SOURCE_TOPIC = "dead_letter_source_topic"
SOURCE_PARTITION = "dead_letter_source_partition"
SOURCE_OFFSET = "dead_letter_source_offset"
CONSUMER = "dead_letter_consumer"


def dead_letter_message(poison: PoisonMessage, *, consumer: str) -> KafkaMessage:
    """Return the dead-letter topic's copy of a poison message, with the reason in headers."""
    source = poison.message
    ours = {REASON, DETAIL, SOURCE_TOPIC, SOURCE_PARTITION, SOURCE_OFFSET, CONSUMER}
    kept = tuple((name, value) for name, value in source.headers if name not in ours)
    return KafkaMessage(
        key=source.key or b"",
        value=source.value or b"",
        headers=(
            *kept,
            (REASON, poison.reason.encode()),
            (DETAIL, poison.detail.encode()),
            (SOURCE_TOPIC, source.topic.encode()),
            (SOURCE_PARTITION, str(source.partition).encode()),
            (SOURCE_OFFSET, str(source.offset).encode()),
            (CONSUMER, consumer.encode()),
        ),
    )


def dead_letters_ddl(schema: str) -> str:
    """Return the idempotent DDL of a consumer's record of the poison messages it set aside.

    Part of a baseline migration, so never edited: a change is a new migration.
    """
    return f"""
        CREATE TABLE IF NOT EXISTS {checked_schema(schema)}.dead_letters (
            consumer text NOT NULL,
            topic text NOT NULL,
            partition integer NOT NULL,
            "offset" bigint NOT NULL,
            reason text NOT NULL,
            detail text NOT NULL,
            event_type text,
            event_id text,
            dead_lettered_at timestamptz NOT NULL DEFAULT now(),
            PRIMARY KEY (consumer, topic, partition, "offset")
        )"""


class DeadLetterRecord:
    """The dead_letters table in a consumer's own schema."""

    def __init__(self, schema: str, *, consumer: str) -> None:
        self.schema = checked_schema(schema)
        self.consumer = consumer

    async def add(self, conn: Connection, poison: Sequence[PoisonMessage]) -> list[PoisonMessage]:
        """Record poison messages (in the caller's transaction); return those not seen before.

        A message set aside earlier (a redelivery, or a replay of the topics) is not recorded
        or sent to the dead-letter topic again.
        """
        new = []
        for p in poison:
            inserted = await conn.fetchval(
                f"INSERT INTO {self.schema}.dead_letters"  # noqa: S608 - schema name is checked
                ' (consumer, topic, partition, "offset", reason, detail, event_type, event_id)'
                " VALUES ($1, $2, $3, $4, $5, $6, $7, $8) ON CONFLICT DO NOTHING RETURNING true",
                self.consumer,
                p.message.topic,
                p.message.partition,
                p.message.offset,
                p.reason,
                p.detail,
                p.event_type,
                p.event_id,
            )
            if inserted:
                new.append(p)
        return new

    async def count_by_reason(self, conn: Connection) -> dict[str, int]:
        """Return how many messages were set aside, per reason."""
        rows = await conn.fetch(
            f"SELECT reason, count(*) AS n FROM {self.schema}.dead_letters"  # noqa: S608 - schema name is checked
            " WHERE consumer = $1 GROUP BY reason",
            self.consumer,
        )
        return {row["reason"]: row["n"] for row in rows}


def dead_letter_dispositions_ddl(schema: str) -> str:
    """Return the idempotent DDL of what operators did with a consumer's dead letters.

    Keyed like `dead_letters` (the source message's position): a dead letter copied twice
    to the dead-letter topic is one dead letter. A row is written by `caseweave dead-letters`
    in the same transaction as the redriven message's effects; no row means still parked.
    Part of a baseline migration, so never edited: a change is a new migration.
    """
    return f"""
        CREATE TABLE IF NOT EXISTS {checked_schema(schema)}.dead_letter_dispositions (
            consumer text NOT NULL,
            topic text NOT NULL,
            partition integer NOT NULL,
            "offset" bigint NOT NULL,
            status text NOT NULL DEFAULT 'parked'
                CHECK (status IN ('parked', 'redriven', 'discarded')),
            settled_at timestamptz,
            attempts integer NOT NULL DEFAULT 0,
            last_reason text,
            last_detail text,
            PRIMARY KEY (consumer, topic, partition, "offset")
        )"""
