"""Planning Caseweave's Kafka topics and comparing them with what a cluster has: no broker."""

import pytest

from services.runtime.kafka.admin import found_topic
from services.runtime.kafka.topics import (
    DEAD_LETTER_TOPIC,
    FoundTopic,
    PartitionReplicas,
    TopicSpec,
    compare,
    events_topic,
    wanted_topics,
)
from services.runtime.settings import Settings

WANTED = TopicSpec(
    name="caseweave.housing.events.v1",
    partitions=6,
    replication_factor=3,
    configs={"retention.ms": "-1", "min.insync.replicas": "2"},
)


CONFIGS = {"retention.ms": "-1", "min.insync.replicas": "2", "cleanup.policy": "delete"}


def healthy(partition: int, copies: int = 3) -> PartitionReplicas:
    nodes = tuple(range(1, copies + 1))
    return PartitionReplicas(partition, leader=1, replicas=nodes, in_sync=nodes)


def matching(partitions: int = 6, copies: int = 3, configs: dict[str, str] = CONFIGS) -> FoundTopic:
    return FoundTopic(tuple(healthy(p, copies) for p in range(partitions)), configs)


def with_partitions(*replicas: PartitionReplicas) -> FoundTopic:
    """A matching topic in which the given partitions are as described."""
    changed = {p.partition: p for p in replicas}
    return FoundTopic(tuple(changed.get(p, healthy(p)) for p in range(6)), CONFIGS)


def test_one_events_topic_per_organisation_and_the_dead_letter_topic() -> None:
    names = [spec.name for spec in wanted_topics(Settings())]
    assert names == [
        events_topic("housing"),
        events_topic("mental_health"),
        events_topic("voluntary"),
        DEAD_LETTER_TOPIC,
    ]
    assert DEAD_LETTER_TOPIC == "caseweave.dead_letter.v1"


def test_topics_take_their_shape_from_settings() -> None:
    """Defaults keep events forever (replay reads from the start) on 6 partitions, 3 copies."""
    [spec, *_] = wanted_topics(Settings())
    assert (spec.partitions, spec.replication_factor) == (6, 3)
    assert spec.configs == {"retention.ms": "-1", "min.insync.replicas": "2"}
    settings = Settings(
        kafka_partitions=12,
        kafka_replication_factor=1,
        kafka_retention_ms=86_400_000,
        kafka_min_insync_replicas=1,
    )
    [spec, *_] = wanted_topics(settings)
    assert (spec.partitions, spec.replication_factor) == (12, 1)
    assert spec.configs == {"retention.ms": "86400000", "min.insync.replicas": "1"}


@pytest.mark.parametrize(
    "variable", ["KAFKA_BOOTSTRAP_SERVERS", "CASEWEAVE_KAFKA_BOOTSTRAP_SERVERS"]
)
def test_bootstrap_servers_come_from_either_variable(
    variable: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("KAFKA_BOOTSTRAP_SERVERS", raising=False)
    monkeypatch.delenv("CASEWEAVE_KAFKA_BOOTSTRAP_SERVERS", raising=False)
    monkeypatch.setenv(variable, "kafka-1:9092,kafka-2:9092")
    assert Settings().kafka_bootstrap_servers == "kafka-1:9092,kafka-2:9092"


def test_matching_topics_have_no_problems() -> None:
    assert compare([WANTED], {WANTED.name: matching()}) == []


def test_a_missing_topic_is_reported() -> None:
    [problem] = compare([WANTED], {})
    assert (problem.topic, problem.kind) == (WANTED.name, "missing")


def test_wrong_partition_count_and_replication_are_reported() -> None:
    problems = compare([WANTED], {WANTED.name: matching(partitions=3, copies=1)})
    assert [(p.kind, p.detail) for p in problems] == [
        ("partitions", "3 partitions, wanted 6"),
        ("replication", "replication factor 1, wanted 3"),
    ]


def test_a_wrong_or_unset_config_is_reported() -> None:
    found = matching(configs={"retention.ms": "604800000"})
    problems = compare([WANTED], {WANTED.name: found})
    assert [(p.kind, p.detail) for p in problems] == [
        ("config", "min.insync.replicas is unset, wanted 2"),
        ("config", "retention.ms is 604800000, wanted -1"),
    ]


def test_partitions_with_a_copy_out_of_sync_are_reported_under_replicated_naming_them() -> None:
    lagging = [
        PartitionReplicas(p, leader=1, replicas=(1, 2, 3), in_sync=(1, 3), offline=(2,))
        for p in (0, 4)
    ]
    [problem] = compare([WANTED], {WANTED.name: with_partitions(*lagging)})
    assert (problem.kind, problem.detail) == (
        "under_replicated",
        "partitions 0, 4 under-replicated (node 2 out of sync)",
    )


def test_a_copy_that_fell_out_of_the_in_sync_set_is_under_replicated_too() -> None:
    """A slow follower: still online, but no longer counted towards acks=all."""
    slow = PartitionReplicas(5, leader=3, replicas=(1, 2, 3), in_sync=(3,))
    [problem] = compare([WANTED], {WANTED.name: with_partitions(slow)})
    assert problem.detail == "partition 5 under-replicated (nodes 1, 2 out of sync)"


def test_partitions_without_a_leader_are_reported_offline() -> None:
    offline = [
        PartitionReplicas(p, leader=-1, replicas=(1, 2, 3), in_sync=(2,), offline=(1, 2, 3))
        for p in (3, 1)
    ]
    [problem] = compare([WANTED], {WANTED.name: with_partitions(*offline)})
    assert (problem.kind, problem.detail) == ("offline", "partitions 1, 3 offline (no leader)")


def test_kafka_pythons_topic_description_becomes_a_found_topic() -> None:
    """The fields real Kafka 4.1 answers describe_topics with, as kafka-python 3 returns them."""
    metadata = {
        "error_code": 0,
        "name": "t1",
        "partitions": [
            {
                "error_code": 0,
                "isr_nodes": [3, 1],
                "leader_epoch": 1,
                "leader_id": 3,
                "offline_replicas": [2],
                "partition_index": 1,
                "replica_nodes": [2, 3, 1],
            }
        ],
    }
    found = found_topic(metadata, {"retention.ms": "-1"})
    assert found == FoundTopic(
        (PartitionReplicas(1, leader=3, replicas=(2, 3, 1), in_sync=(3, 1), offline=(2,)),),
        {"retention.ms": "-1"},
    )
    assert found.replication_factor == 3
