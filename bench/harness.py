"""Run the chosen parts on fresh databases of one PostgreSQL server and collect the report."""

import asyncio
import gc
import signal
import sys
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from importlib.metadata import version

from bench import payloads, peer_eventsourcing
from bench.part import BenchContext, Measurement, Part, RunPart
from bench.postgres import Server, fresh_database, postgres_server, server_settings
from bench.report import Report
from bench.sizes import EVENTS_PER_STREAM


@dataclass(frozen=True)
class BenchConfig:
    """What to run: where, which parts, at what sizes, and whether the peer runs too."""

    database_url: str | None
    parts: Sequence[Part]
    sizes: Mapping[str, int]
    with_peer: bool = True


def run_benchmark(config: BenchConfig) -> Report:
    """Run the benchmark on a server (given, else embedded) and return its report."""
    try:
        with postgres_server(config.database_url) as server:
            return asyncio.run(_run_on(server, config))
    finally:
        gc.unfreeze()  # timed loops freeze what they prepared (bench.timing.settle)


async def _run_on(server: Server, config: BenchConfig) -> Report:
    _cancel_on_sigterm()  # so that the fresh databases are dropped when the run is stopped
    settings = await server_settings(server.url)
    report = Report(header=_header(server, settings, config))
    async with (
        fresh_database(server.url, label="ours") as ours_url,
        fresh_database(server.url, label="peer") as peer_url,
    ):
        ctx = BenchContext(ours_url=ours_url, peer_url=peer_url, sizes=config.sizes)
        for part in config.parts:
            report.measurements += await _timed(f"{part.name}, ours", part.ours, ctx)
            if config.with_peer and part.peer is not None:
                report.measurements += await _timed(f"{part.name}, peer", part.peer, ctx)
    report.measurements += _shares(config.parts, report.measurements)
    return report


def _shares(parts: Sequence[Part], measured: Sequence[Measurement]) -> list[Measurement]:
    """Return the parts' shares whose figures were both measured in this run."""
    ours = {m.key: m.value for m in measured if m.side == "ours"}
    shares = (share.of(ours) for part in parts for share in part.shares)
    return [share for share in shares if share is not None]


def _cancel_on_sigterm() -> None:
    task = asyncio.current_task()
    if task is not None:
        asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, task.cancel)


async def _timed(title: str, run: RunPart, ctx: BenchContext) -> list[Measurement]:
    print(f"running {title} ...", file=sys.stderr, flush=True)
    start = time.perf_counter()
    measurements = await run(ctx)
    print(f"  done in {time.perf_counter() - start:.1f} s", file=sys.stderr, flush=True)
    return measurements


def _header(server: Server, settings: Mapping[str, str], config: BenchConfig) -> list[str]:
    sample = payloads.in_stream_order(1000, config.sizes[EVENTS_PER_STREAM.name])
    return [
        f"server: PostgreSQL {settings.get('server_version')}, {server.origin}; "
        + ", ".join(f"{k}={v}" for k, v in settings.items() if k != "server_version"),
        "sizes: " + ", ".join(f"{name}={value:,}" for name, value in config.sizes.items()),
        payloads.describe(sample),
        f"parts: {', '.join(p.name for p in config.parts)}; ours: asyncpg {version('asyncpg')}",
        "peer of append, read, projection: "
        + (peer_eventsourcing.describe() if config.with_peer else "off"),
        *(
            f"peer, {part.name}: {part.peer_note}"
            for part in config.parts
            if config.with_peer and part.peer is not None and part.peer_note
        ),
    ]
