"""In Kafka mode a service that cannot reach the cluster, or lacks its topics, says so plainly."""

import subprocess
import sys

from tests.e2e.system import System
from tests.real_kafka import RealKafka


def _run_worker(system: System, bootstrap_servers: str) -> subprocess.CompletedProcess[str]:
    env = {
        **system.env,
        "CASEWEAVE_TRANSPORT": "kafka",
        "KAFKA_BOOTSTRAP_SERVERS": bootstrap_servers,
    }
    return subprocess.run(
        [sys.executable, "-m", "services.cli", "run", "projection-worker"],
        env=env, capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip


def test_an_unreachable_cluster_is_one_line_and_exit_1(system: System) -> None:
    finished = _run_worker(system, "127.0.0.1:1")

    assert finished.returncode == 1
    assert "cannot reach Kafka at KAFKA_BOOTSTRAP_SERVERS=127.0.0.1:1" in finished.stderr
    assert "Traceback" not in finished.stderr + finished.stdout


def test_missing_topics_are_named_with_the_command_that_creates_them(
    system: System, kafka: RealKafka
) -> None:
    # the run's shared cluster holds no topic of the production names
    finished = _run_worker(system, kafka.bootstrap_servers)

    assert finished.returncode == 1
    assert "caseweave kafka topics create" in finished.stderr
    assert "Traceback" not in finished.stderr + finished.stdout
