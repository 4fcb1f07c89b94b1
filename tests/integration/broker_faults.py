"""Faults on a real 3-node Kafka cluster, for failover tests: which node leads which
partitions, crashing and stopping nodes, and putting every node back before the next test.

The cluster calls block (a node takes seconds to start), so async tests await them in a
thread: the relay and workers under test keep running meanwhile.
"""

import asyncio
import contextlib
import time
from collections import Counter
from collections.abc import AsyncIterator, Sequence
from typing import Any

from kafka.admin import KafkaAdminClient
from kafka.errors import CoordinatorLoadInProgressError, CoordinatorNotAvailableError

from services.runtime.kafka.admin import describe
from tests.real_kafka import RealKafka

REPLICATED_WITHIN_SECONDS = 120.0


async def leader_of_most(kafka: RealKafka, topics: Sequence[str]) -> int:
    """Return the node that leads the most partitions of `topics` (the lowest id on a tie)."""
    found = await describe(kafka.bootstrap_servers, topics)
    led = Counter(p.leader for topic in found.values() for p in topic.partitions)
    assert led, f"no partition of {topics} has a leader"
    return min(led, key=lambda node: (-led[node], node))


async def leaders(kafka: RealKafka, topics: Sequence[str]) -> set[int]:
    """Return the nodes leading any partition of `topics`."""
    found = await describe(kafka.bootstrap_servers, topics)
    return {p.leader for topic in found.values() for p in topic.partitions}


async def stop_cleanly(kafka: RealKafka, node: int) -> None:
    """Stop one node as an operator would (SIGTERM: it hands its leaderships over first)."""
    await asyncio.to_thread(kafka.cluster.stop_node, node)


async def start(kafka: RealKafka, node: int) -> None:
    """Start a node that was killed or stopped, and wait until it serves clients."""
    await asyncio.to_thread(kafka.cluster.start_node, node)


@contextlib.asynccontextmanager
async def every_node_back_afterwards(kafka: RealKafka) -> AsyncIterator[None]:
    """Run a block that takes nodes down; afterwards (however it ends) start them again
    and wait until every partition has all its copies in sync."""
    try:
        yield
    finally:
        await asyncio.to_thread(restore_every_node, kafka)


def restore_every_node(kafka: RealKafka) -> None:
    """Start every node that is down, then wait until every partition is fully replicated."""
    while (node := kafka.cluster.failed_node()) is not None:
        kafka.cluster.start_node(node.node_id)
    wait_until_fully_replicated(kafka)


def wait_until_fully_replicated(kafka: RealKafka) -> None:
    """Wait until every partition of every topic has a leader and all its copies in sync."""
    deadline = time.monotonic() + REPLICATED_WITHIN_SECONDS
    behind: list[str] = ["(not asked yet)"]
    while time.monotonic() < deadline:
        behind = _not_fully_replicated(kafka)
        if not behind:
            return
        time.sleep(0.2)
    raise AssertionError(f"partitions still not fully replicated: {behind[:5]}")


def _not_fully_replicated(kafka: RealKafka) -> list[str]:
    admin = KafkaAdminClient(bootstrap_servers=kafka.bootstrap_servers)
    try:
        topics: list[dict[str, Any]] = admin.describe_topics()
    finally:
        admin.close()
    return [
        f"{topic['name']}[{p['partition_index']}]"
        for topic in topics
        for p in topic["partitions"]
        if p["leader_id"] < 0 or set(p["isr_nodes"]) != set(p["replica_nodes"])
    ]


def group_members(kafka: RealKafka, group_id: str) -> list[dict[str, Any]]:
    """Return the members of a consumer group as its coordinator lists them (none while
    there is no coordinator yet)."""
    admin = KafkaAdminClient(bootstrap_servers=kafka.bootstrap_servers)
    try:
        groups = admin.describe_groups([group_id])
    except (CoordinatorNotAvailableError, CoordinatorLoadInProgressError):
        return []
    finally:
        admin.close()
    members: list[dict[str, Any]] = groups[group_id]["members"]
    return members
