"""The event store: streams with optimistic concurrency and idempotent appends."""

import asyncio
from collections.abc import Callable

import pytest

from services.runtime.database import Pool, apply_ddl
from services.runtime.event_store import (
    EventIdReused,
    EventStore,
    StreamConflict,
    TransactionTooOld,
)
from services.runtime.event_store_schema import event_store_ddl
from tests.factories import an_envelope


@pytest.fixture
async def store(pool: Pool, unique_schema: Callable[[str], str]) -> EventStore:
    schema = unique_schema("store")
    await apply_ddl(pool, lock_name=schema, statements=event_store_ddl(schema))
    return EventStore(schema)


async def test_appended_events_read_back_in_order(pool: Pool, store: EventStore) -> None:
    """A stream returns exactly what was appended, in order, with versions from 1."""
    first, second = an_envelope(data={"n": 1}), an_envelope(data={"n": 2})
    async with pool.acquire() as conn:
        version = await store.append(
            conn, stream_id="s-1", expected_version=0, events=[first, second]
        )
        stored = await store.read_stream(conn, "s-1")
    assert version == 2
    assert [e.envelope for e in stored] == [first, second]
    assert [e.stream_version for e in stored] == [1, 2]


async def test_append_at_a_stale_version_is_a_conflict(pool: Pool, store: EventStore) -> None:
    """Two writers who read version 1 cannot both append: the second gets a conflict."""
    async with pool.acquire() as conn:
        await store.append(conn, stream_id="s-2", expected_version=0, events=[an_envelope()])
        await store.append(conn, stream_id="s-2", expected_version=1, events=[an_envelope()])
        with pytest.raises(StreamConflict) as conflict:
            await store.append(conn, stream_id="s-2", expected_version=1, events=[an_envelope()])
    assert (conflict.value.expected, conflict.value.actual) == (1, 2)


async def test_retrying_an_append_with_the_same_event_ids_writes_nothing(
    pool: Pool, store: EventStore
) -> None:
    """A client that retries after a lost response does not double its events."""
    events = [an_envelope(), an_envelope()]
    async with pool.acquire() as conn:
        await store.append(conn, stream_id="s-3", expected_version=0, events=events)
        version = await store.append(conn, stream_id="s-3", expected_version=0, events=events)
        stored = await store.read_stream(conn, "s-3")
    assert version == 2
    assert len(stored) == 2


async def test_an_event_id_cannot_be_reused_for_another_stream(
    pool: Pool, store: EventStore
) -> None:
    """An event id names one event only; reusing it elsewhere is refused, not ignored."""
    event = an_envelope()
    async with pool.acquire() as conn:
        await store.append(conn, stream_id="s-4", expected_version=0, events=[event])
        with pytest.raises(EventIdReused):
            await store.append(conn, stream_id="s-5", expected_version=0, events=[event])


async def test_concurrent_appends_to_one_stream_let_exactly_one_win(
    pool: Pool, store: EventStore
) -> None:
    """Ten writers racing at version 0: one succeeds, nine see a conflict, nothing is lost."""

    async def write() -> bool:
        async with pool.acquire() as conn, conn.transaction():
            try:
                await store.append(
                    conn, stream_id="race", expected_version=0, events=[an_envelope()]
                )
            except StreamConflict:
                return False
            return True

    results = await asyncio.gather(*(write() for _ in range(10)))
    async with pool.acquire() as conn:
        stored = await store.read_stream(conn, "race")
    assert results.count(True) == 1
    assert len(stored) == 1


async def test_an_event_id_cannot_be_reused_for_a_different_event(
    pool: Pool, store: EventStore
) -> None:
    """A "retry" whose payload differs is not a retry: it is refused, not silently ignored."""
    first = an_envelope(data={"flag": "risk_to_staff"})
    other = first.model_copy(update={"data": {"flag": "lone_working_only"}})
    async with pool.acquire() as conn:
        await store.append(conn, stream_id="s-6", expected_version=0, events=[first])
        with pytest.raises(EventIdReused):
            await store.append(conn, stream_id="s-6", expected_version=0, events=[other])


async def test_a_transaction_older_than_the_streams_last_writer_must_retry(
    pool: Pool, store: EventStore
) -> None:
    """Log order stays stream order: an append from an older transaction is sent to retry.

    The old transaction took its id with an earlier write; a newer one appended to the stream
    and committed; appending now would put version 2 before version 1 in the log.
    """
    async with pool.acquire() as old, pool.acquire() as new:
        async with old.transaction():
            await store.append(old, stream_id="other", expected_version=0, events=[an_envelope()])
            async with new.transaction():
                await store.append(new, stream_id="s-7", expected_version=0, events=[an_envelope()])
            with pytest.raises(TransactionTooOld):
                await store.append(old, stream_id="s-7", expected_version=1, events=[an_envelope()])
        async with old.transaction():
            await store.append(old, stream_id="s-7", expected_version=1, events=[an_envelope()])
        rows = await old.fetch(
            f"SELECT stream_version FROM {store.schema}.events WHERE stream_id = 's-7'"  # noqa: S608
            " ORDER BY transaction_id, position"
        )
    assert [r["stream_version"] for r in rows] == [1, 2]
