"""Every log line is one whole JSON object: when processes share one log (as under `caseweave
up`), when threads write, and when an exception nobody caught is reported."""

import json
import subprocess
import sys
import textwrap
from pathlib import Path

PROCESSES = 4
LINES_PER_PROCESS = 1_500

WRITE_LOGS = textwrap.dedent(
    """
    import logging, sys, threading
    import structlog
    from services.runtime.logs import configure_logging

    configure_logging(service=sys.argv[1])
    log = structlog.get_logger()

    def from_a_library() -> None:
        for n in range(%(lines)d // 2):
            logging.getLogger("asyncpg").warning("library line %%d", n)

    thread = threading.Thread(target=from_a_library)
    thread.start()
    for n in range(%(lines)d - %(lines)d // 2):
        log.info("projection_caught_up", events=n, correlation_ids=["c" * 40])
    thread.join()
    """
) % {"lines": LINES_PER_PROCESS}


def test_lines_from_processes_and_threads_sharing_one_unbuffered_log_stay_one_json_object_each(
    tmp_path: Path,
) -> None:
    log = tmp_path / "up.log"
    with log.open("ab") as shared:  # one file, appended to by every child, as `caseweave up` does
        command = [sys.executable, "-u", "-c", WRITE_LOGS]  # -u: unbuffered, as in our image
        children = [
            subprocess.Popen([*command, f"service-{n}"], stdout=shared, stderr=subprocess.STDOUT)
            for n in range(PROCESSES)
        ]
        for child in children:
            assert child.wait(timeout=60) == 0

    lines = log.read_text().splitlines()
    records = [json.loads(line) for line in lines]  # a line split or run together fails here
    assert len(records) == PROCESSES * LINES_PER_PROCESS
    assert {r["service"] for r in records} == {f"service-{n}" for n in range(PROCESSES)}


FAIL_IN_A_THREAD_AND_IN_A_DESTRUCTOR = textwrap.dedent(
    """
    import threading
    from services.runtime.logs import configure_logging

    configure_logging(service="projection")

    def fail() -> None:
        raise ValueError("consumer thread ended under it")

    class Closing:
        def __del__(self) -> None:
            raise RuntimeError("Event loop is closed")

    thread = threading.Thread(target=fail, name="consumer")
    thread.start()
    thread.join()
    Closing()
    """
)


def test_an_uncaught_exception_in_a_thread_or_during_clean_up_is_a_json_line() -> None:
    finished = subprocess.run(
        [sys.executable, "-u", "-c", FAIL_IN_A_THREAD_AND_IN_A_DESTRUCTOR],
        capture_output=True, text=True, timeout=60, check=True,
    )  # fmt: skip

    assert finished.stderr == ""
    records = [json.loads(line) for line in finished.stdout.splitlines()]
    by_message = {r["message"]: r for r in records}
    assert set(by_message) == {"thread_failed", "exception_ignored"}
    thread_failed = by_message["thread_failed"]
    assert (thread_failed["service"], thread_failed["thread"]) == ("projection", "consumer")
    assert "ValueError: consumer thread ended under it" in thread_failed["exception"]
    assert "RuntimeError: Event loop is closed" in by_message["exception_ignored"]["exception"]
    assert all(r["level"] == "error" for r in records)
