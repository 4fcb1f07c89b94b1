"""What `caseweave replay projection` shows while it works: done of expected, rate, time left;
a redrawn line on a terminal, a line every few seconds in a log."""

from services.cli.replay import ProgressLine, progress_line
from services.projection.service_layer.rebuild import ReplayProgress


def test_the_line_says_how_far_how_fast_and_how_long_to_go() -> None:
    line = progress_line(ReplayProgress(done=25_000, expected=100_000), seconds=10.0)

    assert line == "replayed 25,000 of 100,000 events (25%), 2,500/s, 30 s left"


def test_long_waits_read_in_minutes_and_hours() -> None:
    minutes = progress_line(ReplayProgress(done=1_000, expected=200_000), seconds=1.0)
    hours = progress_line(ReplayProgress(done=1_000, expected=10_000_000), seconds=1.0)

    assert minutes.endswith("3 min 19 s left")
    assert hours.endswith("2 h 46 min left")


def test_nothing_done_yet_has_no_time_left_to_guess() -> None:
    line = progress_line(ReplayProgress(done=0, expected=5), seconds=0.0)

    assert line == "replayed 0 of 5 events (0%), 0/s, time left unknown"


def test_in_a_log_a_line_every_few_seconds_and_always_the_last() -> None:
    now = [0.0]
    written: list[str] = []
    show = ProgressLine(on_terminal=False, started=0.0, clock=lambda: now[0], write=written.append)

    for done, at in ((100, 1.0), (200, 2.0), (900, 6.5), (950, 7.0), (1_000, 7.5)):
        now[0] = at
        show(ReplayProgress(done=done, expected=1_000))
    show.end()

    assert [line.split(" of ")[0] for line in written] == [
        "replayed 100",
        "replayed 900",
        "replayed 1,000",
    ]
    assert all(line.endswith("\n") for line in written)


def test_on_a_terminal_one_line_is_redrawn_and_ended_once() -> None:
    now = [0.0]
    written: list[str] = []
    show = ProgressLine(on_terminal=True, started=0.0, clock=lambda: now[0], write=written.append)

    for done, at in ((10, 0.1), (20, 0.15), (30, 0.5)):
        now[0] = at
        show(ReplayProgress(done=done, expected=100, resumed=True))
    show.end()

    assert written[0] == "resuming a stopped rebuild (--restart starts over)\n"
    assert [w[:13] for w in written[1:-1]] == ["\rreplayed 10 ", "\rreplayed 30 "]
    assert written[-1] == "\n"
    assert show.resumed
