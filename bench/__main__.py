"""`python -m bench`: benchmark Caseweave's event store against eventsourcing's, print figures."""

import argparse
import asyncio
import json
import sys
from collections.abc import Sequence
from pathlib import Path

from bench.harness import BenchConfig, run_benchmark
from bench.registry import PARTS, part_names, size_options
from services.runtime.settings import get_settings


def _positive(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, not {value}")
    return value


def parser() -> argparse.ArgumentParser:
    """Return the command-line parser: server, parts, peer, JSON output and every part's sizes."""
    p = argparse.ArgumentParser(
        prog="python -m bench",
        description="Benchmark Caseweave's event store (ours) against the eventsourcing "
        "library's PostgreSQL recorder (peer) on fresh databases of one PostgreSQL server.",
    )
    p.add_argument(
        "--database-url",
        default=get_settings().database_url,
        metavar="URL",
        help="server to run on (default: CASEWEAVE_DATABASE_URL, else an embedded "
        "PostgreSQL in a temporary directory); fresh databases are created and dropped",
    )
    p.add_argument(
        "--only",
        nargs="+",
        choices=part_names(),
        metavar="PART",
        help=f"parts to run (default: all that can run here): {', '.join(part_names())}",
    )
    p.add_argument(
        "--peer",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="also run the peer (eventsourcing) for the ours/peer ratio",
    )
    p.add_argument("--json", type=Path, metavar="PATH", help="also write the figures as JSON")
    sizes = p.add_argument_group("sizes")
    for option in size_options():
        sizes.add_argument(
            option.flag,
            dest=option.name,
            type=_positive,
            default=option.default,
            metavar="N",
            help=f"{option.help.replace('%', '%%')} (default: {option.default:,})",
        )
    return p


def main(argv: Sequence[str] | None = None) -> int:
    """Run the benchmark, print its table, and write JSON if asked; return the exit status."""
    args = parser().parse_args(argv)
    chosen = [part for part in PARTS if args.only is None or part.name in args.only]
    for part in chosen:
        if (needs := part.missing()) is not None:
            skipped = "skipped, " if args.only is None else ""
            print(f"{part.name}: {skipped}{needs}", file=sys.stderr)
    if args.only is not None and any(part.missing() for part in chosen):
        return 2
    config = BenchConfig(
        database_url=args.database_url,
        parts=[part for part in chosen if part.missing() is None],
        sizes={option.name: getattr(args, option.name) for option in size_options()},
        with_peer=args.peer,
    )
    try:
        report = run_benchmark(config)
    except (asyncio.CancelledError, KeyboardInterrupt):  # SIGTERM cancels the run, Ctrl-C too
        print("stopped: the benchmark databases were dropped", file=sys.stderr)
        return 130
    print(report.as_table())
    if args.json:
        args.json.write_text(json.dumps(report.as_json(), indent=2) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
