"""A real Apache Kafka for tests: `caseweave kafka local`'s cluster (KRaft, the version
deploy/compose.yaml runs), on free ports, its data in a temporary directory.

Java 17+ and Maven must be on PATH (the jars are fetched once into CASEWEAVE_KAFKA_DIST_DIR's
cache). Where they are not, tests that need Kafka are skipped with one line saying why, except
under CI=true, where they fail.

No broker outlives the run: the cluster stops when its block ends, however it ends; each node
is killed by the kernel if the test process dies first (PR_SET_PDEATHSIG), and
`kill_leftover_brokers` ends any node of this run still alive when pytest exits.
"""

import os
import signal
import socket
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from pathlib import Path

import psutil
import pytest
from kafka.admin import KafkaAdminClient, NewTopic
from kafka.errors import TopicAlreadyExistsError

from services.runtime.kafka.local.cluster import LocalKafkaCluster
from services.runtime.kafka.local.distribution import KafkaSetupError, java_and_jars
from services.runtime.settings import Settings

# every cluster of this run keeps its data under here, which is how leftovers are found
RUN_DIRECTORY = Path(tempfile.gettempdir()) / f"caseweave-test-kafka-{os.getpid()}"


def kafka_or_skip() -> tuple[str, Path]:
    """Return (java, jars directory), skipping the test (failing it under CI=true) if Kafka
    cannot run here."""
    try:
        return java_and_jars(Settings().kafka_dist_dir)
    except KafkaSetupError as error:
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(f"CI=true needs a real Kafka: {error}")
        pytest.skip(f"no real Kafka here: {error}")


class RealKafka:
    """A running local cluster: its bootstrap servers, topic creation, and its nodes."""

    def __init__(self, cluster: LocalKafkaCluster) -> None:
        self.cluster = cluster
        self.bootstrap_servers = cluster.bootstrap_servers

    def create_topic(
        self, name: str, *, partitions: int = 1, replication: int | None = None
    ) -> None:
        """Create a topic (replicated on every node unless told) and wait until every
        partition has a leader."""
        replicas = replication or len(self.cluster.nodes)
        admin = KafkaAdminClient(bootstrap_servers=self.bootstrap_servers)
        try:
            with suppress(TopicAlreadyExistsError):
                admin.create_topics([NewTopic(name, partitions, replicas)])
            _wait_for_leaders(admin, name, partitions)
        finally:
            admin.close()


def _wait_for_leaders(admin: KafkaAdminClient, name: str, partitions: int) -> None:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        [topic] = admin.describe_topics([name])
        led = [p for p in topic["partitions"] if p["leader_id"] >= 0]
        if not topic["error_code"] and len(led) == partitions:
            return
        time.sleep(0.1)
    raise AssertionError(f"topic {name} has partitions without a leader after 30 s")


@contextmanager
def real_kafka(*, brokers: int = 1) -> Iterator[RealKafka]:
    """Run a fresh local cluster of `brokers` nodes for the duration of a block."""
    java, libs = kafka_or_skip()
    RUN_DIRECTORY.mkdir(parents=True, exist_ok=True)
    directory = Path(tempfile.mkdtemp(prefix="cluster-", dir=RUN_DIRECTORY))
    cluster = LocalKafkaCluster(
        java=java,
        libs=libs,
        directory=directory,
        nodes=brokers,
        port=free_ports(brokers),
        orphan_signal=signal.SIGKILL,
    )
    try:
        cluster.start()
        yield RealKafka(cluster)
    finally:
        cluster.stop(grace=10)


def free_ports(nodes: int) -> int:
    """Return a port P such that P..P+nodes-1 and P+100..P+100+nodes-1 are free now."""
    while True:
        with socket.socket() as sock:
            sock.bind(("127.0.0.1", 0))
            first: int = sock.getsockname()[1]
        wanted = [first + i for i in range(nodes)] + [first + 100 + i for i in range(nodes)]
        if max(wanted) < 65536 and all(_free(port) for port in wanted):
            return first


def _free(port: int) -> bool:
    with socket.socket() as sock:
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return False
        return True


def kafka_nodes_under(directory: Path) -> list[psutil.Process]:
    """The running Kafka nodes whose data is under `directory`."""
    return [
        process
        for process in psutil.process_iter(["cmdline"])
        if "kafka.Kafka" in (command := " ".join(process.info["cmdline"] or []))
        and str(directory) in command
    ]


def kill_leftover_brokers() -> list[int]:
    """Kill any Kafka node this run started that is still alive; return their pids."""
    leftovers = kafka_nodes_under(RUN_DIRECTORY)
    for process in leftovers:
        process.kill()
    return [process.pid for process in leftovers]
