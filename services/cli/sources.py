"""`caseweave sources check|try`: a charity's mapping tried before anything is recorded.

`check` reads the sources file (CASEWEAVE_SOURCES_FILE, or the one given) and every mapping
it names, as the services do at start-up, and says what each source is, or what is wrong
(the file, the field, the rule). `try` shows what a message (a JSON file) or each row of a
CSV export would become under a source's mapping: the command and its values, or which field
and rule stop it. Neither touches the database: a charity can shape its mapping first.
"""

import argparse
import json
import sys
from pathlib import Path
from typing import Any, TypeAlias

from services.runtime.settings import Settings

Commands: TypeAlias = "argparse._SubParsersAction[argparse.ArgumentParser]"


def add_sources(commands: Commands) -> argparse.ArgumentParser:
    """Add the `sources` command and its actions; return its parser."""
    command = commands.add_parser(
        "sources",
        help="check the charities' sources file and mappings; try a message on a mapping",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    actions = command.add_subparsers(dest="action", required=True, metavar="ACTION")
    check = actions.add_parser("check", help="read the sources file and its mappings")
    check.add_argument(
        "file", nargs="?", type=Path, metavar="FILE", help="default: CASEWEAVE_SOURCES_FILE"
    )
    tried = actions.add_parser("try", help="what a message or CSV export would become")
    tried.add_argument("--source", required=True, help="the source, as the file names it")
    tried.add_argument("message", type=Path, metavar="FILE", help="a JSON message or a CSV file")
    tried.add_argument("--sources-file", type=Path, metavar="FILE", help="default: the setting")
    return command


def run(args: argparse.Namespace, settings: Settings) -> int:
    """Carry out a sources action; return an exit code (1: something does not map)."""
    from services.organisation.adapters.sources_file import (  # noqa: PLC0415
        SourcesFileInvalid,
        load_sources,
    )
    from services.runtime.organisations_file import load_organisations  # noqa: PLC0415

    path = args.file if args.action == "check" else args.sources_file
    path = path or settings.sources_file
    if path is None:
        print("caseweave sources: no sources file (CASEWEAVE_SOURCES_FILE)", file=sys.stderr)
        return 2
    try:
        sources = load_sources(path, load_organisations(settings.organisations_file))
    except SourcesFileInvalid as error:
        print(f"caseweave sources: {error}", file=sys.stderr)
        return 1
    if args.action == "check":
        for name, source in sources.items():
            kinds = ", ".join(f"{k} ({m.command})" for k, m in source.mapping.kinds.items())
            endpoint = source.endpoint or "none (it polls)"
            print(f"{name}: writes {source.org}'s records; {len(source.secrets)} secret(s);"
                  f" webhooks out to {endpoint}; kinds: {kinds}")  # fmt: skip
        print(f"{len(sources)} source(s), every mapping valid", file=sys.stderr)
        return 0
    chosen = sources.get(args.source)
    if chosen is None:
        print(f"caseweave sources: no source {args.source!r} in {path}", file=sys.stderr)
        return 2
    return _try(chosen, args.message)


def _try(source: Any, path: Path) -> int:
    from services.organisation.adapters.csv_rows import CsvUnreadable, csv_rows  # noqa: PLC0415
    from services.organisation.domain.inbound_mapping import (  # noqa: PLC0415
        Unmappable,
        map_message,
    )

    data = path.read_bytes()
    try:
        if path.suffix.lower() == ".csv":
            messages = [(f"line {row.line}", row.values) for row in csv_rows(data)]
        else:
            messages = [("message", json.loads(data))]
    except (CsvUnreadable, ValueError) as error:
        print(f"caseweave sources try: {path}: {error}", file=sys.stderr)
        return 1
    refused = 0
    for where, message in messages:
        mapped = map_message(source.mapping, message)
        if isinstance(mapped, Unmappable):
            refused += 1
            print(f"{where}: not applicable: {mapped.field}: {mapped.rule}: {mapped.message}")
            continue
        shown = {"command": mapped.command, "person": mapped.person_ref, "case": mapped.case_ref,
                 "referral": mapped.referral_ref, "event_type": mapped.event_type,
                 "values": mapped.values}  # fmt: skip
        print(f"{where}: {json.dumps({k: v for k, v in shown.items() if v}, default=str)}")
    print(
        f"{len(messages) - refused} of {len(messages)} would map (the services' own rules"
        " still apply: a person known by the charity's id, the event type's fields)",
        file=sys.stderr,
    )
    return 1 if refused else 0
