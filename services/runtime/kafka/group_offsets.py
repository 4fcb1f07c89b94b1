"""Reading what a lag report needs from a Kafka cluster: each partition's first and end
offsets, and the offsets consumer groups committed (kafka-python's admin client, in a worker
thread like services.runtime.kafka.admin)."""

import asyncio
from collections.abc import Collection
from typing import Any

from kafka import TopicPartition as KafkaTopicPartition
from kafka.admin import OffsetSpec

from services.runtime.kafka.admin import KafkaAdminError, admin_client, retried
from services.runtime.kafka.group_lag import ClusterOffsets
from services.runtime.kafka.offsets import TopicPartition


async def read_offsets(
    bootstrap: str, *, topics: Collection[str], group_ids: Collection[str]
) -> ClusterOffsets:
    """Read the topics' first and end offsets and the groups' committed offsets; raise
    KafkaAdminError if a topic is missing or the cluster cannot be read."""
    return await asyncio.to_thread(_read_offsets, bootstrap, sorted(topics), sorted(group_ids))


def _read_offsets(bootstrap: str, topics: list[str], group_ids: list[str]) -> ClusterOffsets:
    with admin_client(bootstrap) as admin:
        partitions = _partitions_of(admin, topics)
        return ClusterOffsets(
            start=_offsets(admin, partitions, OffsetSpec.EARLIEST),
            end=_offsets(admin, partitions, OffsetSpec.LATEST),
            committed=_committed(admin, group_ids),
        )


def _partitions_of(admin: Any, topics: list[str]) -> list[KafkaTopicPartition]:
    described = retried(lambda: admin.describe_topics(topics))
    missing = sorted(t["name"] for t in described if t["error_code"])
    if missing:
        raise KafkaAdminError(f"topics missing: {', '.join(missing)}")
    return [
        KafkaTopicPartition(t["name"], p["partition_index"])
        for t in described
        for p in t["partitions"]
    ]


def _offsets(
    admin: Any, partitions: list[KafkaTopicPartition], spec: OffsetSpec
) -> dict[TopicPartition, int]:
    if not partitions:
        return {}
    found = retried(lambda: admin.list_partition_offsets(dict.fromkeys(partitions, spec)))
    return {TopicPartition(tp.topic, tp.partition): int(at.offset) for tp, at in found.items()}


def _committed(admin: Any, group_ids: list[str]) -> dict[str, dict[TopicPartition, int]]:
    # retried: a new cluster makes its offsets topic only when first asked for a coordinator
    found = retried(lambda: admin.list_group_offsets(dict.fromkeys(group_ids)))
    return {
        group: {
            TopicPartition(tp.topic, tp.partition): int(meta.offset)
            for tp, meta in by_partition.items()
            if meta.offset >= 0
        }
        for group, by_partition in found.items()
    }
