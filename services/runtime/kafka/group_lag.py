"""How far each consumer group is behind the end of the topics it reads, from offsets alone.

Offsets follow Kafka's convention: a partition's end offset is that of the next message to be
written, a group's committed offset the next one it will read. A group that committed nothing
on a partition reads it from its first kept message, so its lag there is the whole partition.
"""

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from services.runtime.kafka.offsets import TopicPartition


@dataclass(frozen=True)
class ConsumerGroup:
    """A consumer group and the topics it reads."""

    group_id: str
    topics: tuple[str, ...]


@dataclass(frozen=True)
class ClusterOffsets:
    """The offsets a lag report is made from, as read from the cluster."""

    start: Mapping[TopicPartition, int]
    end: Mapping[TopicPartition, int]
    committed: Mapping[str, Mapping[TopicPartition, int]]  # by group id


@dataclass(frozen=True)
class PartitionLag:
    """One partition as one group sees it; `committed_offset` is None before its first commit."""

    topic: str
    partition: int
    end_offset: int
    committed_offset: int | None
    lag: int


@dataclass(frozen=True)
class GroupLag:
    """A group's lag on every partition of the topics it reads."""

    group_id: str
    partitions: tuple[PartitionLag, ...]

    @property
    def total_lag(self) -> int:
        """Return the messages the group has still to read, over all its partitions."""
        return sum(p.lag for p in self.partitions)

    @property
    def committed_nothing(self) -> bool:
        """Whether the group has committed no offset on any of its partitions yet."""
        return all(p.committed_offset is None for p in self.partitions)


def groups_lag(groups: Sequence[ConsumerGroup], offsets: ClusterOffsets) -> list[GroupLag]:
    """Return each group's lag, partitions in the order of the group's topics."""
    return [group_lag(group, offsets) for group in groups]


def group_lag(group: ConsumerGroup, offsets: ClusterOffsets) -> GroupLag:
    """Return a group's lag on each partition of its topics that `offsets` has an end for."""
    committed = offsets.committed.get(group.group_id, {})
    order = {topic: index for index, topic in enumerate(group.topics)}
    read = [tp for tp in offsets.end if tp.topic in order]
    read.sort(key=lambda tp: (order[tp.topic], tp.partition))
    return GroupLag(group.group_id, tuple(_lag(tp, offsets, committed.get(tp)) for tp in read))


def _lag(tp: TopicPartition, offsets: ClusterOffsets, committed: int | None) -> PartitionLag:
    end, start = offsets.end[tp], offsets.start.get(tp, 0)
    next_read = start if committed is None else max(committed, start)
    return PartitionLag(tp.topic, tp.partition, end, committed, max(0, end - next_read))
