"""Reading and creating Caseweave's topics on a Kafka cluster, through kafka-python's admin
client.

kafka-python blocks, so each public function here does its work in a worker thread: callers
on an event loop await it like any other I/O. kafka-python sends a request to one node and
fails if that node is down, so requests are sent again while the answer is retriable.
"""

import asyncio
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from typing import Any, TypeVar

from kafka.admin import ConfigResource, ConfigResourceType, KafkaAdminClient
from kafka.errors import KafkaError, RetriableError, TopicAlreadyExistsError

from services.runtime.kafka.topics import FoundTopic, PartitionReplicas, TopicSpec

_TIMEOUT_MS = 10_000
_LEADERS_TIMEOUT_MS = 30_000
RETRY_SECONDS = 30.0
T = TypeVar("T")


class KafkaAdminError(Exception):
    """The cluster could not be read or changed; the message is a one-line reason."""


@contextmanager
def admin_client(bootstrap: str) -> Iterator[Any]:  # a KafkaAdminClient: kafka-python is untyped
    """Connect an admin client for a block, turning kafka-python's errors into KafkaAdminError."""
    try:
        admin = KafkaAdminClient(
            bootstrap_servers=bootstrap.split(","),
            client_id="caseweave-admin",
            request_timeout_ms=_TIMEOUT_MS,
            bootstrap_timeout_ms=_TIMEOUT_MS,
        )
    except KafkaError as error:
        raise KafkaAdminError(f"cannot reach Kafka at {bootstrap}: {error}") from error
    try:
        yield admin
    except KafkaError as error:
        raise KafkaAdminError(f"Kafka at {bootstrap} failed: {error}") from error
    finally:
        admin.close()


def retried(call: Callable[[], T]) -> T:
    """Return `call()`, calling again for up to RETRY_SECONDS while Kafka's error is retriable
    (a node down, a leader or a group coordinator moving, the offsets topic being made)."""
    deadline = time.monotonic() + RETRY_SECONDS
    while True:
        try:
            return call()
        except RetriableError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.2)  # the node that failed is now in backoff: another is asked


async def describe(bootstrap: str, names: Sequence[str]) -> dict[str, FoundTopic]:
    """Describe those of the named topics that exist: their partitions' replicas and configs."""
    return await asyncio.to_thread(_describe, bootstrap, names)


def _describe(bootstrap: str, names: Sequence[str]) -> dict[str, FoundTopic]:
    with admin_client(bootstrap) as admin:
        # by name: kafka-python's metadata request never lets a broker auto-create a topic
        described = retried(lambda: admin.describe_topics(list(names)))
        existing = [t for t in described if not t["error_code"]]
        configs = _configs(admin, [t["name"] for t in existing])
    return {t["name"]: found_topic(t, configs.get(t["name"], {})) for t in existing}


def _configs(admin: Any, names: list[str]) -> dict[str, dict[str, str]]:
    if not names:
        return {}
    resources = [ConfigResource(ConfigResourceType.TOPIC, name) for name in names]
    described = retried(lambda: admin.describe_configs(resources, config_filter="all"))
    return {
        name: {key: entry["value"] for key, entry in entries.items() if entry["value"] is not None}
        for name, entries in described.get("topic", {}).items()
    }


def found_topic(metadata: Mapping[str, Any], configs: Mapping[str, str]) -> FoundTopic:
    """Return a topic as kafka-python's `describe_topics` entry and its configs describe it."""
    partitions = tuple(
        PartitionReplicas(
            partition=p["partition_index"],
            leader=p["leader_id"],
            replicas=tuple(p["replica_nodes"]),
            in_sync=tuple(p["isr_nodes"]),
            offline=tuple(p.get("offline_replicas") or ()),
        )
        for p in metadata["partitions"]
    )
    return FoundTopic(partitions=partitions, configs=dict(configs))


async def create_missing(bootstrap: str, specs: Sequence[TopicSpec]) -> list[str]:
    """Create the topics that do not exist yet, leaving existing ones alone; return those made,
    once each of their partitions has a leader."""
    return await asyncio.to_thread(_create_missing, bootstrap, specs)


def _create_missing(bootstrap: str, specs: Sequence[TopicSpec]) -> list[str]:
    with admin_client(bootstrap) as admin:
        existing = set(retried(admin.list_topics))
        missing = [spec for spec in specs if spec.name not in existing]
        if not missing:
            return []
        new_topics = {spec.name: _new_topic(spec) for spec in missing}
        response = retried(lambda: admin.create_topics(new_topics, raise_errors=False))
        created = _created(response["topics"])
        admin.wait_for_topics(created, timeout_ms=_LEADERS_TIMEOUT_MS)
    return created


def _new_topic(spec: TopicSpec) -> dict[str, Any]:
    return {
        "num_partitions": spec.partitions,
        "replication_factor": spec.replication_factor,
        "configs": dict(spec.configs),
    }


def _created(results: list[dict[str, Any]]) -> list[str]:
    """Return the topics made; raise if any could not be (another's creating it is fine)."""
    made_elsewhere = TopicAlreadyExistsError.errno
    failed = [r for r in results if r["error_code"] not in {0, made_elsewhere}]
    if failed:
        reasons = "; ".join(f"{r['name']}: {_reason(r)}" for r in failed)
        raise KafkaAdminError(f"could not create topics: {reasons}")
    return [r["name"] for r in results if r["error_code"] == 0]


def _reason(result: Mapping[str, Any]) -> str:
    return str(result.get("error_message") or f"error {result['error_code']}")
