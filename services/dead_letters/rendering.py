"""How `caseweave dead-letters` prints: tables and JSON for ops, personal data only on request.

Pure: text in, text out. A payload (which may hold sealed personal values, and whose key is
the organisation's person reference) is printed by `show --payload` only; headers other than
the known, non-personal ones are counted, not shown, without it.
"""

import json
from collections import Counter
from collections.abc import Sequence
from typing import Any

from services.dead_letters.domain import (
    DeadLetter,
    ParkedMessage,
    Settled,
    description,
    header_text,
    safe_headers,
    summary,
)

_COLUMNS = (("id", 13), ("parked_at", 20), ("consumer", 30), ("reason", 20), ("event_type", 32))
_SAID: dict[str, str] = {
    "redriven": "redriven: applied",
    "still_parked": "still parked",
    "already_redriven": "already redriven (applied once; not again)",
    "discarded": "discarded",
    "already_discarded": "already discarded",
    "not_found": "no such dead letter",
    "no_consumer": "no consumer of that name here: cannot be settled",
    "failed": "failed",
}


def letters_table(letters: Sequence[DeadLetter], *, with_status: bool) -> list[str]:
    """Return `list`'s table: one line per dead letter, no personal data."""
    columns = [*_COLUMNS, ("status", 10)] if with_status else list(_COLUMNS)
    lines = ["  ".join(name.upper().ljust(width) for name, width in columns).rstrip()]
    for letter in letters:
        row = summary(letter) | {"parked_at": letter.parked_at.strftime("%Y-%m-%d %H:%M:%S")}
        cells = (str(row[name] or "-").ljust(width) for name, width in columns)
        lines.append("  ".join(cells).rstrip())
    return lines


def letters_json(letters: Sequence[DeadLetter]) -> str:
    """Return `list --json`: one object per dead letter."""
    return json.dumps([summary(letter) for letter in letters], indent=2)


def shown(letter: DeadLetter, message: ParkedMessage | None, *, payload: bool) -> dict[str, Any]:
    """Return what `show` tells: the description, safe headers, and the payload if asked."""
    told: dict[str, Any] = dict(description(letter))
    if message is None:
        told["message"] = "no longer to be had where it was kept"
        return told
    safe, others = safe_headers(message.headers)
    told["headers"] = dict(header_text(message.headers)) if payload else safe
    if not payload:
        told["other_headers"] = others
        told["payload"] = "hidden: it may hold personal data; add --payload to print it"
        return told
    told["key"] = (message.key or b"").decode(errors="replace")
    told["payload"] = _value(message.value)
    return told


def shown_text(told: dict[str, Any]) -> list[str]:
    """Return `show`'s text lines: one `name: value` line each, headers one per line."""
    lines = []
    for name, value in told.items():
        if isinstance(value, dict):
            lines.append(f"{name}:")
            lines += [f"  {key}: {text}" for key, text in value.items()]
        elif name == "payload" and not isinstance(value, str):
            lines.append("payload:")
            lines += ["  " + line for line in json.dumps(value, indent=2).splitlines()]
        else:
            lines.append(f"{name}: {'-' if value is None else value}")
    return lines


def settled_line(settled: Settled) -> str:
    """Return one line saying what became of a dead letter."""
    said = _SAID[settled.result]
    if settled.reason is not None:
        said += f" ({settled.reason}: {settled.detail}); it is kept, to be redriven once fixed"
    elif settled.detail is not None:
        said += f" ({settled.detail})"
    return f"{settled.letter_id}  {said}"


def settled_json(results: Sequence[Settled]) -> str:
    """Return the JSON of what a redrive or discard did."""
    return json.dumps(
        [
            {"id": s.letter_id, "result": s.result, "reason": s.reason, "detail": s.detail}
            for s in results
        ],
        indent=2,
    )


def tally(results: Sequence[Settled]) -> str:
    """Return a one-line count of the results, e.g. `2 redriven, 1 still parked`."""
    counts = Counter(s.result for s in results)
    return ", ".join(f"{n} {result.replace('_', ' ')}" for result, n in sorted(counts.items()))


def _value(value: bytes | None) -> Any:
    if value is None:
        return None
    try:
        return json.loads(value)
    except ValueError:
        return value.decode(errors="backslashreplace")
