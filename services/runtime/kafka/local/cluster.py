"""A real Apache Kafka cluster in KRaft mode on this machine: one or three nodes, each a
broker and a controller, with the settings deploy/compose.yaml gives its broker.

Each node is a `java` process of its own (in its own session, so a Ctrl-C in the terminal
reaches `caseweave kafka local`, which stops the nodes in order), asked to stop with SIGTERM
when the cluster stops and when the process that started it dies. Data stays under the
cluster's directory between runs; storage is formatted once.
"""

import base64
import contextlib
import ctypes
import functools
import signal
import socket
import subprocess
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

START_TIMEOUT_SECONDS = 90.0
STOP_GRACE_SECONDS = 30.0
HEAP = "-Xmx384M"
_PR_SET_PDEATHSIG = 1

_LOGGING = """Configuration:
  Appenders:
    File:
      name: FILE
      fileName: "{log}"
      PatternLayout:
        Pattern: "[%d] %p %m (%c)%n"
  Loggers:
    Root:
      level: INFO
      AppenderRef:
        - ref: FILE
"""


@dataclass(frozen=True)
class Node:
    """One broker-and-controller of the cluster."""

    node_id: int
    port: int
    controller_port: int
    directory: Path

    def properties(self, *, voters: str, replicas: int) -> str:
        """Return the node's server.properties (compose's broker settings, and replication
        as the cluster's size allows: 3 copies and 2 in sync on three nodes)."""
        settings = {
            "process.roles": "broker,controller",
            "node.id": self.node_id,
            "controller.quorum.voters": voters,
            "listeners": f"PLAINTEXT://localhost:{self.port},CONTROLLER://localhost:{self.controller_port}",
            "advertised.listeners": f"PLAINTEXT://localhost:{self.port}",
            "inter.broker.listener.name": "PLAINTEXT",
            "controller.listener.names": "CONTROLLER",
            "listener.security.protocol.map": "CONTROLLER:PLAINTEXT,PLAINTEXT:PLAINTEXT",
            "log.dirs": self.directory / "data",
            "offsets.topic.replication.factor": replicas,
            "transaction.state.log.replication.factor": replicas,
            "transaction.state.log.min.isr": min(replicas, 2),
            "share.coordinator.state.topic.replication.factor": replicas,
            "share.coordinator.state.topic.min.isr": min(replicas, 2),
            "default.replication.factor": replicas,
            "min.insync.replicas": min(replicas, 2),
            "group.initial.rebalance.delay.ms": 0,
            "auto.create.topics.enable": "false",  # topics come from `kafka topics create`
        }
        return "".join(f"{name}={value}\n" for name, value in settings.items())


class KafkaNodeFailed(Exception):
    """A node did not start, or stopped on its own; the message says where its log is."""


class LocalKafkaCluster:
    """One or three Kafka nodes on localhost, their data under `directory`."""

    def __init__(
        self,
        *,
        java: str,
        libs: Path,
        directory: Path,
        nodes: int,
        port: int,
        orphan_signal: signal.Signals = signal.SIGTERM,
    ) -> None:
        """`orphan_signal` is what a node gets when the process that started it dies (tests
        use SIGKILL: nothing to keep, and no wait for a quorum that is gone)."""
        if nodes not in (1, 3):
            raise ValueError("a local cluster has 1 or 3 nodes")
        self._java, self._libs, self.directory = java, libs, directory
        self._orphan_signal = orphan_signal
        self.nodes = [
            Node(n, port + n - 1, port + 100 + n - 1, directory / f"node-{n}")
            for n in range(1, nodes + 1)
        ]
        self._processes: dict[int, subprocess.Popen[bytes]] = {}

    @property
    def bootstrap_servers(self) -> str:
        """Return the cluster's bootstrap servers, `localhost:port,…`."""
        return ",".join(f"localhost:{node.port}" for node in self.nodes)

    def start(self, timeout: float = START_TIMEOUT_SECONDS) -> None:
        """Format the nodes' storage (once), start them and wait until each serves clients."""
        busy = [node.port for node in self.nodes if _in_use(node.port)]
        if busy:
            raise KafkaNodeFailed(f"port {busy[0]} is in use: is a Kafka already running there?")
        cluster_id = self._cluster_id()
        voters = ",".join(f"{n.node_id}@localhost:{n.controller_port}" for n in self.nodes)
        for node in self.nodes:
            self._configure(node, voters=voters)
            self._format(node, cluster_id)
        logged = {node.node_id: _size(self.log_of(node)) for node in self.nodes}
        for node in self.nodes:
            self._processes[node.node_id] = self._spawn(node)
        deadline = time.monotonic() + timeout
        for node in self.nodes:
            self._wait_until_serving(node, deadline, log_from=logged[node.node_id])

    def kill_node(self, node_id: int) -> None:
        """Kill one node at once (SIGKILL: no clean shutdown), as a crash would."""
        process = self._processes[node_id]
        process.kill()
        process.wait()

    def start_node(self, node_id: int, timeout: float = START_TIMEOUT_SECONDS) -> None:
        """Start a node that was killed or stopped again, and wait until it serves clients."""
        node = next(n for n in self.nodes if n.node_id == node_id)
        if self._processes[node_id].poll() is None:
            raise KafkaNodeFailed(f"node {node_id} is still running")
        logged = _size(self.log_of(node))  # "started" after this is this start's
        self._processes[node_id] = self._spawn(node)
        self._wait_until_serving(node, time.monotonic() + timeout, log_from=logged)

    def stop_node(self, node_id: int, grace: float = STOP_GRACE_SECONDS) -> None:
        """Stop one node cleanly (SIGTERM), killing it after `grace` seconds."""
        process = self._processes[node_id]
        process.terminate()
        try:
            process.wait(grace)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()

    def failed_node(self) -> Node | None:
        """Return a node whose process has ended, if any."""
        return next((n for n in self.nodes if self._processes[n.node_id].poll() is not None), None)

    def stop(self, grace: float = STOP_GRACE_SECONDS) -> None:
        """Stop every node: SIGTERM (a clean shutdown), then SIGKILL after `grace` seconds."""
        for process in self._processes.values():
            if process.poll() is None:
                process.terminate()
        deadline = time.monotonic() + grace
        for process in self._processes.values():
            try:
                process.wait(max(0.0, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
        self._processes.clear()

    def log_of(self, node: Node) -> Path:
        """Return where a node writes its log."""
        return node.directory / "server.log"

    def _cluster_id(self) -> str:
        stored = self.directory / "cluster-id"
        if not stored.exists():
            self.directory.mkdir(parents=True, exist_ok=True)
            stored.write_text(_new_cluster_id())
        return stored.read_text().strip()

    def _configure(self, node: Node, *, voters: str) -> None:
        node.directory.mkdir(parents=True, exist_ok=True)
        replicas = len(self.nodes)
        (node.directory / "server.properties").write_text(
            node.properties(voters=voters, replicas=replicas)
        )
        (node.directory / "log4j2.yaml").write_text(_LOGGING.format(log=self.log_of(node)))

    def _format(self, node: Node, cluster_id: str) -> None:
        formatted = subprocess.run(  # noqa: S603 - our java, our arguments
            [*self._command(node, "kafka.tools.StorageTool"), "format", "-t", cluster_id,
             "-c", str(node.directory / "server.properties"), "--ignore-formatted"],
            capture_output=True, text=True, check=False, timeout=120,
        )  # fmt: skip
        if formatted.returncode != 0:
            last = (formatted.stderr or formatted.stdout).strip().splitlines()[-1:] or ["?"]
            raise KafkaNodeFailed(f"formatting node {node.node_id}'s storage failed: {last[0]}")

    def _spawn(self, node: Node) -> subprocess.Popen[bytes]:
        command = [
            *self._command(node, "kafka.Kafka"),
            str(node.directory / "server.properties"),
        ]
        with (node.directory / "stdout.log").open("ab") as out:
            return subprocess.Popen(  # noqa: S603 - our java, our arguments
                command, stdout=out, stderr=subprocess.STDOUT, start_new_session=True,
                preexec_fn=functools.partial(_stop_with_parent, self._orphan_signal),  # noqa: PLW1509 - only sets a signal
            )  # fmt: skip

    def _command(self, node: Node, main: str) -> list[str]:
        return [
            self._java, HEAP, "-XX:+UseG1GC", "-XX:MaxGCPauseMillis=20",
            "-Djava.awt.headless=true", f"-Dkafka.logs.dir={node.directory}",
            f"-Dlog4j2.configurationFile={node.directory / 'log4j2.yaml'}",
            "-cp", f"{self._libs}/*", main,
        ]  # fmt: skip

    def _wait_until_serving(self, node: Node, deadline: float, *, log_from: int) -> None:
        process = self._processes[node.node_id]
        while time.monotonic() < deadline:
            if process.poll() is not None:
                raise KafkaNodeFailed(
                    f"node {node.node_id} stopped while starting; see {self.log_of(node)}"
                )
            if _in_use(node.port) and _says_started(self.log_of(node), log_from):
                return
            time.sleep(0.2)
        raise KafkaNodeFailed(f"node {node.node_id} did not start in time; see {self.log_of(node)}")


@contextlib.contextmanager
def running(cluster: LocalKafkaCluster) -> Iterator[LocalKafkaCluster]:
    """Run `cluster` for the duration of a block, stopping it however the block ends."""
    try:
        cluster.start()
        yield cluster
    finally:
        cluster.stop()


def _in_use(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.settimeout(0.5)
        return probe.connect_ex(("127.0.0.1", port)) == 0


def _new_cluster_id() -> str:
    """Return a random cluster id as Kafka writes them (22 characters of URL-safe base64),
    never starting with "-", which the storage tool would read as an option (as Kafka's own
    Uuid.randomUuid avoids)."""
    while True:
        found = base64.urlsafe_b64encode(uuid.uuid4().bytes).rstrip(b"=").decode()
        if not found.startswith("-"):
            return found


def _size(log: Path) -> int:
    try:
        return log.stat().st_size
    except FileNotFoundError:
        return 0


def _says_started(log: Path, after: int) -> bool:
    with contextlib.suppress(OSError), log.open("rb") as lines:
        lines.seek(after)
        return b"Kafka Server started" in lines.read()
    return False


def _stop_with_parent(signum: signal.Signals) -> None:
    """In the child, before Kafka starts: `signum` when the process that started it dies
    (Linux; elsewhere the cluster's own stop is all there is)."""
    with contextlib.suppress(OSError, AttributeError):
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(_PR_SET_PDEATHSIG, int(signum))
