"""Reading a whole topic, or one message of it, with aiokafka and no consumer group."""

import asyncio
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from aiokafka import AIOKafkaConsumer
from aiokafka import TopicPartition as KafkaTP

from services.runtime.kafka.messages import Headers
from services.runtime.kafka.publisher import TopicMissing

STALLED_SECONDS = 30.0  # no message for this long, though the end is not reached: give up


class TopicReadStalled(Exception):
    """The broker stopped handing over messages before the end of the topic."""


@dataclass(frozen=True)
class Copy:
    """One message of the topic as it is stored there."""

    partition: int
    offset: int
    timestamp_ms: int
    key: bytes | None
    value: bytes | None
    headers: Headers


async def read_topic(bootstrap_servers: str, topic: str) -> list[Copy]:
    """Return every message of `topic` up to its end now, partition by partition."""
    consumer = _consumer(bootstrap_servers)
    await consumer.start()
    try:
        partitions = await _partitions(consumer, topic)
        ends: dict[KafkaTP, int] = await consumer.end_offsets(partitions)
        await consumer.seek_to_beginning(*partitions)
        return await _read_to(consumer, ends)
    finally:
        await consumer.stop()


async def read_copy(bootstrap_servers: str, topic: str, partition: int, offset: int) -> Copy | None:
    """Return the message at `offset` of a partition of `topic` (None: no longer there)."""
    consumer = _consumer(bootstrap_servers)
    await consumer.start()
    try:
        await _exists(consumer, topic)
        where = KafkaTP(topic, partition)
        consumer.assign([where])
        consumer.seek(where, offset)
        ends = await consumer.end_offsets([where])
        found = await _read_to(consumer, {where: min(ends[where], offset + 1)})
    finally:
        await consumer.stop()
    return next((copy for copy in found if copy.offset == offset), None)


def _consumer(bootstrap_servers: str) -> AIOKafkaConsumer:
    return AIOKafkaConsumer(
        bootstrap_servers=bootstrap_servers, group_id=None, enable_auto_commit=False,
        auto_offset_reset="earliest", client_id="caseweave-dead-letters",
    )  # fmt: skip


async def _exists(consumer: AIOKafkaConsumer, topic: str) -> None:
    """Raise TopicMissing unless `topic` exists (asking for every topic creates none)."""
    if topic not in await consumer.topics():
        raise TopicMissing(topic)


async def _partitions(consumer: AIOKafkaConsumer, topic: str) -> list[KafkaTP]:
    """Subscribe to `topic` (without a group: all its partitions) and return its partitions."""
    await _exists(consumer, topic)
    consumer.subscribe([topic])
    deadline = time.monotonic() + STALLED_SECONDS
    while not (assigned := consumer.assignment()):  # once the topic's metadata has come
        if time.monotonic() > deadline:
            raise TopicReadStalled(f"no partitions of {topic} after {STALLED_SECONDS:.0f} s")
        await asyncio.sleep(0.05)
    return sorted(assigned)


async def _read_to(consumer: AIOKafkaConsumer, ends: dict[KafkaTP, int]) -> list[Copy]:
    found: list[Copy] = []
    last_progress = time.monotonic()
    while await _behind(consumer, ends):
        batch = await consumer.getmany(*ends, timeout_ms=500)
        records = [r for tp, rs in batch.items() for r in rs if r.offset < ends[tp]]
        found += [_copy(r) for r in records]
        if records:
            last_progress = time.monotonic()
        elif time.monotonic() - last_progress > STALLED_SECONDS:
            raise TopicReadStalled(f"no message for {STALLED_SECONDS:.0f} s before the end")
        await asyncio.sleep(0)
    return sorted(found, key=lambda copy: (copy.timestamp_ms, copy.partition, copy.offset))


async def _behind(consumer: AIOKafkaConsumer, ends: dict[KafkaTP, int]) -> bool:
    positions = [await consumer.position(tp) for tp in ends]
    return any(position < end for position, end in zip(positions, ends.values(), strict=True))


def _copy(record: Any) -> Copy:  # aiokafka's ConsumerRecord: untyped
    headers: Sequence[tuple[str, bytes]] = record.headers or ()
    return Copy(
        partition=record.partition, offset=record.offset, timestamp_ms=record.timestamp,
        key=record.key, value=record.value, headers=tuple((n, bytes(v)) for n, v in headers),
    )  # fmt: skip
