"""Single-view read latency: the real projection service answering over HTTP, one client.

The read model is built in-process (untimed) from the logs of a crowd that makes `citizens`
citizens, in the schemas the service reads; then `python -m services.cli run projection`
serves it and one keep-alive `httpx.Client` asks for random citizens' views and timelines.
"""

import asyncio
import random
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass
from uuid import UUID

import httpx

from bench import crowd
from bench.cpu import CpuSpent
from bench.figures import Run
from bench.part import BenchContext, Measurement, SizeOption
from bench.read_model import ID_SECRET, KEYS, check_read_model, quiet_logs, seed_people
from bench.service_process import caseweave_service
from bench.timing import latency, per_second, settle
from events.organisations import DEFAULT_ORGANISATIONS
from services.projection.bootstrap import rebuild_projection
from services.runtime.api_keys import ApiKeyStore
from services.runtime.database import Pool, create_pool

CITIZENS = SizeOption("citizens", 10_000, "citizens in the read model the view part reads")
VIEW_REQUESTS = SizeOption(
    "view_requests", 2_000, "timed requests per endpoint in the view part (plus 10% warm-up)"
)
_READ_MODEL = "projection"  # the service's own schemas: it reads what `caseweave up` would

_SOURCES = {org: org for org in DEFAULT_ORGANISATIONS.ids}  # each organisation's log


@dataclass(frozen=True)
class Endpoint:
    """A GET the part times: its key and name in the report, and its path for a citizen."""

    key: str
    name: str
    path: str

    def of(self, citizen: UUID) -> str:
        """Return the path for one citizen."""
        return self.path.format(citizen=citizen)


ENDPOINTS = (
    Endpoint("view", "single view", "/v1/citizens/{citizen}"),
    Endpoint("timeline", "timeline", "/v1/citizens/{citizen}/timeline"),
)


async def run(ctx: BenchContext) -> list[Measurement]:
    """Measure GET of citizens' single views and timelines: p50, p99 and requests/s."""
    people = crowd.people_for_citizens(ctx.size(CITIZENS.name))
    with quiet_logs():
        pool = await create_pool(ctx.ours_url, max_size=5)
        try:
            citizens, api_key = await _build(pool, people)
        finally:
            await pool.close()
    requests = ctx.size(VIEW_REQUESTS.name)
    async with caseweave_service("projection", ctx.ours_url, id_secret=ID_SECRET) as base_url:
        settle()
        runs = await asyncio.to_thread(_measure, base_url, api_key, citizens, requests)
    return [m for endpoint in ENDPOINTS for m in _figures(endpoint, runs[endpoint.key])]


async def _build(pool: Pool, people: int) -> tuple[list[UUID], str]:
    """Seed the logs, rebuild the read model, issue a key; return the citizen ids and key."""
    seeded = await seed_people(pool, people, _SOURCES)
    await rebuild_projection(
        pool=pool, sources=_SOURCES, schema=_READ_MODEL, id_secret=ID_SECRET,
        keys=KEYS,
    )  # fmt: skip
    await check_read_model(pool, _READ_MODEL, seeded)
    rows = await pool.fetch(f"SELECT citizen_id FROM {_READ_MODEL}.citizens")  # noqa: S608 - constant
    api_key = await ApiKeyStore(pool).issue(org="housing", role="frontline")
    return [row["citizen_id"] for row in rows], api_key


def _measure(
    base_url: str, api_key: str, citizens: Sequence[UUID], requests: int
) -> dict[str, Run]:
    """Warm up, then time `requests` GETs of each endpoint on random citizens (in a thread)."""
    rng = random.Random(42)
    headers = {"Authorization": f"Bearer {api_key}"}
    runs: dict[str, Run] = {}
    with httpx.Client(base_url=base_url, headers=headers, timeout=30) as client:
        for endpoint in ENDPOINTS:
            for citizen in rng.choices(citizens, k=max(requests // 10, 1)):
                _check_answer(client.get(endpoint.of(citizen)), citizen)
            paths = [endpoint.of(citizen) for citizen in rng.choices(citizens, k=requests)]
            runs[endpoint.key] = _timed_gets(endpoint.key, client, paths)
    return runs


def _timed_gets(title: str, client: httpx.Client, paths: Sequence[str]) -> Run:
    """GET each path in turn, timing each request and the whole loop; fail on any non-200."""
    durations: list[float] = []
    statuses: list[int] = []
    spent = CpuSpent.now()
    began = time.perf_counter()
    for path in paths:
        start = time.perf_counter()
        response = client.get(path)
        durations.append(time.perf_counter() - start)
        statuses.append(response.status_code)
    seconds, spent = time.perf_counter() - began, CpuSpent.now() - spent
    failed = [status for status in statuses if status != 200]
    if failed:
        raise RuntimeError(f"{len(failed)} of {len(paths)} requests failed: {sorted(set(failed))}")
    print(
        f"  {title}: {spent.per(len(paths), 'request', serial=True)}", file=sys.stderr, flush=True
    )
    return Run(len(paths), seconds, durations)


def _check_answer(response: httpx.Response, citizen: UUID) -> None:
    """Fail unless a warm-up answer is the citizen's, with something in it."""
    response.raise_for_status()
    body = response.json()
    if body.get("citizen_id") != str(citizen) or not (
        body.get("events") or body.get("involvements")
    ):
        raise RuntimeError(f"unexpected answer for citizen {citizen}: {response.text[:300]}")


def _figures(endpoint: Endpoint, run: Run) -> list[Measurement]:
    timing, key, name = latency(run.durations), endpoint.key, endpoint.name
    return [
        Measurement(
            f"{key}.rate", f"{name} GET, one client", "requests/s", "ours",
            per_second(run.count, run.seconds),
        ),
        Measurement(f"{key}.p50", f"  latency p50, {name}", "ms", "ours", timing.p50_ms),
        Measurement(f"{key}.p99", f"  latency p99, {name}", "ms", "ours", timing.p99_ms),
    ]  # fmt: skip
