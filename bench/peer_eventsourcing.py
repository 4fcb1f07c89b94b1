"""The peer's side: the same work through `eventsourcing`'s PostgreSQL application recorder.

The recorder is synchronous (psycopg 3), so it runs in a worker thread, and its concurrent
appends use one thread per connection. Each figure gets its own schema: a clean table.

Batched appends use the recorder's `enable_db_functions` mode (one INSERT through a stored
function) instead of its default pipeline (LOCK TABLE, NOTIFY, INSERT pipelined): the
default deadlocks in psycopg's pipeline mode once a batch outgrows the socket send buffer
(1,000 events of ~700 B over a Unix socket, as with the embedded server). Over TCP, where
both work, the function mode was ~5% faster, so this favours the peer slightly.
"""

import asyncio
import time
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from importlib.metadata import version

import psycopg
from eventsourcing.persistence import StoredEvent
from eventsourcing.postgres import PostgresApplicationRecorder, PostgresDatastore
from psycopg.conninfo import conninfo_to_dict
from psycopg.sql import SQL, Identifier

from bench import payloads
from bench.figures import Run, append_figures, read_figure
from bench.part import BenchContext, Measurement
from bench.payloads import StreamEvent
from bench.sizes import BATCH, CONCURRENCY, EVENTS, EVENTS_PER_STREAM, SINGLE_EVENTS
from bench.timing import settle
from bench.workload import by_stream_owner, in_batches


async def run_appends(ctx: BenchContext) -> list[Measurement]:
    """Measure the peer's batched, sequential single and concurrent single appends."""
    return await asyncio.to_thread(_appends, ctx)


async def run_read(ctx: BenchContext) -> list[Measurement]:
    """Measure the peer reading all notifications in batches, as its consumers do."""
    return await asyncio.to_thread(_read, ctx)


def describe() -> str:
    """Return the peer's library versions, warning when psycopg runs its pure-Python code."""
    impl = psycopg.pq.__impl__
    text = (
        f"eventsourcing {version('eventsourcing')} PostgresApplicationRecorder,"
        f" psycopg {psycopg.__version__} ({impl} implementation, libpq {psycopg.pq.version()});"
        " batched appends in its enable_db_functions mode"
    )
    if impl == "python":
        text += " WARNING: pure-Python psycopg is slow; install psycopg[binary]"
    return text


def _appends(ctx: BenchContext) -> list[Measurement]:
    per_stream, concurrency = ctx.size(EVENTS_PER_STREAM.name), ctx.size(CONCURRENCY.name)
    bulk = payloads.in_stream_order(ctx.size(EVENTS.name), per_stream)
    single = payloads.interleaved(ctx.size(SINGLE_EVENTS.name), per_stream)
    return append_figures(
        "peer",
        batched=append_batched(ctx.peer_url, bulk, batch=ctx.size(BATCH.name)),
        single=append_sequentially(ctx.peer_url, single),
        concurrent=append_concurrently(ctx.peer_url, single, concurrency),
    )


def _read(ctx: BenchContext) -> list[Measurement]:
    events = payloads.in_stream_order(ctx.size(EVENTS.name), ctx.size(EVENTS_PER_STREAM.name))
    batch = ctx.size(BATCH.name)
    append_batched(ctx.peer_url, events, batch=batch, schema="read_log")  # untimed seeding
    run = read_notifications(ctx.peer_url, schema="read_log", batch=batch)
    assert run.count == len(events), f"read {run.count} of {len(events)} notifications"
    return [read_figure("peer", run)]


def new_recorder(
    url: str, *, schema: str, pool_size: int = 1, db_functions: bool = False
) -> PostgresApplicationRecorder:
    """Create the peer's tables in a new `schema` and return a recorder with an open pool."""
    datastore = PostgresDatastore(
        **connection_params(url), pool_size=pool_size, schema=schema,
        originator_id_type="text",  # our stream ids are text; the peer's default is uuid
        enable_db_functions=db_functions,
    )  # fmt: skip
    with datastore.transaction(commit=True) as cursor:
        cursor.execute(SQL("CREATE SCHEMA IF NOT EXISTS {}").format(Identifier(schema)))
    recorder = PostgresApplicationRecorder(datastore)
    recorder.create_table()
    datastore.pool.open(wait=True)  # every connection opened before any clock starts
    return recorder


def connection_params(url: str) -> dict[str, str]:
    """Return the server, database and login of `url` as `PostgresDatastore` takes them."""
    info = conninfo_to_dict(url)
    names = ("dbname", "host", "port", "user", "password")
    return {name: str(info.get(name, "")) for name in names}


def append_batched(
    url: str, events: Sequence[StreamEvent], *, batch: int, schema: str = "append_batched"
) -> Run:
    """Insert `events` with `insert_events`, `batch` events per call (one transaction each)."""
    recorder = new_recorder(url, schema=schema, db_functions=True)  # see the module docstring
    batches = [_stored(chunk) for chunk in in_batches(events, batch)]
    try:
        settle()
        start = time.perf_counter()
        for stored in batches:
            recorder.insert_events(stored)
        seconds = time.perf_counter() - start
        _check_stored(recorder, len(events))
        return Run(len(events), seconds)
    finally:
        recorder.datastore.close()


def append_sequentially(url: str, events: Sequence[StreamEvent]) -> Run:
    """Insert `events` one per `insert_events` call, one after another."""
    recorder = new_recorder(url, schema="append_single")
    stored = _stored(events)
    try:
        settle()
        start = time.perf_counter()
        durations = _insert_each(recorder, stored)
        seconds = time.perf_counter() - start
        _check_stored(recorder, len(events))
        return Run(len(events), seconds, durations)
    finally:
        recorder.datastore.close()


def append_concurrently(url: str, events: Sequence[StreamEvent], concurrency: int) -> Run:
    """Insert `events` one per call from `concurrency` threads, each its own streams."""
    recorder = new_recorder(url, schema="append_concurrent", pool_size=concurrency)
    shares = [_stored(share) for share in by_stream_owner(events, concurrency)]
    try:
        with ThreadPoolExecutor(max_workers=len(shares)) as threads:
            settle()
            start = time.perf_counter()
            results = list(threads.map(lambda share: _insert_each(recorder, share), shares))
            seconds = time.perf_counter() - start
        _check_stored(recorder, len(events))
        return Run(len(events), seconds, [d for durations in results for d in durations])
    finally:
        recorder.datastore.close()


def read_notifications(url: str, *, schema: str, batch: int) -> Run:
    """Read every notification with `select_notifications`, `batch` at a time."""
    recorder = new_recorder(url, schema=schema)
    try:
        count, after = 0, 0
        settle()
        start = time.perf_counter()
        while notifications := recorder.select_notifications(
            after, batch, inclusive_of_start=False
        ):
            count, after = count + len(notifications), notifications[-1].id
        return Run(count, time.perf_counter() - start)
    finally:
        recorder.datastore.close()


def _check_stored(recorder: PostgresApplicationRecorder, expected: int) -> None:
    stored = recorder.max_notification_id()  # ids are 1..n when no insert failed
    assert stored == expected, f"the peer holds {stored} events, not {expected}"


def _insert_each(
    recorder: PostgresApplicationRecorder, stored: Sequence[StoredEvent]
) -> list[float]:
    durations: list[float] = []
    for event in stored:
        start = time.perf_counter()
        recorder.insert_events([event])
        durations.append(time.perf_counter() - start)
    return durations


def _stored(events: Sequence[StreamEvent]) -> list[StoredEvent]:
    return [
        StoredEvent(
            originator_id=e.stream_id, originator_version=e.version, topic=e.envelope.type,
            state=payloads.as_json(e.envelope),
        )
        for e in events
    ]  # fmt: skip
