"""The benchmarks' CPU accounting: what each process spent, and what the cores allow."""

import sys
import time

import pytest

from bench.cpu import CpuSpent, cpu_seconds


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc")
def test_the_cpu_of_matching_processes_is_counted_and_grows_with_work() -> None:
    def this_test(command: str) -> bool:
        return "pytest" in command

    before = cpu_seconds(this_test)
    finish = time.process_time() + 0.2
    while time.process_time() < finish:
        pass
    after = cpu_seconds(this_test)
    assert before is not None
    assert after is not None
    assert after - before >= 0.15
    assert cpu_seconds(lambda command: "no process is called this" in command) == 0


def test_each_part_and_the_cores_limit_are_said_per_request() -> None:
    spent = CpuSpent(service=1.2, postgres=0.6, client=1.2)  # seconds, for 1,000 writes

    said = spent.per(1_000, "write", serial=False)

    assert said.startswith("CPU ms per write: service 1.20, PostgreSQL 0.60, client 1.20")
    assert "(in all 3.00)" in said
    assert "at most" in said
    assert "at most" not in spent.per(1_000, "write", serial=True)
    assert CpuSpent(None, 0.05, 0.1).per(1_000, "event", serial=True, this="projection") == (
        "CPU µs per event: PostgreSQL 50.00, projection 100.00 (in all 150.00)"
    )
