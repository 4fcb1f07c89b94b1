"""Charities' systems pushing to the voluntary service: signed webhooks over HTTP (one
client, then several at once), and a CSV export imported row by row.

Webhooks: the real voluntary service (`python -m services.cli run voluntary`) with a source
mapped by the shipped generic JSON mapping; each message registers a new client, signed as
Standard Webhooks says. CSV: `import_rows` (what `caseweave import csv` runs) over a
spreadsheet export of new clients, on a database of its own.
"""

import asyncio
import base64
import json
import os
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Sequence
from datetime import UTC, datetime
from functools import partial
from pathlib import Path
from uuid import uuid4

import asyncpg
import httpx
from standardwebhooks import Webhook

from bench.figures import Run
from bench.part import BenchContext, Measurement, SizeOption
from bench.postgres import fresh_database
from bench.read_model import ID_SECRET, MASTER_KEY
from bench.service_process import caseweave_service
from bench.timing import latency, per_second, settle

WEBHOOK_MESSAGES = SizeOption(
    "webhook_messages", 1_000, "signed webhooks one client sends in turn (each clients' share too)"
)
WEBHOOK_CLIENTS = SizeOption("webhook_clients", 8, "charities' systems sending webhooks at once")
CSV_ROWS = SizeOption("csv_rows", 100_000, "rows of a CSV export imported")
INBOUND_SIZES = (WEBHOOK_MESSAGES, WEBHOOK_CLIENTS, CSV_ROWS)
MAPPINGS = Path(__file__).parents[1] / "deploy" / "adapters"
_SOURCE = "bench_charity"


async def run(ctx: BenchContext) -> list[Measurement]:
    """Measure signed webhook ingest (one client, several) and CSV import."""
    messages, clients = ctx.size(WEBHOOK_MESSAGES.name), ctx.size(WEBHOOK_CLIENTS.name)
    secret = f"whsec_{base64.b64encode(os.urandom(32)).decode()}"
    with tempfile.TemporaryDirectory(prefix="caseweave-bench-sources-") as folder:
        sources = _sources_file(Path(folder), secret)
        async with (
            fresh_database(ctx.ours_url, label="inbound") as url,
            caseweave_service(
                "voluntary", url, id_secret=ID_SECRET,
                settings={"CASEWEAVE_SOURCES_FILE": str(sources)},
            ) as base_url,
        ):  # fmt: skip
            one = await _webhooks("one client", base_url, secret, [messages])
            many = await _webhooks(f"{clients} clients", base_url, secret, [messages] * clients)
        async with fresh_database(ctx.ours_url, label="csv_import") as url:
            imported = await _csv_import(url, sources, ctx.size(CSV_ROWS.name))
    return [
        *_figures("one", "one client", one),
        *_figures("many", f"{clients} clients", many),
        Measurement(
            "inbound.csv.rate", "CSV import, rows of new clients", "events/s", "ours",
            per_second(imported.count, imported.seconds),
        ),
    ]  # fmt: skip


def _sources_file(folder: Path, secret: str) -> Path:
    for mapping in ("generic_json_webhook.toml", "spreadsheet_export_csv.toml"):
        (folder / mapping).write_text((MAPPINGS / mapping).read_text())
    path = folder / "sources.toml"
    path.write_text(
        f'[sources.{_SOURCE}]\norg = "voluntary"\nsecrets = ["{secret}"]\n'
        'mapping = "generic_json_webhook.toml"\n'
        f'[sources.{_SOURCE}_csv]\norg = "voluntary"\nsecrets = ["{secret}"]\n'
        'mapping = "spreadsheet_export_csv.toml"\n'
    )
    return path


def _message(n: int) -> bytes:
    ref = f"B-{uuid4().hex[:12]}"
    return json.dumps({
        "event": "client.created",
        "client": {"id": ref, "first_name": "Jo", "last_name": f"Bench{n}", "dob": "03/04/1990",
                   "postcode": "BS5 6XX"},
    }).encode()  # fmt: skip


async def _webhooks(title: str, base_url: str, secret: str, plans: Sequence[int]) -> Run:
    """Each client sends its share of signed messages in turn; all clients at once."""
    signer = Webhook(secret)
    async with httpx.AsyncClient(base_url=base_url, timeout=60) as warm:
        await _send(warm, signer, 20)  # warm up
    clients = [
        httpx.AsyncClient(base_url=base_url, timeout=60, limits=httpx.Limits(max_connections=1))
        for _ in plans
    ]
    try:
        settle()
        began = time.perf_counter()
        runs = await asyncio.gather(
            *(_send(client, signer, count) for client, count in zip(clients, plans, strict=True))
        )
        seconds = time.perf_counter() - began
    finally:
        await asyncio.gather(*(client.aclose() for client in clients))
    statuses = sum((s for _, s in runs), Counter[int]())
    sent = sum(plans)
    if statuses[200] != sent:
        raise RuntimeError(
            f"{sent - statuses[200]} of {sent} webhooks not applied: {dict(statuses)}"
        )
    print(f"  webhooks, {title}: {sent:,} in {seconds:.1f} s", file=sys.stderr, flush=True)
    return Run(sent, seconds, [d for durations, _ in runs for d in durations])


async def _send(
    client: httpx.AsyncClient, signer: Webhook, count: int
) -> tuple[list[float], Counter[int]]:
    durations: list[float] = []
    statuses: Counter[int] = Counter()
    for n in range(count):
        body, message_id = _message(n), f"msg_{uuid4().hex}"
        at = datetime.now(UTC)
        headers = {
            "content-type": "application/json",
            "webhook-id": message_id,
            "webhook-timestamp": str(int(at.timestamp())),
            "webhook-signature": signer.sign(message_id, at, body),
        }
        start = time.perf_counter()
        answer = await client.post(f"/v1/inbound/{_SOURCE}", content=body, headers=headers)
        durations.append(time.perf_counter() - start)
        statuses[answer.status_code] += 1
        if answer.status_code != 200 and statuses[answer.status_code] == 1:
            print(f"  {answer.status_code}: {answer.text[:300]}", file=sys.stderr, flush=True)
    return durations, statuses


async def _csv_import(url: str, sources: Path, rows: int) -> Run:
    """Import a spreadsheet export of `rows` new clients; check every one was recorded."""
    from services.organisation.adapters.csv_rows import csv_rows  # noqa: PLC0415
    from services.organisation.adapters.postgres_unit_of_work import (  # noqa: PLC0415
        PostgresUnitOfWork,
        Stores,
    )
    from services.organisation.adapters.sources_file import load_sources  # noqa: PLC0415
    from services.organisation.bootstrap import prepare_database  # noqa: PLC0415
    from services.organisation.domain.recording import Recording  # noqa: PLC0415
    from services.organisation.service_layer.csv_import import import_rows  # noqa: PLC0415
    from services.runtime.database import create_pool  # noqa: PLC0415
    from services.runtime.migrations import apply_migrations  # noqa: PLC0415
    from services.runtime.person_keys import PersonKeys, person_keys_migrations  # noqa: PLC0415

    source = load_sources(sources)[f"{_SOURCE}_csv"]
    header = "Type,Client ID,First name,Surname,Date of birth,Postcode\r\n"
    lines = "".join(f"client,R-{n},Zoé,Row{n},03/04/1990,BS5 6XX\r\n" for n in range(rows))
    parsed = [(row.line, row.values) for row in csv_rows(("\ufeff" + header + lines).encode())]
    pool = await create_pool(url, max_size=2)
    try:
        await apply_migrations(pool, person_keys_migrations())
        await prepare_database(pool, schema="voluntary")
        stores = Stores.in_schema(
            "voluntary", "voluntary", sector="voluntary", keys=PersonKeys(MASTER_KEY)
        )
        recording = Recording(
            org="voluntary", actor=source.actor, correlation_id=str(uuid4()),
            recorded_at=datetime.now(UTC),
        )  # fmt: skip
        settle()
        began = time.perf_counter()
        tally = await import_rows(
            partial(PostgresUnitOfWork, pool, stores), source=source, rows=parsed,
            recording=recording,
        )  # fmt: skip
        seconds = time.perf_counter() - began
    finally:
        await pool.close()
    conn = await asyncpg.connect(url)
    try:
        stored = await conn.fetchval("SELECT count(*) FROM voluntary.people")
    finally:
        await conn.close()
    if tally.applied.get("register_person") != rows or stored != rows:
        raise RuntimeError(f"{rows} rows, {tally.applied} applied, {stored} people stored")
    print(f"  CSV import: {rows:,} rows in {seconds:.1f} s", file=sys.stderr, flush=True)
    return Run(rows, seconds)


def _figures(key: str, name: str, run: Run) -> list[Measurement]:
    timing, rate = latency(run.durations), per_second(run.count, run.seconds)
    ms = "ms"
    return [
        Measurement(f"inbound.{key}.rate", f"signed webhook ingest, {name}", "events/s", "ours",
                    rate),
        Measurement(f"inbound.{key}.p50", f"  latency p50, webhook, {name}", ms, "ours",
                    timing.p50_ms),
        Measurement(f"inbound.{key}.p99", f"  latency p99, webhook, {name}", ms, "ours",
                    timing.p99_ms),
    ]  # fmt: skip
