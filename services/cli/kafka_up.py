"""The Kafka that `caseweave up --transport kafka` runs on: the cluster KAFKA_BOOTSTRAP_SERVERS
names, or else a one-node Apache Kafka started here (as `caseweave kafka local` does, its data
in CASEWEAVE_DATA_DIR/kafka-1), with Caseweave's topics created before any service starts."""

import asyncio
import sys
from dataclasses import dataclass, field

from services.runtime.kafka.admin import KafkaAdminError, create_missing
from services.runtime.kafka.local.cluster import KafkaNodeFailed, LocalKafkaCluster
from services.runtime.kafka.local.distribution import (
    KAFKA_VERSION,
    KafkaSetupError,
    java_and_jars,
)
from services.runtime.kafka.topics import wanted_topics
from services.runtime.settings import Settings


class KafkaNotReady(Exception):
    """Kafka could not be started or prepared; the message is one line a person can act on."""


@dataclass
class KafkaForUp:
    """Where the services find Kafka, and the local cluster `up` runs (None: an external one)."""

    bootstrap_servers: str
    env: dict[str, str] = field(default_factory=dict)
    local: LocalKafkaCluster | None = None

    def stop(self) -> None:
        """Stop the local cluster, if `up` started one."""
        if self.local is not None:
            self.local.stop()


def prepare_kafka(settings: Settings, *, port: int) -> KafkaForUp:
    """Return the Kafka to run on, started and with every topic in place; raise KafkaNotReady."""
    if settings.kafka_bootstrap_servers:
        kafka = KafkaForUp(settings.kafka_bootstrap_servers)
    else:
        kafka = _start_local(settings, port)
        # one node holds one copy: topics as that node can keep them
        settings = settings.model_copy(
            update={"kafka_replication_factor": 1, "kafka_min_insync_replicas": 1}
        )
        kafka.env.update(
            {"CASEWEAVE_KAFKA_REPLICATION_FACTOR": "1", "CASEWEAVE_KAFKA_MIN_INSYNC_REPLICAS": "1"}
        )
    kafka.env.update(
        {"CASEWEAVE_TRANSPORT": "kafka", "KAFKA_BOOTSTRAP_SERVERS": kafka.bootstrap_servers}
    )
    try:
        created = asyncio.run(create_missing(kafka.bootstrap_servers, wanted_topics(settings)))
    except KafkaAdminError as error:
        kafka.stop()
        raise KafkaNotReady(f"could not create Caseweave's topics: {error}") from error
    if created:
        print(f"Created Kafka topics: {', '.join(created)}", file=sys.stderr)
    return kafka


def _start_local(settings: Settings, port: int) -> KafkaForUp:
    try:
        java, libs = java_and_jars(settings.kafka_dist_dir)
    except KafkaSetupError as error:
        raise KafkaNotReady(
            f"{error} (or set KAFKA_BOOTSTRAP_SERVERS to use a Kafka running elsewhere)"
        ) from error
    cluster = LocalKafkaCluster(
        java=java, libs=libs, directory=settings.data_dir / "kafka-1", nodes=1, port=port
    )
    print(f"Starting Apache Kafka {KAFKA_VERSION} on localhost:{port}…", file=sys.stderr)
    try:
        cluster.start()
    except KafkaNodeFailed as error:
        cluster.stop()
        raise KafkaNotReady(str(error)) from error
    return KafkaForUp(cluster.bootstrap_servers, local=cluster)
