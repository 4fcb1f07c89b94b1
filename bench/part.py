"""What a benchmark part is: a named, async measurement that returns figures for the report."""

from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import Literal

Side = Literal["ours", "peer"]
Unit = Literal["events/s", "requests/s", "writes/s", "ms", "share", "pairs", "s"]


@dataclass(frozen=True)
class SizeOption:
    """A size a part reads (`--<name>` on the command line), with its default."""

    name: str
    default: int
    help: str

    @property
    def flag(self) -> str:
        """Return the command-line flag, e.g. `--single-events` for `single_events`."""
        return "--" + self.name.replace("_", "-")


@dataclass(frozen=True)
class Measurement:
    """One figure measured by one side; `key` pairs ours with the peer's in the report."""

    key: str
    label: str
    unit: Unit
    side: Side
    value: float
    smaller_is_better: bool = False  # a share of work left to people, say

    @property
    def higher_is_better(self) -> bool:
        """Tell whether a bigger value is the better one (throughput, recall) or not (latency,
        seconds, pairs to compare or review)."""
        return not self.smaller_is_better and self.unit not in ("ms", "s", "pairs")


@dataclass(frozen=True)
class BenchContext:
    """What a part is given: a fresh database for each side and the sizes chosen."""

    ours_url: str
    peer_url: str
    sizes: Mapping[str, int]

    def size(self, name: str) -> int:
        """Return the size `name` (declared by some part's SizeOption)."""
        return self.sizes[name]


@dataclass(frozen=True)
class Share:
    """A figure of ours as a share of another figure of ours, when both ran in one invocation."""

    key: str
    label: str
    part: str  # the key of the figure shared out
    whole: str  # the key of the figure it is a share of

    def of(self, ours: Mapping[str, float]) -> Measurement | None:
        """Return the share as a measurement, or None unless both figures were measured."""
        part, whole = ours.get(self.part), ours.get(self.whole)
        if part is None or not whole:
            return None
        return Measurement(self.key, self.label, "share", "ours", part / whole)


RunPart = Callable[[BenchContext], Awaitable[list[Measurement]]]


@dataclass(frozen=True)
class Part:
    """A named benchmark part: what it measures, the sizes it reads, how each side runs it.

    `peer` does the same work with the peer library, for the ours/peer ratio; None when the
    peer has nothing to compare; `peer_note` says, in the report's header, how the peer's
    work differs from ours. `shares` are worked out once every chosen part has run.
    """

    name: str
    summary: str
    ours: RunPart
    peer: RunPart | None = None
    sizes: tuple[SizeOption, ...] = ()
    shares: tuple[Share, ...] = ()
    peer_note: str = ""
    missing: Callable[[], str | None] = lambda: None  # what must be installed first, if any
