"""Every process `caseweave up` starts, and a lone projection worker, serves /metrics."""

import asyncio
import socket
import subprocess
import sys
from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import asyncpg
import httpx
import pytest

from events.envelope import Envelope
from services.runtime.database import Pool, apply_ddl, create_pool
from services.runtime.event_store import EventStore
from services.runtime.event_store_schema import event_store_ddl
from tests.e2e.system import PERSON, SERVICES, System, running, wait_for
from tests.scraped_metrics import sample, samples
from tests.unit.projection.stories import crowd

LAG = "caseweave_consumer_lag_events"


def _scrape(system: System, port_of: str) -> str:
    """Return the /metrics page on a port of the system, fetched without an API key."""
    page = httpx.get(f"http://127.0.0.1:{system.ports[port_of]}/metrics", timeout=10)
    assert page.status_code == 200, page.text
    return page.text


def _lag_of_projection(system: System, port_of: str) -> str | None:
    """Return the page once it shows the projection's lag, caught up on housing's events."""
    return _caught_up_on_housing(system, port_of, consumer="projection")


def _caught_up_on_housing(system: System, port_of: str, *, consumer: str) -> str | None:
    """Return the page once it shows `consumer`'s lag on housing's log or topic, all 0."""
    try:
        page = _scrape(system, port_of)
    except httpx.HTTPError:  # the lone worker is still starting
        return None
    on_housing = [
        labels
        for labels in samples(page, LAG)
        if labels["consumer"] == consumer and "housing" in labels["source"]
    ]
    caught_up = all(sample(page, LAG, **labels) == 0 for labels in on_housing)
    return page if on_housing and caught_up else None


def _worker_page(system: System) -> str | None:
    """Return the lone worker's page: with its lag on the logs in embedded mode; in Kafka
    mode as soon as it answers (it has partitions only once the group has rebalanced)."""
    if not system.kafka_bootstrap_servers:
        return _lag_of_projection(system, "worker_metrics")
    try:
        return _scrape(system, "worker_metrics")
    except httpx.HTTPError:
        return None


@contextmanager
def _lone_worker(system: System, log_path: Path) -> Iterator[subprocess.Popen[bytes]]:
    """Run `caseweave run projection-worker` beside the system for the block."""
    with log_path.open("ab") as log:
        worker = subprocess.Popen(
            [sys.executable, "-m", "services.cli", "run", "projection-worker"],
            env=system.env, stdout=log, stderr=subprocess.STDOUT,
        )  # fmt: skip
    try:
        yield worker
    finally:
        if worker.poll() is None:
            worker.terminate()
            worker.wait(60)


# in Kafka mode too with `./test -m slow`: the default suite must stay under CI's 15 minutes,
# and the Kafka transport is covered end to end by the frontline story and the failover tests
@pytest.mark.parametrize(
    "system", ["postgres", pytest.param("kafka", marks=pytest.mark.slow)], indirect=True
)
def test_every_process_serves_metrics_without_a_key_and_without_personal_data(
    system: System, tmp_path: Path
) -> None:
    """Each service counts its requests by route; housing counts its event and (in Kafka mode)
    what its relay published; the projection, an inbox and a lone worker export their lag."""
    with running(system, tmp_path / "system.log"):
        headers = {"Authorization": f"Bearer {system.create_key('housing')}"}
        registered = httpx.post(
            f"{system.url('housing')}/v1/people", json=PERSON, headers=headers, timeout=10
        )
        assert registered.status_code == 201, registered.text
        projection = wait_for(
            lambda: _lag_of_projection(system, "projection"), timeout=60, what="projection lag"
        )
        voluntary = wait_for(
            lambda: _caught_up_on_housing(system, "voluntary", consumer="voluntary_referral_inbox"),
            timeout=60, what="the voluntary sector's inbox lag",
        )  # fmt: skip
        pages = {name: _scrape(system, name) for name in SERVICES}
        pages |= {"projection": projection, "voluntary": voluntary}
        with _lone_worker(system, tmp_path / "worker.log"):
            worker = wait_for(lambda: _worker_page(system), timeout=60, what="the lone worker")

    housing = pages["housing"]
    assert sample(housing, "caseweave_events_appended_total", org="housing") == 1
    assert sample(
        housing, "caseweave_http_requests_total",
        service="housing", method="POST", route="/v1/people", status="201",
    ) == 1  # fmt: skip
    if system.kafka_bootstrap_servers:
        assert sample(housing, "caseweave_relay_published_total", org="housing") == 1
        assert sample(housing, "caseweave_relay_lag_events", org="housing") == 0
    assert f"# TYPE {LAG} gauge" in worker
    for name, page in pages.items():
        assert "caseweave_http_requests_total{" in page, name
        assert registered.json()["person_id"] not in page
        assert "9434765919" not in page


async def test_a_worker_whose_metrics_port_is_taken_says_so_and_projects_anyway(
    system: System, tmp_path: Path
) -> None:
    """Metrics are not worth a stopped projection: one log line, and the worker works on."""
    log_path = tmp_path / "worker.log"
    pool = await create_pool(system.database_url, max_size=2)
    try:
        recorded = await _record_housing_log(pool)
        with socket.socket() as taken:
            taken.bind(("127.0.0.1", system.ports["worker_metrics"]))
            taken.listen()
            with _lone_worker(system, log_path) as worker:
                await _until(lambda: _timeline_size(pool), recorded)
                assert b"metrics_port_unavailable" in log_path.read_bytes()
                worker.terminate()
                assert worker.wait(60) == 0
    finally:
        await pool.close()


async def _record_housing_log(pool: Pool) -> int:
    """Append a few people's housing events to housing's log; return how many."""
    events = crowd(3)["housing"]
    streams: dict[str, list[Envelope]] = {}
    for event in events:
        streams.setdefault(f"person-{event.subject}", []).append(event)
    await apply_ddl(pool, lock_name="housing", statements=event_store_ddl("housing"))
    async with pool.acquire() as conn, conn.transaction():
        await EventStore("housing").append_many(conn, [(s, 0, e) for s, e in streams.items()])
    return len(events)


async def _timeline_size(pool: Pool) -> int:
    try:
        return int(await pool.fetchval("SELECT count(*) FROM projection.timeline"))
    except asyncpg.UndefinedTableError:  # the worker has not made its tables yet
        return 0


async def _until(size: Callable[[], Awaitable[int]], wanted: int, seconds: float = 60) -> None:
    for _ in range(int(seconds / 0.05)):
        if await size() >= wanted:
            return
        await asyncio.sleep(0.05)
    raise AssertionError(f"stuck at {await size()} of {wanted}")
