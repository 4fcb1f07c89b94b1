"""`caseweave import csv --source SOURCE FILE [--dry-run]`: a charity's CSV export, each row
applied by the source's mapping or kept in quarantine with why; again, nothing new.

Heavy modules are imported only when the command runs.
"""

import argparse
import json
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeAlias

from services.runtime.settings import Settings

Commands: TypeAlias = "argparse._SubParsersAction[argparse.ArgumentParser]"
PROGRESS_EVERY_SECONDS = 5.0

DESCRIPTION = """\
Import a charity's CSV export through its source's mapping (CASEWEAVE_SOURCES_FILE): each
row is a message of the mapping's kind. Every row is checked; a good row is recorded, a bad
one is never partly written: it is kept in quarantine with the field and rule (`caseweave
quarantine list`), and listed here by line. Importing the same file again records nothing
new (a row is known by its contents; a changed row records what changed). Real files are
read as they come: UTF-8 with or without a byte order mark, or Windows' Latin-1; Windows
line endings; quoted commas and line breaks; blank lines; dates as the mapping says.

--dry-run does everything in a transaction it never commits: what would be recorded, and
which rows would be quarantined and why, nothing written.

Exit codes: 0 every row applied (or imported before); 1 some rows quarantined, or the file
or source unusable; 2 bad usage."""


def add_import(commands: Commands) -> argparse.ArgumentParser:
    """Add the `import` command; return its parser."""
    command = commands.add_parser(
        "import", help="import a charity's CSV export through its source's mapping"
    )
    kinds = command.add_subparsers(dest="format", required=True, metavar="FORMAT")
    csv_command = kinds.add_parser(
        "csv",
        help="a CSV export, row by row",
        description=DESCRIPTION,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    csv_command.add_argument(
        "--source", required=True, help="the source, as the sources file names it"
    )
    csv_command.add_argument("file", type=Path, metavar="FILE", help="the CSV file")
    csv_command.add_argument(
        "--dry-run", action="store_true", help="show what it would do; write nothing"
    )
    csv_command.add_argument("--json", action="store_true", help="print JSON")
    return command


async def run(
    args: argparse.Namespace, settings: Settings, database_url: Callable[[Settings], str]
) -> int:
    """Import the file; print what became of it; return an exit code."""
    from datetime import UTC, datetime  # noqa: PLC0415
    from functools import partial  # noqa: PLC0415
    from uuid import uuid4  # noqa: PLC0415

    from services.organisation.adapters.csv_rows import CsvUnreadable, csv_rows  # noqa: PLC0415
    from services.organisation.adapters.postgres_unit_of_work import (  # noqa: PLC0415
        PostgresUnitOfWork,
        Stores,
    )
    from services.organisation.adapters.sources_file import (  # noqa: PLC0415
        SourcesFileInvalid,
        load_sources,
    )
    from services.organisation.bootstrap import prepare_database  # noqa: PLC0415 - heavy
    from services.organisation.domain.recording import Recording  # noqa: PLC0415
    from services.organisation.service_layer.csv_import import import_rows  # noqa: PLC0415
    from services.runtime.database import create_pool  # noqa: PLC0415
    from services.runtime.dev_secrets import person_keys  # noqa: PLC0415
    from services.runtime.organisations_file import load_organisations  # noqa: PLC0415

    try:
        organisations = load_organisations(settings.organisations_file)
        source = load_sources(settings.sources_file, organisations).get(args.source)
    except SourcesFileInvalid as error:
        print(f"caseweave import: {error}", file=sys.stderr)
        return 1
    if source is None:
        print(
            f"caseweave import: no source {args.source!r} in CASEWEAVE_SOURCES_FILE",
            file=sys.stderr,
        )
        return 1
    try:
        rows = [(row.line, row.values) for row in csv_rows(args.file.read_bytes())]
    except OSError as error:
        print(f"caseweave import: cannot read {args.file}: {error.strerror}", file=sys.stderr)
        return 1
    except CsvUnreadable as error:
        print(f"caseweave import: {args.file}: {error}", file=sys.stderr)
        return 1
    recording = Recording(
        org=source.org,
        actor=f"{source.actor}/csv",
        correlation_id=str(uuid4()),
        recorded_at=datetime.now(UTC),
    )
    pool = await create_pool(database_url(settings), max_size=2)
    try:
        await prepare_database(pool, schema=source.org)
        sector = organisations.sector_of(source.org)
        stores = Stores.in_schema(
            source.org, source.org, sector=sector or "voluntary", keys=person_keys(settings)
        )
        tally = await import_rows(
            partial(PostgresUnitOfWork, pool, stores),
            source=source,
            rows=rows,
            recording=recording,
            dry_run=args.dry_run,
            progress=_progress(len(rows)),
        )
    finally:
        await pool.close()
    _report(args, tally)
    return 1 if tally.quarantined else 0


def _progress(total: int) -> Callable[[int], None]:
    started = last = time.monotonic()

    def show(done: int) -> None:
        nonlocal last
        now = time.monotonic()
        if now - last >= PROGRESS_EVERY_SECONDS or done == total:
            rate = done / max(now - started, 1e-9)
            print(f"{done} of {total} rows ({rate:.0f}/s)", file=sys.stderr)
            last = now

    return show


def _report(args: argparse.Namespace, tally: Any) -> None:
    would = "would be " if args.dry_run else ""
    if args.json:
        print(json.dumps({
            "dry_run": args.dry_run, "rows": tally.rows, "applied": tally.applied,
            "unchanged": tally.unchanged,
            "quarantined": [
                {"line": line, "field": field, "rule": rule, "quarantine_id": qid}
                for line, field, rule, qid in tally.quarantined
            ],
        }, indent=2))  # fmt: skip
        return
    applied = ", ".join(f"{count} {command}" for command, count in sorted(tally.applied.items()))
    done = f"{would}applied {sum(tally.applied.values())} ({applied or 'none'})"
    print(
        f"{tally.rows} rows: {done}, {tally.unchanged} imported before,"
        f" {len(tally.quarantined)} {would}quarantined"
    )
    for line, field, rule, quarantine_id in tally.quarantined:
        print(f"  line {line}: {field}: {rule} (quarantine {quarantine_id})")
