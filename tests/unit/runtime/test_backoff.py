"""Restarting something that keeps failing: waits that double up to a cap, reset by a good run."""

from services.runtime.backoff import Backoff, Restart


def test_failures_in_a_row_wait_1_2_4_seconds_up_to_the_cap() -> None:
    policy = Backoff(first=1.0, most=8.0, stable_after=60.0)
    attempts, delays = 0, []
    for _ in range(6):
        attempts, delay = policy.next_restart(attempts, ran_for=0.5)
        delays.append(delay)
    assert delays == [1.0, 2.0, 4.0, 8.0, 8.0, 8.0]
    assert attempts == 6


def test_a_run_that_stayed_up_a_while_starts_the_waits_over() -> None:
    policy = Backoff(first=1.0, most=30.0, stable_after=60.0)
    assert policy.next_restart(5, ran_for=59.9) == Restart(attempt=6, delay=30.0)
    assert policy.next_restart(5, ran_for=60.0) == Restart(attempt=1, delay=1.0)


def test_the_first_failure_waits_the_first_pause() -> None:
    assert Backoff(first=0.25).next_restart(0, ran_for=0.0) == Restart(attempt=1, delay=0.25)
