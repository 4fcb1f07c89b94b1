"""Recording case events over HTTP: the real housing service, one client, then many at once.

The housing service (`python -m services.cli run housing`) runs on a database of its own; people
are registered and cases opened over HTTP (untimed). Then one keep-alive `httpx.AsyncClient`
records case events one after another, and then `http_write_clients` clients (one per partner
app) record events at once, each on cases of its own.
"""

import asyncio
import json
import math
import sys
import time
from collections import Counter
from collections.abc import AsyncIterator, Sequence
from contextlib import AsyncExitStack, asynccontextmanager
from dataclasses import dataclass

import asyncpg
import httpx

from bench.case_requests import case_event, open_cases
from bench.cpu import CpuSpent
from bench.figures import Run
from bench.part import BenchContext, Measurement, Share, SizeOption
from bench.postgres import fresh_database
from bench.read_model import ID_SECRET
from bench.service_process import caseweave_service, create_key
from bench.timing import latency, per_second, settle

HTTP_WRITE_EVENTS = SizeOption(
    "http_write_events", 1_000, "case events one HTTP client records in turn (plus 10% warm-up)"
)
HTTP_WRITE_CLIENTS = SizeOption(
    "http_write_clients", 16, "HTTP clients recording case events at once, on cases of their own"
)
HTTP_WRITE_CASES = SizeOption(
    "http_write_cases", 200, "cases the HTTP clients record events on at once"
)
HTTP_WRITE_EVENTS_PER_CASE = SizeOption(
    "http_write_events_per_case", 6, "case events recorded on each case over HTTP"
)
HTTP_WRITE_SIZES = (
    HTTP_WRITE_EVENTS,
    HTTP_WRITE_CLIENTS,
    HTTP_WRITE_CASES,
    HTTP_WRITE_EVENTS_PER_CASE,
)  # in the order of _Sizes' fields
SHARE_OF_APPEND = Share(
    "http_write.share", "  share of append single, concurrent",
    part="http_write.many.rate", whole="append.concurrent",
)  # fmt: skip
_SCHEMA = "housing"  # the service's own schema: it writes where `caseweave up` would
_CREATED = 201


@dataclass(frozen=True)
class Write:
    """One case event to record: the path it is posted to and its JSON body, encoded."""

    path: str
    body: bytes


@dataclass(frozen=True)
class _Sizes:
    events: int  # one client, timed
    clients: int
    cases: int  # the clients', at once
    per_case: int

    @property
    def warm_up(self) -> int:
        return max(self.events // 10, 1)

    def cases_to_open(self) -> tuple[int, int, int]:
        """Return how many cases the warm-up, the one client and the clients record on."""
        per_case = self.per_case
        return (math.ceil(self.warm_up / per_case), math.ceil(self.events / per_case), self.cases)


async def run(ctx: BenchContext) -> list[Measurement]:
    """Measure recording case events over HTTP: writes/s, p50 and p99, one client and many."""
    sizes = _Sizes(*(ctx.size(option.name) for option in HTTP_WRITE_SIZES))
    if sizes.cases < sizes.clients:
        raise ValueError(f"{HTTP_WRITE_CASES.flag} must be at least {HTTP_WRITE_CLIENTS.flag}")
    # a database of its own: the service's schemas are fixed, and earlier parts fill them
    async with (
        fresh_database(ctx.ours_url, label="http_write") as url,
        caseweave_service("housing", url, id_secret=ID_SECRET) as base_url,
    ):
        key = await create_key(url, org="housing", role="frontline")
        async with partner_apps(base_url, key, sizes.clients) as apps:
            one, many = await _measure(url, apps, sizes)
    return _figures("one", "one client", one) + _figures("many", f"{sizes.clients} clients", many)


async def _measure(url: str, apps: Sequence[httpx.AsyncClient], sizes: _Sizes) -> tuple[Run, Run]:
    """Open the cases (untimed), warm up, then time one client and then every client."""
    warm, one, many = _split(await open_cases(apps, sum(sizes.cases_to_open())), sizes)
    await _timed("warm-up", url, apps[:1], [round_robin(warm, sizes.warm_up)])
    one_run = await _timed("one client", url, apps[:1], [round_robin(one, sizes.events)])
    owned = [many[i :: sizes.clients] for i in range(sizes.clients)]
    plans = [round_robin(cases, sizes.per_case * len(cases)) for cases in owned]
    many_run = await _timed(f"{sizes.clients} clients", url, apps, plans)
    return one_run, many_run


def _split(cases: Sequence[str], sizes: _Sizes) -> tuple[Sequence[str], ...]:
    warm, one, _ = sizes.cases_to_open()
    return cases[:warm], cases[warm : warm + one], cases[warm + one :]


@asynccontextmanager
async def partner_apps(
    base_url: str, key: str, count: int
) -> AsyncIterator[list[httpx.AsyncClient]]:
    """Yield `count` keep-alive HTTP/1.1 clients with the API key, one connection each."""
    headers = {"Authorization": f"Bearer {key}", "Content-Type": "application/json"}
    limits = httpx.Limits(max_connections=1)
    async with AsyncExitStack() as stack:
        yield [
            await stack.enter_async_context(
                httpx.AsyncClient(base_url=base_url, headers=headers, timeout=60, limits=limits)
            )
            for _ in range(count)
        ]


def round_robin(cases: Sequence[str], events: int) -> list[Write]:
    """Return `events` case events going round-robin over the cases, as live cases move on."""
    return [
        Write(
            f"/v1/cases/{cases[n % len(cases)]}/events",
            json.dumps(case_event(n // len(cases))).encode(),
        )
        for n in range(events)
    ]


async def _timed(
    title: str, url: str, apps: Sequence[httpx.AsyncClient], plans: Sequence[list[Write]]
) -> Run:
    """Record each plan with its own client, all at once; time each write and the whole run.

    Fails unless every write was answered 201 and the store holds exactly the writes sent.
    """
    await asyncio.gather(*(app.get("/health/live") for app in apps))  # reconnect idle clients
    before = await _events_stored(url)
    settle()
    spent = CpuSpent.now()
    began = time.perf_counter()
    runs = await asyncio.gather(
        *(_record(app, plan) for app, plan in zip(apps, plans, strict=True))
    )
    seconds, spent = time.perf_counter() - began, CpuSpent.now() - spent
    sent = sum(len(plan) for plan in plans)
    statuses = sum((statuses for _, statuses in runs), Counter[int]())
    if statuses[_CREATED] != sent:  # the first answer of each kind is printed as it comes
        raise RuntimeError(f"{sent - statuses[_CREATED]} of {sent} writes failed: {dict(statuses)}")
    stored = await _events_stored(url) - before
    if stored != sent:
        raise RuntimeError(f"{sent} writes were answered 201, but the store holds {stored} more")
    cost = spent.per(sent, "write", serial=len(apps) == 1)
    print(f"  {title}: {sent:,} writes in {seconds:.1f} s; {cost}", file=sys.stderr, flush=True)
    return Run(sent, seconds, [d for durations, _ in runs for d in durations])


async def _record(
    app: httpx.AsyncClient, plan: Sequence[Write]
) -> tuple[list[float], Counter[int]]:
    """Post each write in turn; return each one's duration and the answers' status codes."""
    durations: list[float] = []
    statuses: Counter[int] = Counter()
    for write in plan:
        start = time.perf_counter()
        response = await app.post(write.path, content=write.body)
        durations.append(time.perf_counter() - start)
        statuses[response.status_code] += 1
        if response.status_code != _CREATED and statuses[response.status_code] == 1:
            print(f"  {response.status_code} answering {write.path}: {response.text[:300]}",
                  file=sys.stderr, flush=True)  # fmt: skip
    return durations, statuses


async def _events_stored(url: str) -> int:
    conn = await asyncpg.connect(url)
    try:
        count: int = await conn.fetchval(f"SELECT count(*) FROM {_SCHEMA}.events")  # noqa: S608 - constant
        return count
    finally:
        await conn.close()


def _figures(key: str, name: str, run: Run) -> list[Measurement]:
    timing, rate = latency(run.durations), per_second(run.count, run.seconds)
    return [
        Measurement(
            f"http_write.{key}.rate", f"record case event over HTTP, {name}", "writes/s", "ours",
            rate,
        ),
        Measurement(
            f"http_write.{key}.p50", f"  latency p50, HTTP write, {name}", "ms", "ours",
            timing.p50_ms,
        ),
        Measurement(
            f"http_write.{key}.p99", f"  latency p99, HTTP write, {name}", "ms", "ours",
            timing.p99_ms,
        ),
    ]  # fmt: skip
