"""`caseweave kafka topics check|create` on a real three-node Apache Kafka cluster.

Topic names are fixed, so the module has a cluster of its own, shared by its tests (deleting
topics is asynchronous in Kafka, so tests do not start from an empty cluster each): the
`first_runs` fixture is what a user sees on the new cluster, in order, and the other tests
start from the topics it created.
"""

import asyncio
import time
from collections.abc import Callable, Iterator

import pytest
from kafka.admin import ConfigResource, ConfigResourceType, KafkaAdminClient

from services.runtime.kafka.admin import describe
from services.runtime.kafka.topics import DEAD_LETTER_TOPIC, FoundTopic, events_topic
from tests.caseweave_command import Run, caseweave
from tests.real_kafka import RealKafka, real_kafka

ALL_TOPICS = [events_topic(org) for org in ("housing", "mental_health", "voluntary")]
ALL_TOPICS.append(DEAD_LETTER_TOPIC)
WAIT_SECONDS = 120  # two cores shared with other test runs: a node may take its time


@pytest.fixture(scope="module")
def cluster() -> Iterator[RealKafka]:
    """A three-node cluster for this module's tests (the default replication factor is 3)."""
    with real_kafka(brokers=3) as kafka:
        yield kafka


@pytest.fixture(scope="module")
def first_runs(cluster: RealKafka) -> dict[str, Run]:
    """On the new cluster: check; create asking for more copies than nodes; create; check;
    create again."""
    at = cluster.bootstrap_servers
    return {
        "check before": caseweave("kafka", "topics", "check", bootstrap=at),
        "create 5 copies": caseweave(
            "kafka", "topics", "create", bootstrap=at, CASEWEAVE_KAFKA_REPLICATION_FACTOR="5"
        ),
        "create": caseweave("kafka", "topics", "create", bootstrap=at),
        "check after": caseweave("kafka", "topics", "check", bootstrap=at),
        "create again": caseweave("kafka", "topics", "create", bootstrap=at),
    }


def test_on_a_new_cluster_check_reports_every_topic_missing(first_runs: dict[str, Run]) -> None:
    checked = first_runs["check before"]
    assert checked.returncode == 1, checked.stderr
    assert checked.stdout.splitlines() == [f"{name}: PROBLEM; missing" for name in ALL_TOPICS] + [
        "4 problems"
    ]


def test_create_says_in_one_line_why_the_cluster_refused(first_runs: dict[str, Run]) -> None:
    refused = first_runs["create 5 copies"]
    assert refused.returncode == 1
    [line] = refused.stderr.strip().splitlines()
    assert line.startswith("kafka topics create failed: could not create topics: ")
    assert f"{DEAD_LETTER_TOPIC}: Unable to replicate the partition 5 time(s)" in line


def test_create_makes_every_topic_then_check_passes(first_runs: dict[str, Run]) -> None:
    created, checked = first_runs["create"], first_runs["check after"]
    assert created.returncode == 0, created.stderr
    assert created.stdout.splitlines() == [f"{name}: created" for name in ALL_TOPICS]
    assert checked.returncode == 0, checked.stdout + checked.stderr
    assert checked.stdout.splitlines() == [f"{name}: ok" for name in ALL_TOPICS] + [
        "topics match the configuration"
    ]


def test_create_leaves_existing_topics_alone(first_runs: dict[str, Run]) -> None:
    again = first_runs["create again"]
    assert again.returncode == 0, again.stderr
    assert again.stdout.splitlines() == [
        f"{name}: already exists (left as it is)" for name in ALL_TOPICS
    ]


def test_check_reports_topics_shaped_otherwise_than_the_settings_say(
    cluster: RealKafka, first_runs: dict[str, Run]
) -> None:
    wanted = {
        "CASEWEAVE_KAFKA_PARTITIONS": "2",
        "CASEWEAVE_KAFKA_REPLICATION_FACTOR": "1",
        "CASEWEAVE_KAFKA_RETENTION_MS": "86400000",
        "CASEWEAVE_KAFKA_MIN_INSYNC_REPLICAS": "1",
    }
    checked = caseweave("kafka", "topics", "check", bootstrap=cluster.bootstrap_servers, **wanted)

    assert checked.returncode == 1
    problems = (
        "6 partitions, wanted 2; replication factor 3, wanted 1; "
        "min.insync.replicas is 2, wanted 1; retention.ms is -1, wanted 86400000"
    )
    assert checked.stdout.splitlines() == [
        f"{name}: PROBLEM; {problems}" for name in ALL_TOPICS
    ] + ["16 problems"]


def test_check_reads_a_config_changed_on_the_cluster(
    cluster: RealKafka, first_runs: dict[str, Run]
) -> None:
    week = "604800000"
    _set_retention(cluster, DEAD_LETTER_TOPIC, week)
    try:
        checked = caseweave("kafka", "topics", "check", bootstrap=cluster.bootstrap_servers)
    finally:
        _set_retention(cluster, DEAD_LETTER_TOPIC, "-1")

    assert checked.returncode == 1
    assert f"{DEAD_LETTER_TOPIC}: PROBLEM; retention.ms is {week}, wanted -1" in checked.stdout
    assert checked.stdout.splitlines()[-1] == "1 problems"


def test_a_killed_node_leaves_under_replicated_partitions_until_it_returns(
    cluster: RealKafka, first_runs: dict[str, Run]
) -> None:
    cluster.cluster.kill_node(3)
    try:
        _wait_for(cluster, lambda t: all(3 not in p.in_sync for p in t.partitions))
        checked = caseweave("kafka", "topics", "check", bootstrap=cluster.bootstrap_servers)
    finally:
        cluster.cluster.start_node(3)

    assert checked.returncode == 1, checked.stderr
    assert checked.stderr == ""  # the node that refused was retried on another, quietly
    lagging = "partitions 0, 1, 2, 3, 4, 5 under-replicated (node 3 out of sync)"
    assert checked.stdout.splitlines() == [f"{name}: PROBLEM; {lagging}" for name in ALL_TOPICS] + [
        "4 problems"
    ]
    _wait_for(cluster, lambda t: all(3 in p.in_sync for p in t.partitions))
    again = caseweave("kafka", "topics", "check", bootstrap=cluster.bootstrap_servers)
    assert again.returncode == 0, again.stdout


def test_an_unreachable_cluster_gives_a_one_line_reason() -> None:
    checked = caseweave("kafka", "topics", "check", bootstrap="127.0.0.1:1")

    assert checked.returncode == 1
    [line] = checked.stderr.strip().splitlines()
    assert line.startswith("kafka topics check failed: cannot reach Kafka at 127.0.0.1:1")


def test_without_bootstrap_servers_the_command_names_the_variable() -> None:
    created = caseweave("kafka", "topics", "create", bootstrap=None)

    assert created.returncode == 2
    assert "KAFKA_BOOTSTRAP_SERVERS is not set" in created.stderr


def _set_retention(cluster: RealKafka, topic: str, retention_ms: str) -> None:
    """Change a topic's retention.ms on the cluster and wait until the cluster says so."""
    resource = ConfigResource(ConfigResourceType.TOPIC, topic, {"retention.ms": retention_ms})
    admin = KafkaAdminClient(bootstrap_servers=cluster.bootstrap_servers)
    try:
        admin.alter_configs([resource])
    finally:
        admin.close()
    _wait_for(cluster, lambda t: t.configs.get("retention.ms") == retention_ms, [topic])


def _wait_for(
    cluster: RealKafka, holds: Callable[[FoundTopic], bool], topics: list[str] = ALL_TOPICS
) -> None:
    """Wait until `holds` is true of every one of `topics` as the cluster describes them."""
    deadline = time.monotonic() + WAIT_SECONDS
    while time.monotonic() < deadline:
        found = asyncio.run(describe(cluster.bootstrap_servers, topics))
        if len(found) == len(topics) and all(holds(topic) for topic in found.values()):
            return
        time.sleep(0.5)
    raise AssertionError(f"the topics did not get there in {WAIT_SECONDS} s: {found}")
