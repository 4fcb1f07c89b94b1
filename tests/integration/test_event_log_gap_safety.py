"""The embedded transport never skips an event that commits late.

A sequence number is taken at insert but becomes visible only at commit; a reader that
checkpoints "highest position seen" skips the row that commits last. These tests show the
log reader waits for it instead, deterministically and under many concurrent writers.
"""

import asyncio
import random
from collections.abc import Callable
from uuid import UUID

import pytest
from structlog.testing import capture_logs

from services.runtime.database import Pool, apply_ddl
from services.runtime.event_log import LOG_START, LogPosition, PostgresEventLog
from services.runtime.event_store import EventStore
from services.runtime.event_store_schema import event_store_ddl
from tests.factories import an_envelope


@pytest.fixture
async def schema(pool: Pool, unique_schema: Callable[[str], str]) -> str:
    name = unique_schema("gaps")
    await apply_ddl(pool, lock_name=name, statements=event_store_ddl(name))
    return name


async def test_an_event_that_commits_late_is_read_before_later_ones(
    pool: Pool, schema: str
) -> None:
    """Position 1 commits after position 2: the reader still delivers both, 1 first."""
    store, log = EventStore(schema), PostgresEventLog(pool, source="housing", schema=schema)
    early, late = an_envelope(), an_envelope()
    slow = await pool.acquire()
    try:
        slow_tx = slow.transaction()
        await slow_tx.start()
        await store.append(slow, stream_id="slow", expected_version=0, events=[early])
        async with pool.acquire() as fast:
            await store.append(fast, stream_id="fast", expected_version=0, events=[late])

        assert await log.read_after(LOG_START, limit=10) == []  # 2 is held back, not skipped
        await slow_tx.commit()
    finally:
        await pool.release(slow)

    read = await log.read_after(LOG_START, limit=10)
    assert [e.envelope.event_id for e in read] == [early.event_id, late.event_id]
    assert await log.read_after(read[-1].position, limit=10) == []


async def test_a_naive_position_reader_would_have_skipped_that_event(
    pool: Pool, schema: str
) -> None:
    """The same interleaving through "position > last seen" loses an event: the bug we avoid."""
    store = EventStore(schema)
    slow = await pool.acquire()
    try:
        slow_tx = slow.transaction()
        await slow_tx.start()
        await store.append(slow, stream_id="slow", expected_version=0, events=[an_envelope()])
        async with pool.acquire() as fast:
            await store.append(fast, stream_id="fast", expected_version=0, events=[an_envelope()])
        naive_seen = await pool.fetch(f"SELECT position FROM {schema}.events ORDER BY position")  # noqa: S608
        await slow_tx.commit()
    finally:
        await pool.release(slow)
    all_positions = await pool.fetch(f"SELECT position FROM {schema}.events ORDER BY position")  # noqa: S608
    last_seen = max(r["position"] for r in naive_seen)
    missed = [r["position"] for r in all_positions if r["position"] < last_seen]
    assert missed  # the late row sits below the naive checkpoint: never read again


@pytest.mark.parametrize("run", range(3))
async def test_many_concurrent_writers_one_reader_nothing_missed_nothing_twice(
    pool: Pool, schema: str, run: int
) -> None:
    """Twelve writers committing at random moments; the reader sees every event exactly once."""
    store, log = EventStore(schema), PostgresEventLog(pool, source="housing", schema=schema)
    written: list[UUID] = []
    seen: list[UUID] = []
    writers_done = asyncio.Event()

    async def writer(n: int) -> None:
        for i in range(25):
            event = an_envelope()
            async with pool.acquire() as conn, conn.transaction():
                await store.append(conn, stream_id=f"w{n}-{i}", expected_version=0, events=[event])
                await asyncio.sleep(random.random() / 200)  # hold the transaction open a while
            written.append(event.event_id)

    async def reader() -> None:
        position = LogPosition(0, 0)
        while True:
            finished = writers_done.is_set()
            batch = await log.read_after(position, limit=7)
            seen.extend(e.envelope.event_id for e in batch)
            if batch:
                position = batch[-1].position
            elif finished:
                return
            else:
                await asyncio.sleep(0.001)

    reading = asyncio.create_task(reader())
    await asyncio.gather(*(writer(n) for n in range(12)))
    writers_done.set()
    await reading

    assert len(seen) == len(written) == 300
    assert set(seen) == set(written)


async def test_events_held_back_by_an_open_transaction_are_reported_not_silent(
    pool: Pool, schema: str
) -> None:
    """A forgotten open transaction stalls readers; the log says so and names its session."""
    store = EventStore(schema)
    watch_now = PostgresEventLog(pool, source="housing", schema=schema, warn_held_back_after=0)
    forgotten = await pool.acquire()
    try:
        await forgotten.execute("BEGIN")
        await forgotten.fetchval("SELECT pg_current_xact_id()")  # holds the horizon
        async with pool.acquire() as writer:
            await store.append(writer, stream_id="held", expected_version=0, events=[an_envelope()])
        with capture_logs() as logs:
            assert await watch_now.read_after(LOG_START, limit=10) == []
        [warning] = [e for e in logs if e["event"] == "log_held_back_by_open_transaction"]
        assert warning["blocking_pid"] == forgotten.get_server_pid()
        await forgotten.execute("ROLLBACK")
    finally:
        await pool.release(forgotten)
    assert len(await watch_now.read_after(LOG_START, limit=10)) == 1
