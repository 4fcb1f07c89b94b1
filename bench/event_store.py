"""Caseweave's side: appends through `EventStore` and read-back through `PostgresEventLog`."""

import asyncio
import itertools
import time
from collections.abc import Sequence
from operator import attrgetter

from bench import payloads
from bench.figures import Run, append_figures, read_figure
from bench.part import BenchContext, Measurement
from bench.payloads import StreamEvent
from bench.sizes import BATCH, CONCURRENCY, EVENTS, EVENTS_PER_STREAM, SINGLE_EVENTS
from bench.timing import settle
from bench.workload import by_stream_owner, in_batches
from events.envelope import Envelope
from services.runtime.database import Connection, Pool, apply_ddl, create_pool
from services.runtime.event_log import LOG_START, PostgresEventLog
from services.runtime.event_store import EventStore
from services.runtime.event_store_schema import event_store_ddl
from services.runtime.person_keys import KEYS_SCHEMA, PersonKeys, person_keys_ddl

AppendManyArgs = list[tuple[str, int, list[Envelope]]]
_READABLE_WITHIN_SECONDS = 60


async def run_appends(ctx: BenchContext) -> list[Measurement]:
    """Measure batched, sequential single and concurrent single appends, each on a new table."""
    pool = await create_pool(ctx.ours_url, max_size=ctx.size(CONCURRENCY.name) + 1)
    try:
        per_stream = ctx.size(EVENTS_PER_STREAM.name)
        bulk = payloads.in_stream_order(ctx.size(EVENTS.name), per_stream)
        single = payloads.interleaved(ctx.size(SINGLE_EVENTS.name), per_stream)
        return append_figures(
            "ours",
            batched=await append_batched(pool, bulk, batch=ctx.size(BATCH.name)),
            single=await append_sequentially(pool, single),
            concurrent=await append_concurrently(pool, single, ctx.size(CONCURRENCY.name)),
        )
    finally:
        await pool.close()


async def run_read(ctx: BenchContext) -> list[Measurement]:
    """Measure reading a whole log of `events` events in batches, as a consumer does."""
    pool = await create_pool(ctx.ours_url, max_size=2)
    try:
        events = payloads.in_stream_order(ctx.size(EVENTS.name), ctx.size(EVENTS_PER_STREAM.name))
        batch = ctx.size(BATCH.name)
        await append_batched(pool, events, batch=batch, schema="read_log")  # untimed seeding
        await until_readable(pool, schema="read_log")
        run = await read_log(pool, schema="read_log", batch=batch)
        assert run.count == len(events), f"read {run.count} of {len(events)} events"
        return [read_figure("ours", run)]
    finally:
        await pool.close()


async def new_store(pool: Pool, schema: str, keys: PersonKeys | None = None) -> EventStore:
    """Create an empty event store in `schema` and return it (sealing with `keys`, if any)."""
    await apply_ddl(pool, lock_name=schema, statements=event_store_ddl(schema))
    if keys is not None:
        await apply_ddl(pool, lock_name=KEYS_SCHEMA, statements=person_keys_ddl())
    return EventStore(schema, keys=keys)


async def append_batched(
    pool: Pool,
    events: Sequence[StreamEvent],
    *,
    batch: int,
    schema: str = "append_batched",
    keys: PersonKeys | None = None,
) -> Run:
    """Append `events` with `append_many`, `batch` events per transaction."""
    store = await new_store(pool, schema, keys)
    batches = [_append_many_args(chunk) for chunk in in_batches(events, batch)]
    async with pool.acquire() as conn:
        settle()
        start = time.perf_counter()
        for streams in batches:
            async with conn.transaction():
                await store.append_many(conn, streams)
        seconds = time.perf_counter() - start
    await _check_stored(pool, store, len(events))
    return Run(len(events), seconds)


async def append_sequentially(pool: Pool, events: Sequence[StreamEvent]) -> Run:
    """Append `events` one per transaction with `append`, one after another on one connection."""
    store = await new_store(pool, "append_single")
    async with pool.acquire() as conn:
        settle()
        start = time.perf_counter()
        durations = await _append_each(conn, store, events)
        seconds = time.perf_counter() - start
    await _check_stored(pool, store, len(events))
    return Run(len(events), seconds, durations)


async def append_concurrently(pool: Pool, events: Sequence[StreamEvent], concurrency: int) -> Run:
    """Append `events` one per transaction from `concurrency` connections, each its own streams."""
    store = await new_store(pool, "append_concurrent")
    shares = by_stream_owner(events, concurrency)
    connections = [await pool.acquire() for _ in shares]  # opened before the clock starts
    try:
        settle()
        start = time.perf_counter()
        results = await asyncio.gather(
            *(
                _append_each(conn, store, share)
                for conn, share in zip(connections, shares, strict=True)
            )
        )
        seconds = time.perf_counter() - start
    finally:
        for conn in connections:
            await pool.release(conn)
    await _check_stored(pool, store, len(events))
    return Run(len(events), seconds, [d for durations in results for d in durations])


async def read_log(pool: Pool, *, schema: str, batch: int) -> Run:
    """Read the whole log with `PostgresEventLog.read_after`, `batch` events at a time."""
    log = PostgresEventLog(pool, source="housing", schema=schema)
    count, after = 0, LOG_START
    settle()
    start = time.perf_counter()
    while events := await log.read_after(after, limit=batch):
        count, after = count + len(events), events[-1].position
    return Run(count, time.perf_counter() - start)


async def _append_each(
    conn: Connection,
    store: EventStore,
    events: Sequence[StreamEvent],
) -> list[float]:
    durations: list[float] = []
    for event in events:
        start = time.perf_counter()
        await store.append(
            conn,
            stream_id=event.stream_id,
            expected_version=event.version - 1,
            events=[event.envelope],
        )
        durations.append(time.perf_counter() - start)
    return durations


async def until_readable(pool: Pool, *, schema: str) -> None:
    """Wait until every event is below the log's watermark, so that the read sees them all.

    The watermark is the oldest transaction still open anywhere on the server, in any
    database: on a shared server another client's transaction holds it back.
    """
    visible = (
        "SELECT max(transaction_id) < pg_snapshot_xmin(pg_current_snapshot())::text::bigint"  # noqa: S608 - schema name is ours
        f" FROM {schema}.events"
    )
    async with asyncio.timeout(_READABLE_WITHIN_SECONDS):
        while not await pool.fetchval(visible):  # noqa: ASYNC110 - polls the server: no event to await
            await asyncio.sleep(0.05)


async def _check_stored(pool: Pool, store: EventStore, expected: int) -> None:
    stored = await pool.fetchval(f"SELECT count(*) FROM {store.schema}.events")  # noqa: S608 - checked schema name
    assert stored == expected, f"{store.schema} holds {stored} events, not {expected}"


def _append_many_args(chunk: Sequence[StreamEvent]) -> AppendManyArgs:
    return [
        (stream_id, events[0].version - 1, [e.envelope for e in events])
        for stream_id, group in itertools.groupby(chunk, key=attrgetter("stream_id"))
        for events in [list(group)]
    ]
