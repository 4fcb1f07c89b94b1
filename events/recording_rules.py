"""Rules event data follows when it is recorded, which events read back are not held to again.

Free text must say something, and a date saying when something happened cannot be after the
event itself happened. An event stored before a rule existed must still load, so
`decode_payload` validates stored data with the `ALREADY_RECORDED` context, which lets it
through; an organisation checks a case event's dates by validating its data with
`recording_context(occurred_at)`.
"""

import unicodedata
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Annotated, Any, Final

from pydantic import AfterValidator, Field, ValidationInfo
from pydantic_core import PydanticCustomError

ALREADY_RECORDED: Final[Mapping[str, Any]] = {"already_recorded": True}
"""Validation context for data accepted once already: read back, or copied from a stored event."""

UK_OFFSET_AT_MOST = timedelta(hours=1)  # British Summer Time: a UK calendar day ends by 23:00 UTC
_INVISIBLE = frozenset({"Cc", "Cf", "Zs", "Zl", "Zp"})  # controls, zero-width and format, spaces


def recording_context(*, occurred_at: datetime) -> dict[str, Any]:
    """Return the validation context of event data recorded as happening at `occurred_at`."""
    return {"occurred_at": occurred_at}


def _already_recorded(info: ValidationInfo) -> bool:
    return bool(info.context and info.context.get("already_recorded"))


def _is_invisible(char: str) -> bool:
    return char.isspace() or unicodedata.category(char) in _INVISIBLE


def _is_blank(value: str) -> bool:
    return all(map(_is_invisible, value))


def _visible_length(value: str) -> int:
    """Characters that show, spaces between words included (zero-width ones never count)."""
    shown = "".join(char for char in value if unicodedata.category(char) not in {"Cc", "Cf"})
    return len(shown.strip())


@dataclass(frozen=True)
class SaysSomething:
    """Validator of free text: at least `min_length` characters that show, besides the spaces
    around them (zero-width characters do not pad a reason to length)."""

    min_length: int = 1

    def __call__(self, value: str, info: ValidationInfo) -> str:
        """Return `value`, or raise `not_blank` (or `string_too_short`) when recording it."""
        if _already_recorded(info):
            return value
        if _is_blank(value):
            raise PydanticCustomError("not_blank", "must contain more than spaces")
        if _visible_length(value) < self.min_length:
            raise PydanticCustomError(
                "string_too_short",
                "should have at least {min_length} characters besides spaces",
                {"min_length": self.min_length},
            )
        return value


FreeText = Annotated[
    str,
    Field(max_length=500, json_schema_extra={"pattern": r"\S"}),
    AfterValidator(SaysSomething()),
]
"""Words a person wrote (a reason, an outcome, a note): up to 500 characters, not only spaces.

No `min_length`: that would hold when reading back too, and empty text was once accepted
where it was optional; empty text is blank, so recording refuses it as `not_blank`.
"""


def latest_day_of(occurred_at: datetime) -> date:
    """Return the latest calendar day, in the UK, that the instant `occurred_at` falls on."""
    return (occurred_at.astimezone(UTC) + UK_OFFSET_AT_MOST).date()


def _check_not_after_event(value: date, info: ValidationInfo) -> date:
    occurred_at = (info.context or {}).get("occurred_at")
    if isinstance(occurred_at, datetime) and value > latest_day_of(occurred_at):
        raise PydanticCustomError(
            "not_in_future",
            "this date cannot be after the event happened ({occurred_at})",
            {"occurred_at": occurred_at.isoformat()},
        )
    return value


HappenedOn = Annotated[
    date,
    AfterValidator(_check_not_after_event),
    Field(description="when it happened: not after the event's occurred_at"),
]
