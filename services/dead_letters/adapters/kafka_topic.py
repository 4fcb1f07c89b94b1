"""Dead letters on the Kafka dead-letter topic, and what became of each (in PostgreSQL).

The topic is read whole, without a consumer group (nothing is committed, every run reads it
all); a source message copied there twice is one dead letter. The topic itself is never
written: what operators did is kept in the consumer's `dead_letter_dispositions`, keyed by
the source message's position, beside the state the consumer writes.
"""

from collections.abc import Mapping
from datetime import UTC, datetime

import asyncpg

from services.dead_letters.adapters.settlement import (
    Consumer,
    StatusRow,
    discard_once,
    redrive_once,
)
from services.dead_letters.adapters.topic_reading import Copy, read_copy, read_topic
from services.dead_letters.domain import (
    DeadLetter,
    ParkedMessage,
    Settled,
    Status,
    TopicOrigin,
    topic_letter_id,
)
from services.runtime.database import Pool
from services.runtime.kafka import dead_letters as headers
from services.runtime.kafka.consumed import ConsumedMessage
from services.runtime.kafka.topics import DEAD_LETTER_TOPIC

_OURS = {
    headers.REASON, headers.DETAIL, headers.SOURCE_TOPIC, headers.SOURCE_PARTITION,
    headers.SOURCE_OFFSET, headers.CONSUMER,
}  # fmt: skip
Position = tuple[str, str, int, int]  # consumer, topic, partition, offset


class KafkaDeadLetters:
    """The dead-letter topic's messages as dead letters (a DeadLetterStore)."""

    def __init__(
        self,
        pool: Pool,
        *,
        bootstrap_servers: str,
        consumers: Mapping[str, Consumer],
        topic: str = DEAD_LETTER_TOPIC,
    ) -> None:
        self._pool = pool
        self._bootstrap_servers = bootstrap_servers
        self._consumers = consumers
        self._topic = topic
        self._copies: dict[str, Copy] = {}  # by letter id: the first copy read

    async def dead_letters(self) -> list[DeadLetter]:
        """Return every dead letter on the topic, with what became of it."""
        first: dict[str, tuple[DeadLetter, Copy]] = {}
        for copy in await read_topic(self._bootstrap_servers, self._topic):
            letter = _letter(self._topic, copy)
            first.setdefault(letter.id, (letter, copy))  # a second copy is the same letter
        self._copies.update((letter_id, copy) for letter_id, (_, copy) in first.items())
        settled = await self._dispositions()
        return [_settled_as(letter, settled.get(_position(letter))) for letter, _ in first.values()]

    async def message(self, letter: DeadLetter) -> ParkedMessage | None:
        """Return the message as its consumer received it, dead-letter headers aside."""
        assert isinstance(letter.origin, TopicOrigin)
        copy = self._copies.get(letter.id) or await read_copy(
            self._bootstrap_servers, self._topic, letter.origin.copy_partition,
            letter.origin.copy_offset,
        )  # fmt: skip
        if copy is None:
            return None
        return ParkedMessage(letter, copy.key, copy.value, copy.headers)

    async def redrive(self, letter: DeadLetter) -> Settled:
        """Apply the message with its consumer's code and record it, once."""
        consumer = self._consumers.get(letter.consumer)
        if consumer is None:
            return Settled(letter.id, "no_consumer")
        parked = await self.message(letter)
        if parked is None:
            return Settled(letter.id, "failed", detail="no longer on the dead-letter topic")
        message = _as_received(parked)
        return await redrive_once(
            self._pool, self._row(consumer, letter), letter.id,
            lambda conn: consumer.apply_message(conn, message),
        )  # fmt: skip

    async def discard(self, letter: DeadLetter) -> Settled:
        """Record that the message is not to be applied."""
        consumer = self._consumers.get(letter.consumer)
        if consumer is None:
            return Settled(letter.id, "no_consumer")
        return await discard_once(self._pool, self._row(consumer, letter), letter.id)

    def _row(self, consumer: Consumer, letter: DeadLetter) -> StatusRow:
        key = zip(("consumer", "topic", "partition", "offset"), _position(letter), strict=True)
        return StatusRow(
            f"{consumer.schema}.dead_letter_dispositions", tuple(key),
            ("last_reason", "last_detail"), made_on_demand=True,
        )  # fmt: skip

    async def _dispositions(self) -> dict[Position, asyncpg.Record]:
        found: dict[Position, asyncpg.Record] = {}
        for schema in sorted({c.schema for c in self._consumers.values()}):
            mine = [name for name, c in self._consumers.items() if c.schema == schema]
            try:
                rows = await self._pool.fetch(
                    'SELECT consumer, topic, partition, "offset", status, settled_at, attempts,'  # noqa: S608 - schema names are checked
                    f" last_reason, last_detail FROM {schema}.dead_letter_dispositions"
                    " WHERE consumer = ANY($1::text[])",
                    mine,
                )
            except asyncpg.UndefinedTableError:
                continue  # that consumer never ran with this release: nothing settled there
            found.update(
                {(r["consumer"], r["topic"], r["partition"], r["offset"]): r for r in rows}
            )
        return found


def _letter(topic: str, copy: Copy) -> DeadLetter:
    found = {name: value.decode(errors="replace") for name, value in copy.headers}
    consumer = found.get(headers.CONSUMER, "")
    origin = TopicOrigin(
        topic=found.get(headers.SOURCE_TOPIC, topic),
        partition=_number(found.get(headers.SOURCE_PARTITION), copy.partition),
        offset=_number(found.get(headers.SOURCE_OFFSET), copy.offset),
        copy_partition=copy.partition,
        copy_offset=copy.offset,
    )
    return DeadLetter(
        id=topic_letter_id(consumer, origin.topic, origin.partition, origin.offset),
        parked_at=datetime.fromtimestamp(copy.timestamp_ms / 1000, UTC),
        consumer=consumer,
        reason=found.get(headers.REASON, "unknown"),
        detail=found.get(headers.DETAIL, ""),
        event_type=found.get("event_type"),
        event_id=found.get("event_id"),
        origin=origin,
    )


def _number(text: str | None, otherwise: int) -> int:
    """Return a header's number; a message without it is taken as its own source."""
    return int(text) if text is not None and text.isdecimal() else otherwise


def _position(letter: DeadLetter) -> Position:
    origin = letter.origin
    assert isinstance(origin, TopicOrigin)
    return (letter.consumer, origin.topic, origin.partition, origin.offset)


def _settled_as(letter: DeadLetter, row: asyncpg.Record | None) -> DeadLetter:
    if row is None:
        return letter
    status: Status = row["status"]
    return DeadLetter(
        id=letter.id, parked_at=letter.parked_at, consumer=letter.consumer,
        reason=row["last_reason"] or letter.reason, detail=row["last_detail"] or letter.detail,
        event_type=letter.event_type, event_id=letter.event_id, origin=letter.origin,
        status=status, settled_at=row["settled_at"], attempts=row["attempts"],
    )  # fmt: skip


def _as_received(parked: ParkedMessage) -> ConsumedMessage:
    """Return the message as it was on its own topic, without the dead-letter headers."""
    origin = parked.letter.origin
    assert isinstance(origin, TopicOrigin)
    return ConsumedMessage(
        topic=origin.topic, partition=origin.partition, offset=origin.offset, key=parked.key,
        value=parked.value, headers=tuple(h for h in parked.headers if h[0] not in _OURS),
    )  # fmt: skip
