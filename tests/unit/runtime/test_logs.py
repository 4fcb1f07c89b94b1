"""Log lines stay whole when several processes share one log (as under `caseweave up`)."""

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
