"""Requests per API key: a token bucket per key, in the process's memory.

Each key may make `per_minute` requests a minute on average, and up to `burst` at once after
a quiet spell. A process counts only its own requests: with several replicas of a service,
a key's budget is per replica (say so in deploy/README.md when running more than one).
"""

import math
import time
from collections.abc import Callable
from dataclasses import dataclass


@dataclass(frozen=True)
class HttpLimits:
    """What one HTTP request may be: its body's size, and how often a key may call."""

    max_request_bytes: int = 1_048_576
    rate_per_minute: int = 600
    rate_burst: int = 100


@dataclass
class TokenBucket:
    """Tokens refill at `rate` a second up to `capacity`; a request takes one."""

    rate: float
    capacity: float
    tokens: float
    updated: float

    def take(self, now: float) -> float:
        """Take a token if there is one and return 0, else return the seconds until one."""
        self.tokens = min(self.capacity, self.tokens + (now - self.updated) * self.rate)
        self.updated = now
        if self.tokens >= 1:
            self.tokens -= 1
            return 0.0
        return (1 - self.tokens) / self.rate


class RateLimits:
    """One token bucket per API key."""

    def __init__(self, limits: HttpLimits, *, clock: Callable[[], float] = time.monotonic) -> None:
        self._rate = limits.rate_per_minute / 60
        self._burst = float(limits.rate_burst)
        self._clock = clock
        self._buckets: dict[str, TokenBucket] = {}

    def wait_for(self, key_id: str) -> int:
        """Count a request by `key_id`; return 0 if it may go ahead, else whole seconds to wait."""
        now = self._clock()
        bucket = self._buckets.get(key_id)
        if bucket is None:
            bucket = self._buckets[key_id] = TokenBucket(self._rate, self._burst, self._burst, now)
        wait = bucket.take(now)
        return math.ceil(wait) if wait > 0 else 0
