"""`caseweave kafka local`: a real Apache Kafka cluster on this machine, until Ctrl-C."""

import argparse
import sys
import time

from services.runtime.kafka.local.cluster import KafkaNodeFailed, LocalKafkaCluster
from services.runtime.kafka.local.distribution import (
    KAFKA_VERSION,
    KafkaSetupError,
    java_and_jars,
)
from services.runtime.settings import Settings
from services.runtime.stop_signals import StopRequest


def run_local(args: argparse.Namespace, settings: Settings) -> int:
    """Start the cluster, say where it is, keep it until Ctrl-C, stop it; return an exit code."""
    try:
        java, libs = java_and_jars(settings.kafka_dist_dir)
    except KafkaSetupError as error:
        print(f"caseweave kafka local: {error}", file=sys.stderr)
        return 2
    cluster = LocalKafkaCluster(
        java=java,
        libs=libs,
        directory=settings.data_dir / f"kafka-{args.brokers}",
        nodes=args.brokers,
        port=args.port,
    )
    stop = StopRequest()
    try:
        cluster.start()
        print(_banner(cluster), flush=True)
        while not stop.requested:
            failed = cluster.failed_node()
            if failed is not None:
                print(
                    f"node {failed.node_id} stopped; see {cluster.log_of(failed)}", file=sys.stderr
                )
                return 1
            time.sleep(0.5)
        return 0
    except KafkaNodeFailed as error:
        print(f"caseweave kafka local: {error}", file=sys.stderr)
        return 1
    finally:
        cluster.stop()
        print("Kafka stopped.", file=sys.stderr)


def _banner(cluster: LocalKafkaCluster) -> str:
    nodes = len(cluster.nodes)
    return "\n".join(
        [
            f"Apache Kafka {KAFKA_VERSION} (KRaft, {nodes} node{'s' * (nodes > 1)}) is up; data in"
            f" {cluster.directory}",
            f"KAFKA_BOOTSTRAP_SERVERS={cluster.bootstrap_servers}",
            "Stop with Ctrl-C.",
        ]
    )


def add_local(groups: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    """Add `kafka local` to the `kafka` command's groups."""
    local = groups.add_parser(
        "local",
        help="run a real Apache Kafka cluster on this machine until Ctrl-C",
        description=f"Apache Kafka {KAFKA_VERSION} in KRaft mode, each node a broker and a "
        "controller, with deploy/compose.yaml's settings; its jars are fetched once from Maven "
        "Central (needs Java 17+ and Maven) into CASEWEAVE_KAFKA_DIST_DIR; its data stays in "
        "CASEWEAVE_DATA_DIR/kafka-N between runs.",
    )
    local.add_argument("--brokers", type=int, choices=[1, 3], default=1, help="nodes (default 1)")
    local.add_argument(
        "--port", type=int, default=9092, help="the first node's client port (default 9092); "
        "nodes take the next ones, their controllers the same plus 100",
    )  # fmt: skip
