"""`caseweave webhooks list|redrive`: the webhooks out to charities' systems, and the ones
given up on after a day of failures (parked), to send again once the receiver is fixed."""

import argparse
import json
import sys
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any, TypeAlias
from uuid import UUID

from services.cli.place import organisations_chosen
from services.runtime.settings import Settings

Commands: TypeAlias = "argparse._SubParsersAction[argparse.ArgumentParser]"


def add_webhooks(commands: Commands) -> argparse.ArgumentParser:
    """Add the `webhooks` command and its actions; return its parser."""
    command = commands.add_parser(
        "webhooks",
        help="list the webhooks out to charities' systems; redrive the parked ones",
        description="A notice to a charity's system (a referral made to it, an answer to one"
        " it made) is tried again after 30 s, doubling up to an hour, for a day; then it is"
        " parked. Fix the receiver, then redrive: it is due at once, with a day of retries"
        " ahead. Exit codes: 0 done; 1 something not done; 2 bad usage.",
    )
    actions = command.add_subparsers(dest="action", required=True, metavar="ACTION")
    listing = actions.add_parser("list", help="deliveries, newest first (no contents)")
    listing.add_argument(
        "--status",
        choices=["pending", "delivered", "parked", "dropped"],
        help="only of this status (dropped: its person was erased before it was sent)",
    )
    redrive = actions.add_parser("redrive", help="send parked deliveries again")
    redrive.add_argument("ids", nargs="+", type=UUID, metavar="ID")
    for action in actions.choices.values():
        action.add_argument("--org", help="whose (default: every organisation's)")
        action.add_argument("--json", action="store_true", help="print JSON")
    return command


async def run(
    args: argparse.Namespace, settings: Settings, database_url: Callable[[Settings], str]
) -> int:
    """Carry out a webhooks action; return an exit code."""
    from services.organisation.adapters.webhook_deliveries import (  # noqa: PLC0415
        WebhookDeliveries,
    )
    from services.organisation.bootstrap import prepare_database  # noqa: PLC0415 - heavy
    from services.runtime.database import create_pool  # noqa: PLC0415

    orgs = organisations_chosen(settings, args.org)
    pool = await create_pool(database_url(settings), max_size=2)
    try:
        for org in orgs:
            await prepare_database(pool, schema=org)
        async with pool.acquire() as conn:
            if args.action == "list":
                rows = [
                    (org, row)
                    for org in orgs
                    for row in await WebhookDeliveries(conn, org).listed(status=args.status)
                ]
                _print(rows, as_json=args.json)
                return 0
            missing = 0
            for delivery_id in args.ids:
                done = False
                for org in orgs:
                    done = done or await WebhookDeliveries(conn, org).redrive(
                        delivery_id, datetime.now(UTC)
                    )
                print(f"{delivery_id}: {'due again now' if done else 'no parked delivery'}")
                missing += not done
            return 1 if missing else 0
    finally:
        await pool.close()


def _print(rows: list[tuple[str, Any]], *, as_json: bool) -> None:
    if as_json:
        print(json.dumps([
            {"org": org, "delivery_id": str(r.delivery_id), "source": r.source,
             "event_id": str(r.event_id), "status": r.status, "attempts": r.attempts,
             "next_attempt_at": r.next_attempt_at.isoformat(), "last_error": r.last_error}
            for org, r in rows
        ], indent=2))  # fmt: skip
        return
    print(f"{'ID':36}  {'ORG':13}  {'SOURCE':20}  {'STATUS':9}  TRIES  LAST ERROR")
    for org, r in rows:
        print(f"{r.delivery_id!s:36}  {org:13}  {r.source[:20]:20}  {r.status:9}  {r.attempts:5}"
              f"  {r.last_error or ''}")  # fmt: skip
    print(f"{len(rows)} deliveries", file=sys.stderr)
