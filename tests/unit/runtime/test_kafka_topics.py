"""Planning Caseweave's Kafka topics and comparing them with what a cluster has: no broker."""

import pytest
from aiokafka.protocol.admin import DescribeConfigsResponse_v0

from services.runtime.kafka.admin import configs_from_responses
from services.runtime.kafka.topics import (
    DEAD_LETTER_TOPIC,
    FoundTopic,
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


def matching(**changes: object) -> FoundTopic:
    fields: dict[str, object] = {
        "partitions": 6,
        "replication_factor": 3,
        "configs": {"retention.ms": "-1", "min.insync.replicas": "2", "cleanup.policy": "delete"},
    }
    return FoundTopic(**{**fields, **changes})  # type: ignore[arg-type]


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
    assert (problem.topic, problem.kind, problem.fails) == (WANTED.name, "missing", True)


def test_wrong_partition_count_and_replication_are_reported() -> None:
    problems = compare([WANTED], {WANTED.name: matching(partitions=3, replication_factor=1)})
    assert [(p.kind, p.detail) for p in problems] == [
        ("partitions", "3 partitions, wanted 6"),
        ("replication", "replication factor 1, wanted 3"),
    ]
    assert all(p.fails for p in problems)


def test_a_wrong_or_unset_config_is_reported() -> None:
    found = matching(configs={"retention.ms": "604800000"})
    problems = compare([WANTED], {WANTED.name: found})
    assert [(p.kind, p.detail) for p in problems] == [
        ("config", "min.insync.replicas is unset, wanted 2"),
        ("config", "retention.ms is 604800000, wanted -1"),
    ]


def test_configs_the_broker_will_not_describe_are_not_checked_and_do_not_fail() -> None:
    [problem] = compare([WANTED], {WANTED.name: matching(configs=None)})
    assert problem.kind == "not_checked"
    assert not problem.fails
    assert "retention.ms" in problem.detail


def test_describe_configs_responses_become_configs_per_topic() -> None:
    """The parsing real Kafka's DescribeConfigs answers go through (the mock broker has none)."""
    response = DescribeConfigsResponse_v0(
        throttle_time_ms=0,
        resources=[
            (0, None, 2, "a", [("retention.ms", "-1", False, False, False)]),
            (3, "unknown topic", 2, "b", []),
        ],
    )
    assert configs_from_responses([response.to_object()]) == {"a": {"retention.ms": "-1"}}
