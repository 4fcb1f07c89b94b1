"""`caseweave up` as a supervisor: what stops is started again after a growing pause."""

from structlog.testing import capture_logs

from services.cli.launcher import Restarter
from services.runtime.backoff import Backoff


class FakeService:
    """A supervised unit whose life the test decides."""

    name = "housing"

    def __init__(self, *, refuse_restarts: int = 0) -> None:
        self.up, self.restarts, self.refuse = True, 0, refuse_restarts

    def running(self) -> bool:
        return self.up

    def exit_code(self) -> int | None:
        return None if self.up else -9

    def restart(self) -> None:
        if self.refuse:
            self.refuse -= 1
            raise OSError("not now")
        self.up, self.restarts = True, self.restarts + 1


def test_a_unit_that_dies_is_restarted_after_the_pause_and_the_log_says_so() -> None:
    unit = FakeService()
    restarter = Restarter(unit, Backoff(first=1.0, most=30.0, stable_after=60.0), started_at=990.0)
    unit.up = False
    with capture_logs() as logs:
        restarter.check(1000.0)
        restarter.check(1000.5)
        assert unit.restarts == 0  # still pausing
        restarter.check(1001.0)
    assert unit.restarts == 1
    [restarting] = [line for line in logs if line["event"] == "service_restarting"]
    assert restarting == {
        "event": "service_restarting",
        "log_level": "warning",
        "service": "housing",
        "exit_code": -9,
        "attempt": 1,
        "delay_s": 1.0,
    }


def test_a_restart_that_fails_is_tried_again_after_a_longer_pause() -> None:
    """E.g. the embedded database still refusing to start while its old processes exit."""
    unit = FakeService(refuse_restarts=1)
    restarter = Restarter(unit, Backoff(first=1.0, most=30.0, stable_after=60.0), started_at=990.0)
    unit.up = False
    with capture_logs() as logs:
        for now in (1000.0, 1001.0, 1002.0, 1003.0):
            restarter.check(now)
    assert unit.restarts == 1
    delays = [line["delay_s"] for line in logs if line["event"] == "service_restarting"]
    assert delays == [1.0, 2.0]
    assert [line["event"] for line in logs if line["event"].startswith("restart")] == [
        "restart_failed"
    ]


def test_a_unit_that_ran_a_good_while_before_dying_again_starts_the_pauses_over() -> None:
    """Dies at once twice (1 s, 2 s), then runs for ten minutes and dies: 1 s again."""
    unit = FakeService()
    restarter = Restarter(unit, Backoff(first=1.0, most=30.0, stable_after=60.0), started_at=0.0)
    with capture_logs() as logs:
        for now, dies in ((1.0, True), (2.0, False), (3.0, True), (5.0, False), (605.0, True)):
            unit.up = not dies and unit.up
            restarter.check(now)
    delays = [line["delay_s"] for line in logs if line["event"] == "service_restarting"]
    assert delays == [1.0, 2.0, 1.0]
