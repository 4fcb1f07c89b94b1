"""What a benchmark part is: a named, async measurement that returns figures for the report."""

from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import Literal

Side = Literal["ours", "peer"]


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
    unit: Literal["events/s", "requests/s", "ms"]
    side: Side
    value: float

    @property
    def higher_is_better(self) -> bool:
        """Tell whether a bigger value is the better one (throughput) or not (latency)."""
        return self.unit != "ms"


@dataclass(frozen=True)
class BenchContext:
    """What a part is given: a fresh database for each side and the sizes chosen."""

    ours_url: str
    peer_url: str
    sizes: Mapping[str, int]

    def size(self, name: str) -> int:
        """Return the size `name` (declared by some part's SizeOption)."""
        return self.sizes[name]


RunPart = Callable[[BenchContext], Awaitable[list[Measurement]]]


@dataclass(frozen=True)
class Part:
    """A named benchmark part: what it measures, the sizes it reads, how each side runs it.

    `peer` does the same work with the peer library, for the ours/peer ratio; None when the
    peer has nothing to compare.
    """

    name: str
    summary: str
    ours: RunPart
    peer: RunPart | None = None
    sizes: tuple[SizeOption, ...] = ()
