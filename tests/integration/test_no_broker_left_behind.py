"""A test run leaves no Kafka node behind, even when it fails or hangs.

A run that fails leaves `real_kafka`'s block, which stops the cluster; a run that hangs is
ended by pytest-timeout (`os._exit`) or by CI's own time limit (SIGKILL). Both end the process
that started the nodes, and then the kernel kills them (PR_SET_PDEATHSIG).
"""

import os
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import psutil

from tests.e2e.system import wait_for
from tests.real_kafka import kafka_or_skip

_STARTS_KAFKA_THEN_HANGS = textwrap.dedent(
    """
    import sys, time
    from tests.real_kafka import real_kafka

    with real_kafka() as kafka:
        print("up", flush=True)
        if sys.argv[1] == "fail":
            raise SystemExit(1)
        time.sleep(600)
    """
)


def _nodes_started_by(pid: int) -> list[psutil.Process]:
    return [
        process
        for process in psutil.process_iter(["cmdline", "ppid"])
        if process.info["ppid"] == pid and "kafka.Kafka" in " ".join(process.info["cmdline"] or [])
    ]


def _run_until_kafka_is_up(how: str, out: Path) -> tuple[subprocess.Popen[bytes], list[int]]:
    with out.open("wb") as sink:
        run = subprocess.Popen(
            [sys.executable, "-c", _STARTS_KAFKA_THEN_HANGS, how],
            stdout=sink, stderr=subprocess.STDOUT, cwd=Path(__file__).parents[2],
        )  # fmt: skip
    wait_for(lambda: b"up" in out.read_bytes() or run.poll() is not None, timeout=120,
             what="the run's Kafka to start")  # fmt: skip
    nodes = [node.pid for node in _nodes_started_by(run.pid)]
    return run, nodes


def _gone(pids: list[int]) -> bool:
    return not any(
        psutil.pid_exists(pid) and psutil.Process(pid).status() != "zombie" for pid in pids
    )


def test_a_hung_run_killed_from_outside_takes_its_kafka_node_with_it(tmp_path: Path) -> None:
    kafka_or_skip()
    run, nodes = _run_until_kafka_is_up("hang", tmp_path / "run.out")
    assert nodes, (tmp_path / "run.out").read_text()

    os.kill(run.pid, signal.SIGKILL)  # as CI's time limit, or pytest-timeout's os._exit
    run.wait()

    wait_for(lambda: _gone(nodes), timeout=30, what="the orphaned Kafka node to die")


def test_a_failed_run_stops_its_kafka_node_before_it_ends(tmp_path: Path) -> None:
    kafka_or_skip()
    run, nodes = _run_until_kafka_is_up("fail", tmp_path / "run.out")
    assert nodes or run.poll() == 1, (tmp_path / "run.out").read_text()

    assert run.wait(60) == 1
    assert _gone(nodes)
