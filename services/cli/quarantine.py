"""`caseweave quarantine list|show|redrive|discard`: what charities' systems sent that could
not be applied, and why; applied again once the mapping is fixed, or discarded.

Heavy modules are imported only when the command runs.
"""

import argparse
import json
import sys
from collections.abc import Callable
from typing import Any, TypeAlias
from uuid import UUID

from services.cli.place import organisations_chosen
from services.runtime.settings import Settings

Commands: TypeAlias = "argparse._SubParsersAction[argparse.ArgumentParser]"

DESCRIPTION = """\
A message a charity's system pushed (POST /v1/inbound/SOURCE) that cannot be applied (a code
its mapping does not list, a date not written its way, a person the organisation does not
know under the charity's id) is kept in quarantine with the field and rule that stopped it,
never dropped. Fix the mapping (CASEWEAVE_SOURCES_FILE and the mapping it names), then
redrive: the message is applied with the mapping as it is now, once. One still refused stays
held, with the new reason. Discard one that should never be applied: its contents are
shredded.

Exit codes: 0 done; 1 something not done (still refused, not found); 2 bad usage."""


def add_quarantine(commands: Commands) -> argparse.ArgumentParser:
    """Add the `quarantine` command and its actions; return its parser."""
    command = commands.add_parser(
        "quarantine",
        help="list, show, redrive or discard what charities' systems sent that was not applied",
        description=DESCRIPTION,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    actions = command.add_subparsers(dest="action", required=True, metavar="ACTION")
    listing = actions.add_parser("list", help="held messages: source, field, rule (no contents)")
    listing.add_argument("--source", metavar="NAME", help="only this source's")
    listing.add_argument("--all", action="store_true", help="redriven and discarded ones too")
    show = actions.add_parser("show", help="one message: why, and what the charity sent")
    show.add_argument("id", type=UUID, metavar="ID", help="a quarantine id, as `list` shows it")
    redrive = actions.add_parser("redrive", help="apply held messages again, with the mapping now")
    redrive.add_argument("ids", nargs="+", type=UUID, metavar="ID")
    discard = actions.add_parser("discard", help="never apply a held message; shred it")
    discard.add_argument("ids", nargs="+", type=UUID, metavar="ID")
    discard.add_argument("--reason", required=True, help="why, without personal details")
    for action in actions.choices.values():
        action.add_argument("--org", help="whose quarantine (default: every organisation's)")
        action.add_argument("--json", action="store_true", help="print JSON")
    return command


async def run(
    args: argparse.Namespace, settings: Settings, database_url: Callable[[Settings], str]
) -> int:
    """Carry out a quarantine action; return an exit code."""
    from services.organisation.adapters.sources_file import (  # noqa: PLC0415 - only when run
        SourcesFileInvalid,
        load_sources,
    )
    from services.organisation.bootstrap import prepare_database  # noqa: PLC0415 - heavy
    from services.runtime.database import create_pool  # noqa: PLC0415 - only when run

    try:
        sources = load_sources(settings.sources_file, _organisations(settings))
    except SourcesFileInvalid as error:
        print(f"caseweave quarantine: {error}", file=sys.stderr)
        return 2
    pool = await create_pool(database_url(settings), max_size=2)
    try:
        orgs = organisations_chosen(settings, args.org)
        for org in orgs:
            await prepare_database(pool, schema=org)
        return await _ACTIONS[args.action](args, settings, pool, orgs, sources)
    finally:
        await pool.close()


async def _list(
    args: argparse.Namespace, _s: Settings, pool: Any, orgs: list[str], _src: Any
) -> int:
    from services.organisation.adapters.quarantine_rows import quarantine_rows  # noqa: PLC0415

    found = []
    async with pool.acquire() as conn:
        for org in orgs:
            rows = await quarantine_rows(conn, org, source=args.source, settled_too=args.all)
            found += [(org, row) for row in rows]
    if args.json:
        print(json.dumps([{"org": org, **_plain(vars(row))} for org, row in found], indent=2))
        return 0
    print(f"{'ID':36}  {'ORG':13}  {'SOURCE':20}  {'FIELD':20}  {'RULE':16}  STATUS")
    for org, row in found:
        print(
            f"{row.quarantine_id!s:36}  {org:13}  {row.source:20}  {row.field[:20]:20}"
            f"  {row.rule[:16]:16}  {row.status}"
        )
    print(f"{len(found)} {'message' if len(found) == 1 else 'messages'}", file=sys.stderr)
    return 0


async def _show(
    args: argparse.Namespace, settings: Settings, pool: Any, orgs: list[str], _src: Any
) -> int:
    from services.organisation.service_layer.quarantine import (  # noqa: PLC0415
        UnknownQuarantine,
        quarantined,
    )

    for org in orgs:
        async with _unit(settings, pool, org) as uow:
            try:
                held = await quarantined(uow, args.id)
            except UnknownQuarantine:
                continue
        shown = {"org": org, **_plain(vars(held))}
        print(json.dumps(shown, indent=2) if args.json else _described(shown))
        return 0
    print(
        f"caseweave quarantine show: no quarantined message {args.id} (discarded ones are gone)",
        file=sys.stderr,
    )
    return 1


async def _redrive(
    args: argparse.Namespace, settings: Settings, pool: Any, orgs: list[str], sources: Any
) -> int:
    from services.organisation.domain.errors import DomainError  # noqa: PLC0415
    from services.organisation.service_layer.inbound_commands import Applied  # noqa: PLC0415
    from services.organisation.service_layer.quarantine import (  # noqa: PLC0415
        UnknownQuarantine,
        quarantined,
        redrive,
    )

    failed = 0
    for quarantine_id in args.ids:
        outcome: Any = None
        for org in orgs:
            async with _unit(settings, pool, org) as uow:
                try:
                    held = await quarantined(uow, quarantine_id)
                except UnknownQuarantine:
                    continue
                source = sources.get(held.source)
                if source is None:
                    outcome = f"source {held.source} is not in CASEWEAVE_SOURCES_FILE"
                    break
                try:
                    outcome = await redrive(
                        uow, source=source, quarantine_id=quarantine_id,
                        recording=_recording(org, held.source),
                    )  # fmt: skip
                except DomainError as error:
                    outcome = error.message
                await uow.commit()
                break
        if isinstance(outcome, Applied):
            print(f"{quarantine_id}: applied as {outcome.command}")
        else:
            failed += 1
            why = outcome if isinstance(outcome, str) else (
                f"still refused: {outcome.field}: {outcome.rule}: {outcome.message}"
                if outcome is not None else "no such quarantined message"
            )  # fmt: skip
            print(f"{quarantine_id}: {why}", file=sys.stderr)
    return 1 if failed else 0


async def _discard(
    args: argparse.Namespace, settings: Settings, pool: Any, orgs: list[str], sources: Any
) -> int:
    from services.organisation.domain.errors import DomainError  # noqa: PLC0415
    from services.organisation.service_layer.quarantine import (  # noqa: PLC0415
        UnknownQuarantine,
        discard,
        quarantined,
    )

    failed = 0
    for quarantine_id in args.ids:
        done = False
        for org in orgs:
            async with _unit(settings, pool, org) as uow:
                try:
                    held = await quarantined(uow, quarantine_id)
                    source = sources.get(held.source)
                    place = source.mapping.place if source else "unknown"
                    await discard(
                        uow, quarantine_id=quarantine_id, reason=args.reason, place=place,
                        recording=_recording(org, "operator"),
                    )  # fmt: skip
                except UnknownQuarantine:
                    continue
                except DomainError as error:
                    print(f"{quarantine_id}: {error.message}", file=sys.stderr)
                    break
                await uow.commit()
                done = True
                print(f"{quarantine_id}: discarded; its contents are shredded")
                break
        failed += not done
    return 1 if failed else 0


_ACTIONS = {"list": _list, "show": _show, "redrive": _redrive, "discard": _discard}


def _organisations(settings: Settings) -> Any:
    from services.runtime.organisations_file import load_organisations  # noqa: PLC0415

    return load_organisations(settings.organisations_file)


def _unit(settings: Settings, pool: Any, org: str) -> Any:
    from services.organisation.adapters.postgres_unit_of_work import (  # noqa: PLC0415
        PostgresUnitOfWork,
        Stores,
    )
    from services.runtime.dev_secrets import person_keys  # noqa: PLC0415

    sector = _organisations(settings).sector_of(org)
    stores = Stores.in_schema(org, org, sector=sector or "voluntary", keys=person_keys(settings))
    return PostgresUnitOfWork(pool, stores)


def _recording(org: str, who: str) -> Any:
    from datetime import UTC, datetime  # noqa: PLC0415
    from uuid import uuid4  # noqa: PLC0415

    from services.organisation.domain.recording import Recording  # noqa: PLC0415

    return Recording(
        org=org,
        actor=f"{org}/operator/quarantine-{who}",
        correlation_id=str(uuid4()),
        recorded_at=datetime.now(UTC),
    )


def _plain(values: dict[str, Any]) -> dict[str, Any]:
    return {
        k: (str(v) if isinstance(v, UUID) or hasattr(v, "isoformat") else v)
        for k, v in values.items()
    }


def _described(shown: dict[str, Any]) -> str:
    lines = [
        f"{key}: {json.dumps(value) if isinstance(value, dict) else value}"
        for key, value in shown.items()
    ]
    return "\n".join(lines)
