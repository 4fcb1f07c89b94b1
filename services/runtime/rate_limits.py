"""Requests per API key, and failed sign-ins per client address: token buckets in memory.

Each key may make `per_minute` requests a minute on average, and up to `burst` at once after
a quiet spell. Each client address may fail to authenticate `auth_failures_per_minute` times
a minute on average (`auth_failures_burst` at once): guessing keys or tokens is slowed down
to nothing. A process counts only its own requests: with several replicas of a service,
the budgets are per replica (deploy/README.md says so).
"""

import math
import time
from collections.abc import Callable
from dataclasses import dataclass

MAX_BUCKETS = 100_000  # names remembered before the idle ones are forgotten


@dataclass(frozen=True)
class HttpLimits:
    """What one HTTP request may be: its body's size, and how often a key may call."""

    max_request_bytes: int = 1_048_576
    rate_per_minute: int = 600
    rate_burst: int = 100
    auth_failures_per_minute: int = 30
    auth_failures_burst: int = 10


@dataclass
class TokenBucket:
    """Tokens refill at `rate` a second up to `capacity`; a request takes one."""

    rate: float
    capacity: float
    tokens: float
    updated: float

    def take(self, now: float) -> float:
        """Take a token if there is one and return 0, else return the seconds until one."""
        wait = self.peek(now)
        if wait == 0:
            self.tokens -= 1
        return wait

    def peek(self, now: float) -> float:
        """Return 0 if a token is there (taking none), else the seconds until one is."""
        self.tokens = min(self.capacity, self.tokens + (now - self.updated) * self.rate)
        self.updated = now
        return 0.0 if self.tokens >= 1 else (1 - self.tokens) / self.rate


class RateLimits:
    """One token bucket per name (an API key, a client address)."""

    def __init__(
        self, per_minute: int, burst: int, *, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self._rate = per_minute / 60
        self._burst = float(burst)
        self._clock = clock
        self._buckets: dict[str, TokenBucket] = {}

    def wait_for(self, name: str) -> int:
        """Count one by `name`; return 0 if it may go ahead, else whole seconds to wait."""
        now = self._clock()
        return _whole_seconds(self._bucket(name, now).take(now))

    def blocked_for(self, name: str) -> int:
        """Return 0 if `name` has budget left (using none of it), else whole seconds to wait."""
        now = self._clock()
        return _whole_seconds(self._bucket(name, now).peek(now))

    def _bucket(self, name: str, now: float) -> TokenBucket:
        bucket = self._buckets.get(name)
        if bucket is None and len(self._buckets) >= MAX_BUCKETS:
            self._forget_idle(now)
        if bucket is None:
            bucket = self._buckets[name] = TokenBucket(self._rate, self._burst, self._burst, now)
        return bucket

    def _forget_idle(self, now: float) -> None:
        """Drop the buckets that have refilled: they hold nothing a new one would not."""
        for name, bucket in list(self._buckets.items()):
            if bucket.peek(now) == 0 and bucket.tokens >= bucket.capacity:
                del self._buckets[name]


def _whole_seconds(wait: float) -> int:
    return math.ceil(wait) if wait > 0 else 0
