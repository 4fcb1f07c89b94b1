"""Start Caseweave the way a user does (`caseweave up`, `caseweave keys create`) for e2e tests."""

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import psutil

from tests.real_kafka import kafka_nodes_under

SERVICES = ("projection", "housing", "mental_health", "voluntary")
# each a CASEWEAVE_<NAME>_PORT: the services' and the lone projection worker's /metrics
PORTS = (*SERVICES, "worker_metrics")


# the story's person, as a housing officer registers him over HTTP
PERSON = {
    "nhs_number": "943 476 5919",
    "given_name": "David",
    "family_name": "Smith",
    "date_of_birth": "1979-03-12",
    "postcode": "BS5 6XX",
    "place": "E05001234",
}


def free_port() -> int:
    """Return a TCP port nobody is listening on right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@dataclass
class System:
    """A running (or runnable) Caseweave system: its environment, ports and processes."""

    database_url: str
    data_dir: Path
    ports: dict[str, int] = field(default_factory=lambda: {name: free_port() for name in PORTS})
    process: subprocess.Popen[bytes] | None = None
    kafka_bootstrap_servers: str | None = None  # set: the Kafka transport, else the embedded one
    # set: `up --transport kafka` starts a one-node Kafka on this port (kafka_bootstrap_servers
    # names it for the other commands); unset with kafka_bootstrap_servers: an external cluster
    kafka_port: int | None = None
    settings: dict[str, str] = field(default_factory=dict)  # more CASEWEAVE_* variables

    @property
    def env(self) -> dict[str, str]:
        """Return the environment every caseweave command of this system runs with."""
        env = {**os.environ, "CASEWEAVE_DATABASE_URL": self.database_url}
        env["CASEWEAVE_DATA_DIR"] = str(self.data_dir)
        env.update(
            {f"CASEWEAVE_{name.upper()}_PORT": str(port) for name, port in self.ports.items()}
        )
        if self.kafka_bootstrap_servers:
            env["CASEWEAVE_TRANSPORT"] = "kafka"
            env["KAFKA_BOOTSTRAP_SERVERS"] = self.kafka_bootstrap_servers
            # a killed worker's partitions wait this long for it: the broker's least
            env["CASEWEAVE_KAFKA_SESSION_TIMEOUT_MS"] = "6000"
        env.update(self.settings)
        return env

    def url(self, service: str) -> str:
        """Return the base URL of a service."""
        return f"http://127.0.0.1:{self.ports[service]}"

    def caseweave(self, *args: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
        """Run a caseweave command against this system and return its completed process."""
        return subprocess.run(
            [sys.executable, "-m", "services.cli", *args],
            env=self.env, capture_output=True, text=True, timeout=timeout, check=True,
        )  # fmt: skip

    def create_key(self, org: str, role: str = "frontline") -> str:
        """Create an API key with the CLI and return it (the last word it prints)."""
        return self.caseweave("keys", "create", "--org", org, "--role", role).stdout.split()[-1]

    def start(self, log_path: Path) -> None:
        """Start `caseweave up` and wait until every service is ready."""
        log = log_path.open("ab")
        command, env = [sys.executable, "-m", "services.cli", "up"], self.env
        if self.kafka_port is not None:  # as a user runs `./up --kafka`
            command += ["--transport", "kafka", "--kafka-port", str(self.kafka_port)]
            del env["KAFKA_BOOTSTRAP_SERVERS"]
        self.process = subprocess.Popen(
            command, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
        )  # fmt: skip
        wait_for(self._all_ready, timeout=90, what="every service to be ready")
        # `up` itself has seen them ready (it supervises from then on): a test that kills a
        # service earlier would find `up` still starting, which stops everything instead
        wait_for(lambda: b"up_ready" in log_path.read_bytes(), timeout=90, what="up to be ready")

    def stop(self, timeout: float = 30) -> int:
        """Press Ctrl-C on `caseweave up` and return its exit code."""
        assert self.process is not None
        self.process.send_signal(signal.SIGINT)
        code = self.process.wait(timeout)
        self.process = None
        return code

    def kill(self) -> None:
        """Kill everything `caseweave up` started (for cleanup after a failure).

        The Kafka node `up --transport kafka` started runs in its own session, out of reach
        of the group kill; its parent-death signal would stop it gracefully, in seconds, so it
        is killed here too, and waited for: no test leaves it behind for the next.
        """
        if self.process is not None and self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait()
        self.process = None
        if self.kafka_port is not None:
            nodes = kafka_nodes_under(self.data_dir)
            for node in nodes:
                node.kill()
            psutil.wait_procs(nodes, timeout=30)

    def _all_ready(self) -> bool:
        if self.process is not None and self.process.poll() is not None:
            raise RuntimeError(f"caseweave up exited with {self.process.returncode}")
        try:
            return all(
                httpx.get(f"{self.url(name)}/health/ready", timeout=1).is_success
                for name in SERVICES
            )
        except httpx.HTTPError:
            return False


def wait_for(condition: Callable[[], Any], *, timeout: float = 30, what: str = "condition") -> Any:
    """Poll `condition` until it returns something truthy; return that, or fail after `timeout`."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        result = condition()
        if result:
            return result
        time.sleep(0.1)
    raise AssertionError(f"timed out after {timeout}s waiting for {what}")


@contextmanager
def running(system: System, log_path: Path) -> Iterator[System]:
    """Run `caseweave up` for the duration of a block, killing it if the block fails."""
    system.start(log_path)
    try:
        yield system
    finally:
        system.kill()
