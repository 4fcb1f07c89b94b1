"""When to start again something that stopped: pauses that double, and forget a good run.

Pure: the caller says how many restarts came before in a row and how long the last run
lasted; the policy answers which attempt this is and how long to wait before it. Used by
`caseweave up` for the services and the embedded PostgreSQL, and by the log consumers.
"""

from dataclasses import dataclass
from typing import NamedTuple


class Restart(NamedTuple):
    """The next start: which attempt in a row it is (from 1), and the seconds to wait first."""

    attempt: int
    delay: float


@dataclass(frozen=True)
class Backoff:
    """Wait `first` seconds, then twice as long each time, at most `most`; a run that lasted
    `stable_after` seconds or more counts as healthy, and the next failure starts over."""

    first: float = 1.0
    most: float = 30.0
    stable_after: float = 60.0

    def next_restart(self, previous_attempts: int, *, ran_for: float) -> Restart:
        """Return the restart after a run of `ran_for` seconds that `previous_attempts`
        restarts in a row came before."""
        attempt = 1 if ran_for >= self.stable_after else previous_attempts + 1
        return Restart(attempt, min(self.most, self.first * 2 ** (attempt - 1)))
