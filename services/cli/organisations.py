"""`caseweave organisations list|check`: the place's organisations, and who serves each.

`list` prints the organisations the place's file lists (CASEWEAVE_ORGANISATIONS_FILE; unset,
one per sector named after it): id, sector, the service (and port) that serves it, name and
contact. `check FILE` reads a file as every process does at start-up and says what is wrong
(the organisation, the field, the rule) before any process is started with it.
"""

import argparse
import json
import sys
from pathlib import Path
from typing import TypeAlias

from events.organisations import SECTOR_NAMES, Organisations
from services.runtime.organisations_file import load_organisations
from services.runtime.settings import Settings
from services.runtime.toml_config import ConfigFileInvalid

Commands: TypeAlias = "argparse._SubParsersAction[argparse.ArgumentParser]"


def add_organisations(commands: Commands) -> argparse.ArgumentParser:
    """Add the `organisations` command and its actions; return its parser."""
    command = commands.add_parser(
        "organisations",
        help="the place's organisations: list them, or check a file of them",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    actions = command.add_subparsers(dest="action", required=True, metavar="ACTION")
    listing = actions.add_parser("list", help="each organisation, its sector and its service")
    listing.add_argument("--json", action="store_true", help="print JSON")
    check = actions.add_parser("check", help="read a file of organisations as a process would")
    check.add_argument("file", type=Path, metavar="FILE")
    return command


def run(args: argparse.Namespace, settings: Settings) -> int:
    """Carry out an organisations action; return an exit code (2: the file is broken)."""
    path = args.file if args.action == "check" else settings.organisations_file
    try:
        place = load_organisations(path)
    except ConfigFileInvalid as error:
        print(f"caseweave organisations: {error}", file=sys.stderr)
        return 2
    if args.action == "check":
        sectors = ", ".join(f"{len(place.of_sector(s))} {SECTOR_NAMES[s]}" for s in place.sectors)
        print(f"{path}: {len(place.organisations)} organisation(s) ({sectors}); valid")
        return 0
    if args.json:
        print(json.dumps([_listed(place, org, settings) for org in place.ids], indent=2))
        return 0
    for org in place.ids:
        shown = _listed(place, org, settings)
        print(f"{org:<28} {shown['sector']:<14} :{shown['port']:<6} {shown['name']}"
              + (f" ({shown['contact']})" if shown["contact"] else ""))  # fmt: skip
    return 0


def _listed(place: Organisations, org: str, settings: Settings) -> dict[str, object]:
    found = place.get(org)
    assert found is not None
    return {
        "id": found.id, "sector": found.sector, "name": found.name, "contact": found.contact,
        "port": settings.port_of(found.sector),
    }  # fmt: skip
