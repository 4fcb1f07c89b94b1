"""The local Kafka cluster's settings: those deploy/compose.yaml gives its broker."""

from pathlib import Path
from typing import Any

import pytest
import yaml

from services.runtime.kafka.local import cluster
from services.runtime.kafka.local.cluster import LocalKafkaCluster
from services.runtime.kafka.local.distribution import (
    KAFKA_VERSION,
    KafkaSetupError,
    check_java,
    java_major,
)

COMPOSE = Path(__file__).parents[3] / "deploy" / "compose.yaml"


def _settings(text: str) -> dict[str, str]:
    return dict(line.split("=", 1) for line in text.splitlines())


def test_java_versions_are_read_from_what_java_says() -> None:
    assert java_major('openjdk version "17.0.15" 2025-04-15') == 17
    assert java_major('java version "1.8.0_392"') == 8
    assert java_major('openjdk version "21" 2023-09-19') == 21
    assert java_major("no java here") is None


def test_three_nodes_keep_three_copies_two_in_sync_and_one_quorum(tmp_path: Path) -> None:
    cluster = LocalKafkaCluster(java="java", libs=tmp_path, directory=tmp_path, nodes=3, port=9092)
    voters = "1@localhost:9192,2@localhost:9193,3@localhost:9194"
    nodes = [_settings(n.properties(voters=voters, replicas=3)) for n in cluster.nodes]
    assert cluster.bootstrap_servers == "localhost:9092,localhost:9093,localhost:9094"
    assert [n["node.id"] for n in nodes] == ["1", "2", "3"]
    assert {n["controller.quorum.voters"] for n in nodes} == {voters}
    assert {n["default.replication.factor"] for n in nodes} == {"3"}
    assert {n["min.insync.replicas"] for n in nodes} == {"2"}
    assert len({n["log.dirs"] for n in nodes}) == 3


def test_the_local_cluster_runs_compose_s_kafka_with_compose_s_settings(tmp_path: Path) -> None:
    kafka = yaml.safe_load(COMPOSE.read_text())["services"]["kafka"]
    assert kafka["image"] == f"apache/kafka:{KAFKA_VERSION}"
    env = kafka["environment"]
    [node] = LocalKafkaCluster(
        java="java", libs=tmp_path, directory=tmp_path, nodes=1, port=9092
    ).nodes
    local = _settings(node.properties(voters="1@localhost:9192", replicas=1))
    for name in (
        "PROCESS_ROLES", "OFFSETS_TOPIC_REPLICATION_FACTOR",
        "TRANSACTION_STATE_LOG_REPLICATION_FACTOR", "TRANSACTION_STATE_LOG_MIN_ISR",
        "GROUP_INITIAL_REBALANCE_DELAY_MS", "AUTO_CREATE_TOPICS_ENABLE",
    ):  # fmt: skip
        key = name.lower().replace("_", ".")
        assert local[key] == str(env[f"KAFKA_{name}"]), name


def test_without_java_the_command_says_so_in_one_line(tmp_path: Path, monkeypatch: Any) -> None:
    monkeypatch.setenv("PATH", str(tmp_path))  # nothing on it
    with pytest.raises(KafkaSetupError) as missing:
        check_java()
    assert str(missing.value) == "Kafka needs Java 17 or newer: no `java` on PATH"


def test_a_new_cluster_id_never_starts_with_a_dash_the_storage_tool_reads_as_an_option() -> None:
    ids = [cluster._new_cluster_id() for _ in range(2000)]
    assert all(len(found) == 22 and not found.startswith("-") for found in ids)
