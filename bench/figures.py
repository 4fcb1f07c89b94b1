"""The figures both sides report, named once so that ours and the peer's pair up."""

from collections.abc import Sequence
from dataclasses import dataclass

from bench.part import Measurement, Side
from bench.timing import latency, per_second


@dataclass(frozen=True)
class Run:
    """How long it took to handle `count` events, and each call's duration when timed singly."""

    count: int
    seconds: float
    durations: Sequence[float] = ()


def append_figures(side: Side, *, batched: Run, single: Run, concurrent: Run) -> list[Measurement]:
    """Return the append figures: batched, single sequential and single concurrent."""
    one, many = latency(single.durations), latency(concurrent.durations)
    return [
        Measurement("append.batched", "append batched", "events/s", side, _rate(batched)),
        Measurement("append.single", "append single, sequential", "events/s", side, _rate(single)),
        Measurement(
            "append.concurrent", "append single, concurrent", "events/s", side, _rate(concurrent)
        ),
        Measurement("append.single.p50", "  latency p50, sequential", "ms", side, one.p50_ms),
        Measurement("append.single.p99", "  latency p99, sequential", "ms", side, one.p99_ms),
        Measurement("append.concurrent.p50", "  latency p50, concurrent", "ms", side, many.p50_ms),
        Measurement("append.concurrent.p99", "  latency p99, concurrent", "ms", side, many.p99_ms),
    ]


def read_figure(side: Side, run: Run) -> Measurement:
    """Return the read-back figure: the whole log in batches, as a consumer reads it."""
    return Measurement("read.log", "read log in batches", "events/s", side, _rate(run))


def _rate(run: Run) -> float:
    return per_second(run.count, run.seconds)
