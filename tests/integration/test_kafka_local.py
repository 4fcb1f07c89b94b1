"""`caseweave kafka local` runs a real Apache Kafka from Maven Central's jars: Caseweave's
topics are created and checked on it, and Ctrl-C stops it and leaves no process behind.

It needs Java 17+ and Maven (these machines have both). Where they are missing the test is
skipped with the reason, except under CI=true, where it fails.
"""

import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import psutil
import pytest

from tests.e2e.system import wait_for

MISSING = [tool for tool in ("java", "mvn") if shutil.which(tool) is None]
if MISSING and os.environ.get("CI", "").lower() != "true":
    pytest.skip(f"needs {' and '.join(MISSING)} on PATH", allow_module_level=True)


def _free_port_pair() -> int:
    """Return a port that is free, and free 100 above it (its controller's)."""
    while True:
        with socket.socket() as sock:
            sock.bind(("127.0.0.1", 0))
            port: int = sock.getsockname()[1]
        if port + 100 < 65536:
            with socket.socket() as other:
                if other.connect_ex(("127.0.0.1", port + 100)) != 0:
                    return port


def _caseweave(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "services.cli", *args],
        env=env, capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip


def _brokers_of(directory: Path) -> list[psutil.Process]:
    found = []
    for process in psutil.process_iter(["cmdline"]):
        command = " ".join(process.info["cmdline"] or [])
        if "kafka.Kafka" in command and str(directory) in command:
            found.append(process)
    return found


def test_kafka_local_takes_our_topics_and_stops_on_ctrl_c(tmp_path: Path) -> None:
    port = _free_port_pair()
    data = tmp_path / "data"
    env = {
        **os.environ,
        "CASEWEAVE_DATA_DIR": str(data),
        "CASEWEAVE_KAFKA_REPLICATION_FACTOR": "1",
        "CASEWEAVE_KAFKA_MIN_INSYNC_REPLICAS": "1",
    }
    env.pop("KAFKA_BOOTSTRAP_SERVERS", None)
    out = tmp_path / "kafka-local.out"
    with out.open("wb") as sink:
        local = subprocess.Popen(
            [sys.executable, "-m", "services.cli", "kafka", "local", "--port", str(port)],
            env=env, stdout=sink, stderr=subprocess.STDOUT, start_new_session=True,
        )  # fmt: skip
    try:
        wait_for(
            lambda: b"KAFKA_BOOTSTRAP_SERVERS=" in out.read_bytes() or local.poll() is not None,
            timeout=240, what="kafka local to say where it is",
        )  # fmt: skip
        assert local.poll() is None, out.read_text()
        bootstrap = f"localhost:{port}"
        assert f"KAFKA_BOOTSTRAP_SERVERS={bootstrap}" in out.read_text()
        topics = {**env, "KAFKA_BOOTSTRAP_SERVERS": bootstrap}
        created = _caseweave("kafka", "topics", "create", env=topics)
        assert created.returncode == 0, created.stderr
        assert "created" in created.stdout
        checked = _caseweave("kafka", "topics", "check", env=topics)
        assert checked.returncode == 0, checked.stdout + checked.stderr
        assert "topics match the configuration" in checked.stdout
        assert len(_brokers_of(data)) == 1
        local.send_signal(signal.SIGINT)
        assert local.wait(60) == 0, out.read_text()
        assert "Kafka stopped." in out.read_text()
        deadline = time.monotonic() + 10
        while _brokers_of(data) and time.monotonic() < deadline:
            time.sleep(0.2)
        assert _brokers_of(data) == []
    finally:
        if local.poll() is None:
            os.killpg(local.pid, signal.SIGKILL)
            local.wait()
        for broker in _brokers_of(data):
            broker.kill()
