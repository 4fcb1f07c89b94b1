"""Dead letters: messages a consumer set aside instead of applying, and what became of them.

Two kinds of place hold them. In Kafka mode a poison message goes to the dead-letter topic
(`TopicOrigin`: where it was on its own topic, and where its copy is on the dead-letter
topic). An event a consumer of the PostgreSQL logs cannot read, or one the projection can
only read once its sealed values are opened, stays where it is (its organisation's log, the
projection's timeline) and is parked by id (`LogOrigin`). Either way it is listed, shown,
redriven (applied by its consumer's own code, once) or discarded by `caseweave dead-letters`.

Pure: what is shown to whom, which dead letters a filter selects, what each may become.
"""

import hashlib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Literal

Status = Literal["parked", "redriven", "discarded"]
Headers = tuple[tuple[str, bytes], ...]

# header names whose values say what and where a message is, never who it is about
SAFE_HEADERS = frozenset(
    {
        "event_id", "event_type", "schema_version", "correlation_id", "org",
        "dead_letter_reason", "dead_letter_detail", "dead_letter_source_topic",
        "dead_letter_source_partition", "dead_letter_source_offset", "dead_letter_consumer",
    }
)  # fmt: skip


@dataclass(frozen=True)
class TopicOrigin:
    """A poison message on the dead-letter topic: its source position, and its copy's."""

    topic: str
    partition: int
    offset: int
    copy_partition: int
    copy_offset: int

    def describe(self) -> str:
        """Return where the message was, for people."""
        return f"{self.topic} partition {self.partition} offset {self.offset}"


@dataclass(frozen=True)
class LogOrigin:
    """A parked event, kept in its organisation's log or the projection's timeline."""

    org: str
    event_id: str

    def describe(self) -> str:
        """Return where the event is, for people."""
        return f"{self.org}'s event {self.event_id}"


@dataclass(frozen=True)
class DeadLetter:
    """One message set aside, why, and what became of it: never a personal value."""

    id: str
    parked_at: datetime
    consumer: str
    reason: str
    detail: str
    event_type: str | None
    event_id: str | None
    origin: TopicOrigin | LogOrigin
    status: Status = "parked"
    settled_at: datetime | None = None
    attempts: int = 0


@dataclass(frozen=True)
class ParkedMessage:
    """A dead letter and the message as its consumer received it (the value may hold sealed
    personal values, and the key is the organisation's person reference)."""

    letter: DeadLetter
    key: bytes | None
    value: bytes | None
    headers: Headers


def topic_letter_id(consumer: str, topic: str, partition: int, offset: int) -> str:
    """Return the id of a dead letter on the dead-letter topic (the same for every copy)."""
    return "k" + _digest(consumer, topic, str(partition), str(offset))


def log_letter_id(consumer: str, org: str, event_id: str) -> str:
    """Return the id of a parked event."""
    return "p" + _digest(consumer, org, event_id)


def _digest(*parts: str) -> str:
    return hashlib.sha256("|".join(parts).encode()).hexdigest()[:12]


@dataclass(frozen=True)
class Selection:
    """Which dead letters to act on: by consumer and reason; settled ones only if asked."""

    consumer: str | None = None
    reason: str | None = None
    settled_too: bool = False

    def selects(self, letter: DeadLetter) -> bool:
        """Tell whether `letter` is one of those selected."""
        return (
            (self.consumer is None or letter.consumer == self.consumer)
            and (self.reason is None or letter.reason == self.reason)
            and (self.settled_too or letter.status == "parked")
        )


def selected(letters: Iterable[DeadLetter], selection: Selection) -> list[DeadLetter]:
    """Return the dead letters `selection` selects, oldest first."""
    return sorted(
        (letter for letter in letters if selection.selects(letter)),
        key=lambda letter: (letter.parked_at, letter.id),
    )


def summary(letter: DeadLetter) -> dict[str, str | int | None]:
    """Return what `list` shows of a dead letter: ids, time, consumer, reason, event type."""
    return {
        "id": letter.id,
        "parked_at": letter.parked_at.isoformat(),
        "consumer": letter.consumer,
        "reason": letter.reason,
        "event_type": letter.event_type,
        "status": letter.status,
    }


def description(letter: DeadLetter) -> dict[str, str | int | None]:
    """Return what `show` tells of a dead letter without its payload."""
    settled = letter.settled_at.isoformat() if letter.settled_at else None
    return {
        **summary(letter),
        "detail": letter.detail,
        "event_id": letter.event_id,
        "source": letter.origin.describe(),
        "settled_at": settled,
        "redrive_attempts": letter.attempts,
    }


def safe_headers(headers: Headers) -> tuple[dict[str, str], int]:
    """Return the headers known to hold no personal data, as text, and how many others."""
    safe = {name: value.decode(errors="replace") for name, value in headers if name in SAFE_HEADERS}
    return safe, sum(1 for name, _ in headers if name not in SAFE_HEADERS)


def header_text(headers: Headers) -> Mapping[str, str]:
    """Return every header as text (for `show --payload`)."""
    return {name: value.decode(errors="replace") for name, value in headers}


Result = Literal[
    "redriven", "still_parked", "already_redriven", "discarded", "already_discarded",
    "not_found", "no_consumer", "failed",
]  # fmt: skip
DONE: frozenset[Result] = frozenset(
    {"redriven", "already_redriven", "discarded", "already_discarded"}
)


@dataclass(frozen=True)
class Settled:
    """What a redrive or a discard did to one dead letter (`reason`: why it is still parked)."""

    letter_id: str
    result: Result
    reason: str | None = None
    detail: str | None = None

    @property
    def done(self) -> bool:
        """Tell whether nothing is left to do about the dead letter."""
        return self.result in DONE


def may_redrive(status: Status) -> bool:
    """Tell whether a dead letter may be applied now: once redriven, never again (a
    discarded one may be, if the operator changes their mind)."""
    return status != "redriven"


def discarded(status: Status) -> Result:
    """Return what discarding a dead letter in `status` comes to."""
    if status == "parked":
        return "discarded"
    return "already_discarded" if status == "discarded" else "already_redriven"
