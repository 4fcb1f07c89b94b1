"""Rebuilding the projection from the logs gives the same views and timelines, even mid-flight."""

import asyncio
from collections.abc import Callable

from structlog.testing import capture_logs

from services.projection.bootstrap import rebuild_projection
from services.projection.service_layer.rebuild import ReplayProgress
from tests.integration.projection.conftest import ID_SECRET, Organisations, eventually
from tests.unit.projection.stories import crowd, three_organisations_story


async def test_a_rebuild_gives_identical_views_and_timelines(orgs: Organisations) -> None:
    """Built live in small batches between recordings, or replayed at once: the same read model."""
    logs = {
        org: [*story, *more]
        for (org, story), more in zip(
            three_organisations_story().items(), crowd(20).values(), strict=True
        )
    }
    total = sum(len(events) for events in logs.values())
    for part in range(3):
        await orgs.record_logs({org: events[part::3] for org, events in logs.items()})
        await orgs.catch_up(orgs.consumer(batch_size=7))
    before = await orgs.snapshot()
    progress: list[ReplayProgress] = []

    replayed = await rebuild_projection(
        pool=orgs.pool, sources=orgs.sources, schema=orgs.schema, id_secret=ID_SECRET,
        on_progress=progress.append,
    )  # fmt: skip

    assert replayed == total
    assert progress[-1].done == total
    assert await orgs.snapshot() == before
    assert (
        len(before[0]) == 20 + 1 + 7
    )  # crowd people, story person, crowd's unlinked charity people


async def test_two_consumers_at_once_build_what_one_would(
    orgs: Organisations, unique_schema: Callable[[str], str]
) -> None:
    """Two consumers racing over the same logs serialise on checkpoints and citizens."""
    await orgs.record_logs(crowd(60))
    await asyncio.gather(
        orgs.catch_up(orgs.consumer(batch_size=13)), orgs.catch_up(orgs.consumer(batch_size=29))
    )
    assert await orgs.snapshot() == await orgs.reference(unique_schema)


async def test_a_rebuild_while_the_worker_runs_corrupts_nothing(
    orgs: Organisations, database_url: str, unique_schema: Callable[[str], str]
) -> None:
    """The worker keeps consuming while a rebuild truncates and replays: the result is whole."""
    first, second = crowd(40), crowd(40, start=500_000_000)
    total = sum(len(e) for e in first.values()) + sum(len(e) for e in second.values())
    stop = asyncio.Event()
    with capture_logs() as logs:
        worker = orgs.start_worker(database_url, stop)
        try:
            await orgs.record_logs(first)
            await eventually(lambda: timeline_holds(orgs, total - 40 * 14), what="the first half")
            rebuilding = asyncio.create_task(
                rebuild_projection(
                    pool=orgs.pool, sources=orgs.sources, schema=orgs.schema, id_secret=ID_SECRET
                )
            )
            await orgs.record_logs(second)
            await rebuilding
            await eventually(lambda: timeline_holds(orgs, total), what="every event")
        finally:
            stop.set()
            await worker
    assert [e for e in logs if e["event"] == "projection_worker_failed"] == []
    assert await orgs.snapshot() == await orgs.reference(unique_schema)


async def timeline_holds(orgs: Organisations, events: int) -> bool:
    count = await orgs.pool.fetchval(f"SELECT count(*) FROM {orgs.schema}.timeline")  # noqa: S608
    return bool(count == events)
