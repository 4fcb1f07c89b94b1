"""Projection catch-up: fold three organisations' logs into an empty single view, then rebuild it.

The catch-up is what the worker does on a fresh read model (`ProjectionConsumer` and
`catch_up_concurrently` over `PostgresEventLog`s, on a pool sized as the worker sizes it);
the rebuild is what `caseweave replay projection` does (`rebuild_projection` on a pool of 5,
over the read model the catch-up filled: emptying it is part of the time). Both run with the
garbage-collector setting those processes use (`collect_garbage_less_often`). The peer's
catch-up (`bench/peer_projection.py`) reports under the same key, `CATCH_UP`.
"""

import sys
import time

from bench.cpu import CpuSpent
from bench.figures import Run
from bench.part import BenchContext, Measurement, SizeOption
from bench.read_model import (
    ID_SECRET,
    KEYS,
    Seeded,
    as_projection_process,
    check_read_model,
    quiet_logs,
    seed_events,
)
from bench.timing import per_second, settle
from events.envelope import OrgId
from events.organisations import DEFAULT_ORGANISATIONS
from services.projection.adapters.postgres_unit_of_work import postgres_units
from services.projection.adapters.read_model_schema import prepare_read_model
from services.projection.bootstrap import (
    catch_up_concurrently,
    rebuild_projection,
)
from services.projection.service_layer.log_projection import ProjectionConsumer
from services.runtime.database import create_pool
from services.runtime.event_log import PostgresEventLog

PROJECTION_EVENTS = SizeOption(
    "projection_events",
    100_000,
    "events in the three organisations' logs the projection (and the peer's) catches up with"
    " (whole people, about 14 events each, so a few more)",
)
CATCH_UP = "projection.catch_up"  # the figure's key: the peer's figure pairs with it
CATCH_UP_LABEL = "projection catch-up from empty (worker)"
_SOURCES: dict[OrgId, str] = {org: f"catch_up_{org}" for org in DEFAULT_ORGANISATIONS.ids}
_READ_MODEL = "catch_up_projection"
_WORKER_POOL = 3 * len(_SOURCES) + 1  # as run_projection_worker sizes it
_REPLAY_POOL = 5  # as `caseweave replay projection` sizes it


async def run(ctx: BenchContext) -> list[Measurement]:
    """Measure a fresh catch-up with the logs, and a rebuild, in events per second."""
    with quiet_logs():
        pool = await create_pool(ctx.ours_url, max_size=2)
        try:
            seeded = await seed_events(pool, ctx.size(PROJECTION_EVENTS.name), _SOURCES)
        finally:
            await pool.close()
        with as_projection_process():
            caught_up = await _catch_up(ctx.ours_url, seeded)
            rebuilt = await _rebuild(ctx.ours_url, seeded)
    return [
        Measurement(
            CATCH_UP, CATCH_UP_LABEL, "events/s", "ours",
            per_second(caught_up.count, caught_up.seconds),
        ),
        Measurement(
            "projection.rebuild", "projection rebuild (replay)", "events/s", "ours",
            per_second(rebuilt.count, rebuilt.seconds),
        ),
    ]  # fmt: skip


async def _catch_up(url: str, seeded: Seeded) -> Run:
    pool = await create_pool(url, max_size=_WORKER_POOL)
    try:
        await prepare_read_model(pool, _READ_MODEL)
        units = postgres_units(pool, _READ_MODEL, keys=KEYS)
        consumer = ProjectionConsumer(units, id_secret=ID_SECRET)
        logs = [PostgresEventLog(pool, source=org, schema=s) for org, s in _SOURCES.items()]
        settle()
        spent, start = CpuSpent.now(), time.perf_counter()
        handled = await catch_up_concurrently(consumer, logs)
        seconds, spent = time.perf_counter() - start, CpuSpent.now() - spent
        _print_cpu("catch-up", spent, handled)
        await check_read_model(pool, _READ_MODEL, seeded)
    finally:
        await pool.close()
    _check_handled("catch-up", handled, seeded)
    return Run(handled, seconds)


async def _rebuild(url: str, seeded: Seeded) -> Run:
    pool = await create_pool(url, max_size=_REPLAY_POOL)
    try:
        settle()
        spent, start = CpuSpent.now(), time.perf_counter()
        replayed = await rebuild_projection(
            pool=pool, sources=_SOURCES, schema=_READ_MODEL, id_secret=ID_SECRET, keys=KEYS
        )
        seconds, spent = time.perf_counter() - start, CpuSpent.now() - spent
        _print_cpu("rebuild", spent, replayed)
        await check_read_model(pool, _READ_MODEL, seeded)
    finally:
        await pool.close()
    _check_handled("rebuild", replayed, seeded)
    return Run(replayed, seconds)


def _check_handled(what: str, handled: int, seeded: Seeded) -> None:
    if handled != seeded.events:
        raise RuntimeError(f"the {what} handled {handled:,} events, not {seeded.events:,}")


def _print_cpu(title: str, spent: CpuSpent, events: int) -> None:
    """Print what each event cost the projection (this process) and PostgreSQL in CPU."""
    cost = spent.per(max(events, 1), "event", serial=False, this="projection")
    print(f"  {title}: {cost}", file=sys.stderr, flush=True)
