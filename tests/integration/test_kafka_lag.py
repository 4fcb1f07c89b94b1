"""`caseweave kafka lag` on a real Apache Kafka: end offsets, committed offsets and lag of the
projection's group and of each referral inbox's.

Topic names and group ids are fixed, so the module has a one-node cluster of its own. Offsets
are committed with the admin client, as a consumer's commit would leave them.
"""

import json
from collections.abc import Iterator
from typing import Any

import pytest
from kafka import KafkaProducer, TopicPartition
from kafka.admin import KafkaAdminClient
from kafka.errors import NoError
from kafka.structs import OffsetAndMetadata

from services.projection.entrypoints.faust_worker import GROUP_ID
from services.runtime.kafka.admin import retried
from services.runtime.kafka.topics import events_topic
from tests.caseweave_command import Run, caseweave
from tests.real_kafka import RealKafka, real_kafka

HOUSING, MENTAL_HEALTH, VOLUNTARY = (
    events_topic(org) for org in ("housing", "mental_health", "voluntary")
)
PRODUCED = {HOUSING: [5, 3], MENTAL_HEALTH: [4, 0], VOLUNTARY: [2, 1]}  # messages per partition
COMMITTED = {
    GROUP_ID: {(HOUSING, 0): 5, (HOUSING, 1): 1, (MENTAL_HEALTH, 0): 4},
    "caseweave-mental_health-referral-inbox": {(HOUSING, 0): 2},
}


@pytest.fixture(scope="module")
def cluster() -> Iterator[RealKafka]:
    """A one-node cluster for this module's tests."""
    with real_kafka() as kafka:
        yield kafka


@pytest.fixture(scope="module")
def lag_before_topics(cluster: RealKafka) -> Run:
    """`caseweave kafka lag` on the new cluster, before any topic exists."""
    return caseweave("kafka", "lag", bootstrap=cluster.bootstrap_servers)


@pytest.fixture(scope="module")
def consumed(cluster: RealKafka, lag_before_topics: Run) -> str:
    """The cluster's bootstrap servers, once PRODUCED is in its topics and COMMITTED in its
    groups."""
    for topic, counts in PRODUCED.items():
        cluster.create_topic(topic, partitions=len(counts))
    producer = KafkaProducer(bootstrap_servers=cluster.bootstrap_servers, acks="all")
    for topic, counts in PRODUCED.items():
        for partition, count in enumerate(counts):
            for n in range(count):
                producer.send(topic, f"message {n}".encode(), partition=partition)
    producer.flush()
    producer.close()
    admin = KafkaAdminClient(bootstrap_servers=cluster.bootstrap_servers)
    try:
        for group, offsets in COMMITTED.items():
            retried(lambda: commit(admin, group, offsets))  # noqa: B023 - called at once
    finally:
        admin.close()
    return cluster.bootstrap_servers


def commit(admin: KafkaAdminClient, group: str, offsets: dict[tuple[str, int], int]) -> None:
    """Commit `offsets` for `group`, raising the first error of any partition (kafka-python
    returns them: the new cluster's offsets topic is made when first asked for)."""
    commits = {TopicPartition(*tp): OffsetAndMetadata(at, "", -1) for tp, at in offsets.items()}
    for error in admin.alter_group_offsets(group, commits).values():
        if error is not NoError:
            raise error()


def groups_of(run: Run) -> dict[str, dict[str, Any]]:
    assert run.returncode == 0, run.stderr
    return {group["group_id"]: group for group in json.loads(run.stdout)["groups"]}


def rows(group: dict[str, Any]) -> list[tuple[str, int, int, int | None, int]]:
    return [
        (p["topic"], p["partition"], p["end_offset"], p["committed_offset"], p["lag"])
        for p in group["partitions"]
    ]


@pytest.fixture(scope="module")
def reported(consumed: str) -> dict[str, dict[str, Any]]:
    """`caseweave kafka lag --json`'s groups, by group id, in the order it gives them."""
    return groups_of(caseweave("kafka", "lag", "--json", bootstrap=consumed))


def test_the_projection_groups_lag_is_end_less_committed_per_partition(
    reported: dict[str, dict[str, Any]],
) -> None:
    """Partitions it never committed on count whole; totals add the partitions up."""
    projection = reported[GROUP_ID]

    assert rows(projection) == [
        (HOUSING, 0, 5, 5, 0),
        (HOUSING, 1, 3, 1, 2),
        (MENTAL_HEALTH, 0, 4, 4, 0),
        (MENTAL_HEALTH, 1, 0, None, 0),
        (VOLUNTARY, 0, 2, None, 2),
        (VOLUNTARY, 1, 1, None, 1),
    ]
    assert (projection["total_lag"], projection["committed_nothing"]) == (5, False)


def test_each_referral_inbox_is_reported_over_the_other_organisations_topics(
    reported: dict[str, dict[str, Any]],
) -> None:
    groups = reported

    mental_health = groups["caseweave-mental_health-referral-inbox"]
    assert rows(mental_health) == [
        (HOUSING, 0, 5, 2, 3),
        (HOUSING, 1, 3, None, 3),
        (VOLUNTARY, 0, 2, None, 2),
        (VOLUNTARY, 1, 1, None, 1),
    ]
    housing = groups["caseweave-housing-referral-inbox"]
    assert [row[0] for row in rows(housing)] == [MENTAL_HEALTH] * 2 + [VOLUNTARY] * 2
    assert (housing["total_lag"], housing["committed_nothing"]) == (7, True)
    voluntary = groups["caseweave-voluntary-referral-inbox"]
    assert (voluntary["total_lag"], voluntary["committed_nothing"]) == (12, True)
    assert list(groups) == [
        GROUP_ID,
        "caseweave-housing-referral-inbox",
        "caseweave-mental_health-referral-inbox",
        "caseweave-voluntary-referral-inbox",
    ]


def test_the_table_has_a_row_per_partition_a_total_per_group_and_says_who_committed_nothing(
    consumed: str,
) -> None:
    shown = caseweave("kafka", "lag", bootstrap=consumed)

    assert shown.returncode == 0, shown.stderr
    lines = shown.stdout.splitlines()
    assert lines[:9] == [
        GROUP_ID,
        "  TOPIC                              PARTITION  END OFFSET  COMMITTED  LAG",
        "  caseweave.housing.events.v1                0           5          5    0",
        "  caseweave.housing.events.v1                1           3          1    2",
        "  caseweave.mental_health.events.v1          0           4          4    0",
        "  caseweave.mental_health.events.v1          1           0          -    0",
        "  caseweave.voluntary.events.v1              0           2          -    2",
        "  caseweave.voluntary.events.v1              1           1          -    1",
        "  total                                                 15               5",
    ]
    assert (
        "caseweave-housing-referral-inbox: nothing committed yet, so its lag is the whole of "
        "its topics"
    ) in lines
    assert "caseweave-mental_health-referral-inbox" in lines


def test_before_the_topics_exist_lag_says_which_are_missing(lag_before_topics: Run) -> None:
    assert lag_before_topics.returncode == 1
    assert lag_before_topics.stderr.strip().splitlines() == [
        f"kafka lag failed: topics missing: {HOUSING}, {MENTAL_HEALTH}, {VOLUNTARY}"
    ]
