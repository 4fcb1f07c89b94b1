"""Killing the projection worker mid-stream loses nothing and doubles nothing.

The worker runs as its own process (`caseweave run projection-worker`), is killed with
SIGKILL part-way through a catch-up, and started again; the single view must then equal a
clean rebuild from the streams, with every event in the timeline exactly once. In Kafka mode
the same events are also on the organisations' topics and the worker is the Faust app.
"""

import asyncio
import signal
import subprocess
import sys
from collections.abc import AsyncIterator
from typing import Any

import asyncpg
import pytest

from events.envelope import Envelope, OrgId
from services.runtime.database import Pool, apply_ddl, create_pool
from services.runtime.event_store import EventStore
from services.runtime.event_store_schema import event_store_ddl
from services.runtime.kafka.messages import message_from_envelope
from services.runtime.kafka.publisher import KafkaPublisher
from services.runtime.kafka.topics import events_topic
from tests.e2e.system import System
from tests.unit.projection.stories import crowd

PEOPLE = 1_500  # about 21,000 events: seconds of catch-up, so the kill lands mid-way


@pytest.fixture
async def seeded(system: System) -> AsyncIterator[tuple[Pool, int]]:
    """The system's database holding three organisations' logs about a crowd of people."""
    pool = await create_pool(system.database_url, max_size=4)
    total = 0
    for org, events in crowd(PEOPLE).items():
        total += await _append_log(pool, org, events)
        if system.kafka_bootstrap_servers:  # what the organisation's outbox relay publishes
            await _publish_log(system.kafka_bootstrap_servers, org, events)
    yield pool, total
    await pool.close()


async def _append_log(pool: Pool, org: OrgId, events: list[Envelope]) -> int:
    await apply_ddl(pool, lock_name=org, statements=event_store_ddl(org))
    streams: dict[str, list[Envelope]] = {}
    for event in events:
        streams.setdefault(f"person-{event.subject}", []).append(event)
    async with pool.acquire() as conn, conn.transaction():
        await EventStore(org).append_many(conn, [(s, 0, e) for s, e in streams.items()])
    return len(events)


async def _publish_log(bootstrap_servers: str, org: OrgId, events: list[Envelope]) -> None:
    publisher = KafkaPublisher(bootstrap_servers)
    await publisher.start()
    try:
        await publisher.publish(events_topic(org), [message_from_envelope(e) for e in events])
    finally:
        await publisher.stop()


def _start_worker(system: System) -> subprocess.Popen[bytes]:
    log = (system.data_dir.parent / "worker.log").open("ab")
    return subprocess.Popen(
        [sys.executable, "-m", "services.cli", "run", "projection-worker"],
        env=system.env, stdout=log, stderr=subprocess.STDOUT,
    )  # fmt: skip


def _start_replay(system: System) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [sys.executable, "-m", "services.cli", "replay", "projection"],
        env=system.env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip


async def _timeline_size(pool: Pool, schema: str = "projection") -> int:
    try:
        return int(await pool.fetchval(f"SELECT count(*) FROM {schema}.timeline"))  # noqa: S608
    except asyncpg.UndefinedTableError:  # the worker has not created its tables yet
        return 0


async def _wait_for_size(pool: Pool, done: Any, seconds: float, schema: str = "projection") -> int:
    for _ in range(int(seconds / 0.02)):
        size = await _timeline_size(pool, schema)
        if done(size):
            return size
        await asyncio.sleep(0.02)
    raise AssertionError(f"timeline stuck at {await _timeline_size(pool, schema)} events")


async def _views(pool: Pool) -> dict[Any, Any]:
    rows = await pool.fetch("SELECT citizen_id, view FROM projection.citizens")
    return {row["citizen_id"]: row["view"] for row in rows}


@pytest.mark.parametrize("system", ["postgres", "kafka_cluster"], indirect=True)
async def test_a_worker_killed_mid_stream_resumes_without_loss_or_duplicates(
    system: System, seeded: tuple[Pool, int]
) -> None:
    """SIGKILL part-way through, restart: every event once, views equal to a clean rebuild."""
    pool, total = seeded
    worker = _start_worker(system)
    try:
        at_kill = await _wait_for_size(pool, lambda size: size > 0, seconds=60)
        worker.send_signal(signal.SIGKILL)
        worker.wait(10)
        assert at_kill < total, "the worker finished before it could be killed mid-stream"

        worker = _start_worker(system)
        await _wait_for_size(pool, lambda size: size >= total, seconds=120)
        worker.send_signal(signal.SIGTERM)
        assert worker.wait(30) == 0
    finally:
        if worker.poll() is None:
            worker.kill()

    after_crash = await _views(pool)
    duplicates = await pool.fetchval(
        "SELECT count(*) - count(DISTINCT event_id) FROM projection.timeline"
    )
    assert await _timeline_size(pool) == total
    assert duplicates == 0

    system.caseweave("replay", "projection")
    assert await _views(pool) == after_crash


async def _schemas_beside(pool: Pool) -> set[str]:
    rows = await pool.fetch("SELECT nspname FROM pg_namespace WHERE nspname LIKE 'projection%'")
    return {row["nspname"] for row in rows}


async def test_a_replay_killed_mid_way_resumes_and_the_live_view_stays_as_it_was(
    system: System, seeded: tuple[Pool, int]
) -> None:
    """`caseweave replay projection` SIGKILLed part-way through its new version: the live
    view is untouched; run again, it says it resumes, finishes, and switches to the same view."""
    pool, total = seeded
    system.caseweave("replay", "projection")  # the first build: the live view
    live = await _views(pool)
    assert len(live) > 0
    replay = _start_replay(system)
    try:
        at_kill = await _wait_for_size(
            pool, lambda size: size > 0, seconds=60, schema="projection_next"
        )
        replay.send_signal(signal.SIGKILL)
        replay.wait(10)
    finally:
        if replay.poll() is None:
            replay.kill()
    assert at_kill < total, "the replay finished before it could be killed mid-way"
    assert await _views(pool) == live

    resumed = system.caseweave("replay", "projection")

    assert "resuming a stopped rebuild" in resumed.stderr
    assert "resumed where a stopped rebuild left off" in resumed.stdout
    assert await _views(pool) == live
    assert await _timeline_size(pool) == total
    assert await _schemas_beside(pool) >= {"projection"}
    assert {"projection_next", "projection_retired"} & await _schemas_beside(pool) == set()
