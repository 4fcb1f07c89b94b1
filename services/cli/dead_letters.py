"""`caseweave dead-letters list|show|redrive|discard`: what consumers set aside, and why.

Heavy modules (the projection, Kafka clients) are imported only when the command runs.
"""

import argparse
import json
import sys
import time
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, TypeAlias

from services.dead_letters import rendering
from services.dead_letters.domain import Selection, Settled
from services.runtime.settings import Settings

if TYPE_CHECKING:
    from services.dead_letters.service_layer import DeadLetterStore

Stores: TypeAlias = "Sequence[DeadLetterStore]"
Commands: TypeAlias = "argparse._SubParsersAction[argparse.ArgumentParser]"
PROGRESS_EVERY_SECONDS = 5.0  # progress lines when stderr is not a terminal

DESCRIPTION = """\
A consumer that cannot apply a message sets it aside instead of stopping or losing it: the
projection, and each organisation's referral inbox. In Kafka mode a poison message goes to
the dead-letter topic; an event a release cannot read (an unknown type or version, an invalid
payload) is parked by id where it already is (an organisation's log, the projection's
timeline), in either mode. Each dead letter has an id, the consumer, a reason and a status:
parked, redriven or discarded.

Redrive applies a message with its consumer's own code, once, even if redriven twice or cut
short; do it after the cause is fixed (say, an upgrade that knows the event type). One its
consumer still cannot read stays parked, with the reason, and is said so.

Exit codes: 0 done; 1 something not done (still parked, not found, failed, Kafka or the topic
missing); 2 bad usage."""

_SETTLING = {
    "redrive": (
        "apply again, once",
        "Apply each message with its consumer's own code, in one transaction with its new"
        " status: once, even when run twice or cut short. One the consumer still cannot read"
        " stays parked, with the reason (exit 1). Progress goes to stderr.",
    ),
    "discard": (
        "mark as not to apply",
        "Mark messages as not to be applied: they leave `list` (`list --all` shows them) and"
        " stay where they are kept; one discarded by mistake can still be redriven.",
    ),
}


def add_dead_letters(commands: Commands) -> argparse.ArgumentParser:
    """Add the `dead-letters` command and its actions; return its parser."""
    command = commands.add_parser(
        "dead-letters",
        help="list, show, redrive or discard the messages consumers set aside",
        description=DESCRIPTION,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    actions = command.add_subparsers(dest="action", required=True, metavar="ACTION")
    listing = actions.add_parser("list", help="list parked dead letters: no personal data")
    _add_filters(listing)
    listing.add_argument(
        "--all", action="store_true", help="redriven and discarded ones too, with their status"
    )
    show = actions.add_parser(
        "show", help="one dead letter: why, where from, its non-personal headers"
    )
    show.add_argument("id", metavar="ID", help="a dead letter's id, as `list` shows it")
    show.add_argument(
        "--payload",
        action="store_true",
        help="print the message's key, every header and its payload too: they may hold"
        " personal data (sealed values stay sealed)",
    )
    for name, (what, told) in _SETTLING.items():
        action = actions.add_parser(
            name, help=f"{what}: the ids given, or --every selected", description=told
        )
        action.add_argument("ids", nargs="*", metavar="ID", help="ids, as `list` shows them")
        action.add_argument(
            "--every", action="store_true", help="every parked one --consumer/--reason select"
        )
        _add_filters(action)
    for action in actions.choices.values():
        action.add_argument("--json", action="store_true", help="print JSON")
    return command


def _add_filters(action: argparse.ArgumentParser) -> None:
    action.add_argument(
        "--consumer", metavar="NAME", help="e.g. projection, housing_referral_inbox"
    )
    action.add_argument("--reason", metavar="REASON", help="e.g. unknown_event_type")


async def run(
    args: argparse.Namespace, settings: Settings, database_url: Callable[[Settings], str]
) -> int:
    """Carry out a dead-letters action on the configured stores; return an exit code."""
    from aiokafka.errors import KafkaConnectionError  # noqa: PLC0415 - only when run

    from services.dead_letters.adapters.topic_reading import TopicReadStalled  # noqa: PLC0415
    from services.dead_letters.bootstrap import opened_stores  # noqa: PLC0415 - heavy
    from services.runtime.kafka.publisher import TopicMissing  # noqa: PLC0415 - only when run

    if args.action in ("redrive", "discard") and bool(args.ids) == args.every:
        print(f"caseweave dead-letters {args.action}: give IDs or --every", file=sys.stderr)
        return 2
    try:
        kafka = settings.kafka_transport_servers()
    except ValueError as error:  # Kafka mode without its servers
        print(f"caseweave dead-letters: {error}", file=sys.stderr)
        return 2
    try:
        redriving = args.action == "redrive"
        async with opened_stores(
            settings, database_url(settings), kafka_bootstrap_servers=kafka, redriving=redriving
        ) as stores:
            return await act(args, stores)
    except (TopicMissing, TopicReadStalled) as error:
        print(f"caseweave dead-letters {args.action}: {error}", file=sys.stderr)
    except KafkaConnectionError:
        print(f"caseweave dead-letters: cannot reach Kafka at {kafka}", file=sys.stderr)
    return 1


async def act(args: argparse.Namespace, stores: "Stores") -> int:
    """Carry out a dead-letters action on `stores`, printing what it did; return an exit code."""
    return await _ACTIONS[args.action](args, stores)


async def _list(args: argparse.Namespace, stores: "Stores") -> int:
    from services.dead_letters.service_layer import list_dead_letters  # noqa: PLC0415

    selection = Selection(consumer=args.consumer, reason=args.reason, settled_too=args.all)
    letters = await list_dead_letters(stores, selection)
    if args.json:
        print(rendering.letters_json(letters))
        return 0
    for line in rendering.letters_table(letters, with_status=args.all):
        print(line)
    kind = "dead letters" if args.all else "parked"
    print(f"{len(letters)} {kind}", file=sys.stderr)
    return 0


async def _show(args: argparse.Namespace, stores: "Stores") -> int:
    from services.dead_letters.service_layer import show_dead_letter  # noqa: PLC0415

    found = await show_dead_letter(stores, args.id)
    if found is None:
        print(f"caseweave dead-letters show: no dead letter {args.id}", file=sys.stderr)
        return 1
    told = rendering.shown(*found, payload=args.payload)
    print(json.dumps(told, indent=2) if args.json else "\n".join(rendering.shown_text(told)))
    return 0


async def _settle(args: argparse.Namespace, stores: "Stores") -> int:
    from services.dead_letters import service_layer  # noqa: PLC0415

    settle = service_layer.redrive if args.action == "redrive" else service_layer.discard
    selection = Selection(consumer=args.consumer, reason=args.reason) if args.every else None
    progress = _Progress(args.action)
    results = await settle(stores, ids=args.ids, selection=selection, on_progress=progress)
    progress.end()
    if args.json:
        print(rendering.settled_json(results))
    else:
        for settled in results:
            print(rendering.settled_line(settled))
    print(f"{args.action}: {rendering.tally(results) or 'nothing selected'}", file=sys.stderr)
    return 0 if all(settled.done for settled in results) else 1


class _Progress:
    """`n/total` on stderr while a long redrive runs: one line redrawn on a terminal, a line
    every few seconds in a log."""

    def __init__(self, action: str) -> None:
        self._action = action
        self._terminal = sys.stderr.isatty()
        self._last = time.monotonic()
        self._shown = False

    def __call__(self, done: int, total: int, settled: Settled) -> None:
        now = time.monotonic()
        if total < 2 or (not self._terminal and now - self._last < PROGRESS_EVERY_SECONDS):
            return
        self._last, self._shown = now, True
        line = f"{self._action}: {done:,}/{total:,}"
        end = "" if self._terminal else "\n"
        print(f"\r{line}" if self._terminal else line, end=end, file=sys.stderr, flush=True)

    def end(self) -> None:
        """End the redrawn line, if one was drawn."""
        if self._shown and self._terminal:
            print(file=sys.stderr)


_ACTIONS = {"list": _list, "show": _show, "redrive": _settle, "discard": _settle}
