"""Requests per API key: a burst goes through, then the average rate, and keys are apart."""

import pytest

from services.runtime import rate_limits
from services.runtime.rate_limits import RateLimits


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_a_burst_then_one_request_per_interval() -> None:
    clock = Clock()
    limits = RateLimits(60, 3, clock=clock)
    assert [limits.wait_for("k1") for _ in range(3)] == [0, 0, 0]
    assert limits.wait_for("k1") == 1  # one a second: the next token in a second
    clock.now += 1.0
    assert limits.wait_for("k1") == 0
    assert limits.wait_for("k1") == 1


def test_each_key_has_its_own_budget() -> None:
    limits = RateLimits(60, 1, clock=Clock())
    assert limits.wait_for("k1") == 0
    assert limits.wait_for("k1") == 1
    assert limits.wait_for("k2") == 0


def test_a_quiet_spell_refills_up_to_the_burst_only() -> None:
    clock = Clock()
    limits = RateLimits(600, 2, clock=clock)
    assert limits.wait_for("k") == 0
    clock.now += 3600
    assert [limits.wait_for("k") for _ in range(3)] == [0, 0, 1]


def test_failed_sign_ins_are_counted_apart_and_peeking_costs_nothing() -> None:
    failures = RateLimits(60, 2, clock=Clock())
    assert failures.blocked_for("10.0.0.1") == 0
    assert failures.blocked_for("10.0.0.1") == 0  # looking takes no token
    assert [failures.wait_for("10.0.0.1") for _ in range(2)] == [0, 0]
    assert failures.blocked_for("10.0.0.1") == 1


def test_idle_names_are_forgotten_when_there_are_too_many(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(rate_limits, "MAX_BUCKETS", 3)
    clock = Clock()
    limits = RateLimits(60, 1, clock=clock)
    for name in ("a", "b", "c"):
        limits.wait_for(name)
    clock.now += 5  # every bucket refilled: nothing to remember
    assert limits.wait_for("d") == 0
    assert limits.wait_for("a") == 0  # forgotten, so a full bucket again
    assert limits.wait_for("d") == 1  # the busy one is still counted
