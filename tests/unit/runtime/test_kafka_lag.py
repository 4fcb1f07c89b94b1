"""`caseweave kafka lag`'s arithmetic and what it prints, from offsets alone: no broker."""

import json
from typing import cast

from events.organisations import Organisations
from services.cli.kafka import consumer_groups
from services.cli.kafka_lag_report import lag_json, lag_table
from services.organisation.adapters.postgres_unit_of_work import Stores
from services.organisation.entrypoints.kafka_referral_inbox import KafkaReferralInbox
from services.projection.entrypoints.faust_worker import GROUP_ID
from services.runtime.database import Pool
from services.runtime.kafka.group_lag import ClusterOffsets, ConsumerGroup, group_lag, groups_lag
from services.runtime.kafka.offsets import TopicPartition as TP
from services.runtime.kafka.publisher import KafkaPublisher
from services.runtime.kafka.topics import events_topic, organisation_topics, others_topics

A, B = "caseweave.a.events.v1", "caseweave.b.events.v1"
OFFSETS = ClusterOffsets(
    start={TP(A, 0): 0, TP(A, 1): 0, TP(B, 0): 4},
    end={TP(A, 0): 10, TP(A, 1): 7, TP(B, 0): 9},
    committed={"reader": {TP(A, 0): 10, TP(A, 1): 2}, "late": {TP(B, 0): 1}},
)


def test_lag_is_the_end_offset_less_the_committed_one() -> None:
    lag = group_lag(ConsumerGroup("reader", (A,)), OFFSETS)
    assert [(p.partition, p.end_offset, p.committed_offset, p.lag) for p in lag.partitions] == [
        (0, 10, 10, 0),
        (1, 7, 2, 5),
    ]
    assert (lag.total_lag, lag.committed_nothing) == (5, False)


def test_a_partition_without_a_commit_lags_by_all_it_keeps() -> None:
    """The group reads it from its first kept message: end less start, not the end offset."""
    [a0, a1, b0] = group_lag(ConsumerGroup("reader", (A, B)), OFFSETS).partitions
    assert (b0.topic, b0.committed_offset, b0.lag) == (B, None, 5)
    assert (a0.lag, a1.lag) == (0, 5)


def test_a_group_that_committed_nothing_has_the_whole_of_its_topics_to_read() -> None:
    lag = group_lag(ConsumerGroup("new", (B, A)), OFFSETS)
    assert lag.committed_nothing
    assert [(p.topic, p.partition) for p in lag.partitions] == [(B, 0), (A, 0), (A, 1)]
    assert lag.total_lag == 5 + 10 + 7


def test_a_commit_behind_the_first_kept_message_counts_only_what_is_still_kept() -> None:
    [b0] = group_lag(ConsumerGroup("late", (B,)), OFFSETS).partitions
    assert (b0.committed_offset, b0.lag) == (1, 5)


def test_the_table_shows_each_partition_a_total_per_group_and_groups_without_commits() -> None:
    report = groups_lag([ConsumerGroup("reader", (A,)), ConsumerGroup("new", (B,))], OFFSETS)
    assert lag_table(report) == [
        "reader",
        "  TOPIC                  PARTITION  END OFFSET  COMMITTED  LAG",
        "  caseweave.a.events.v1          0          10         10    0",
        "  caseweave.a.events.v1          1           7          2    5",
        "  total                                     17               5",
        "",
        "new: nothing committed yet, so its lag is the whole of its topics",
        "  TOPIC                  PARTITION  END OFFSET  COMMITTED  LAG",
        "  caseweave.b.events.v1          0           9          -    5",
        "  total                                      9               5",
    ]


def test_the_json_has_the_same_numbers_for_machines() -> None:
    report = groups_lag([ConsumerGroup("new", (B,))], OFFSETS)
    assert json.loads(lag_json(report)) == {
        "groups": [
            {
                "group_id": "new",
                "committed_nothing": True,
                "total_lag": 5,
                "partitions": [
                    {
                        "topic": B,
                        "partition": 0,
                        "end_offset": 9,
                        "committed_offset": None,
                        "lag": 5,
                    }
                ],
            }
        ],
    }


def test_the_report_reads_the_groups_and_topics_the_consumers_use() -> None:
    """The projection worker's group over every topic; each referral inbox over the others'
    (of every organisation of the place: here two charities beside the council)."""
    place = Organisations.model_validate({"organisations": [
        {"id": "council", "name": "Council", "sector": "housing"},
        {"id": "food_bank", "name": "Food Bank", "sector": "voluntary"},
        {"id": "day_centre", "name": "Day Centre", "sector": "voluntary"},
    ]})  # fmt: skip
    projection, *inboxes = consumer_groups(place)
    assert projection == ConsumerGroup(GROUP_ID, projection.topics)
    assert sorted(projection.topics) == sorted(organisation_topics(place.ids))
    for org, group in zip(place.ids, inboxes, strict=True):
        inbox = KafkaReferralInbox(
            cast(Pool, None),  # neither is used: the inbox is only built here, not run
            Stores.in_schema(org, org, sector=place.sector_of(org) or "voluntary"),
            cast(KafkaPublisher, None),
            schema=org,
            bootstrap_servers="unused:9092",
            topics=others_topics(place.ids, org),  # as the sector's service gives it
        )
        assert events_topic(org) not in group.topics
        assert len(group.topics) == 2
        assert (group.group_id, list(group.topics)) == (inbox.group_id, inbox.topics)
