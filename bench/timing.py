"""Clocks and statistics: throughput from a count and a duration, p50/p99 from durations."""

import gc
import statistics
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass


@dataclass
class Stopwatch:
    """Seconds elapsed inside a `with stopwatch.running():` block."""

    seconds: float = 0.0

    @contextmanager
    def running(self) -> Iterator[None]:
        """Time the block (perf_counter) and add its duration to `seconds`."""
        start = time.perf_counter()
        try:
            yield
        finally:
            self.seconds += time.perf_counter() - start


def settle() -> None:
    """Collect garbage and freeze what is left, just before a timed loop.

    The prepared events (hundreds of thousands of objects) would otherwise be scanned by
    every full garbage collection inside the loop: that halved the read-back figure.
    """
    gc.collect()
    gc.freeze()


def per_second(count: int, seconds: float) -> float:
    """Return `count` per second over `seconds`."""
    return count / seconds if seconds > 0 else float("inf")


@dataclass(frozen=True)
class Latency:
    """Median and 99th percentile of a set of durations, in milliseconds."""

    p50_ms: float
    p99_ms: float


def latency(durations: Sequence[float]) -> Latency:
    """Return p50 and p99 (ms) of durations in seconds.

    Uses `statistics.quantiles(n=100, method="inclusive")`: cut points interpolated between
    the sorted samples, the 50th and 99th of the 99 cut points.
    """
    if len(durations) < 2:
        only = durations[0] * 1000 if durations else 0.0
        return Latency(only, only)
    cuts = statistics.quantiles(durations, n=100, method="inclusive")
    return Latency(p50_ms=cuts[49] * 1000, p99_ms=cuts[98] * 1000)
