"""Reading and creating Caseweave's topics on a Kafka cluster, through aiokafka's admin client."""

from collections.abc import AsyncIterator, Iterable, Sequence
from contextlib import asynccontextmanager
from typing import Any

from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.admin.config_resource import ConfigResource, ConfigResourceType
from aiokafka.errors import IncompatibleBrokerVersion, KafkaError

from services.runtime.kafka.topics import FoundTopic, TopicSpec

_TIMEOUT_MS = 10_000
_TOPIC_ALREADY_EXISTS = 36


class KafkaAdminError(Exception):
    """The cluster could not be read or changed; the message is a one-line reason."""


@asynccontextmanager
async def _admin(bootstrap: str) -> AsyncIterator[AIOKafkaAdminClient]:
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap, request_timeout_ms=_TIMEOUT_MS)
    try:
        await admin.start()
    except KafkaError as error:
        await admin.close()
        raise KafkaAdminError(f"cannot reach Kafka at {bootstrap}: {error}") from error
    try:
        yield admin
    except KafkaError as error:
        raise KafkaAdminError(f"Kafka at {bootstrap} refused: {error}") from error
    finally:
        await admin.close()


async def describe(bootstrap: str, names: Sequence[str]) -> dict[str, FoundTopic]:
    """Describe those of the named topics that exist: partitions, replication and configs."""
    async with _admin(bootstrap) as admin:
        # all topics, never named ones: naming a topic lets a broker with auto-create make it
        metadata = await admin.describe_topics()
        existing = {t["topic"]: t for t in metadata if t["topic"] in names and not t["error_code"]}
        configs = await _configs(admin, list(existing))
    return {
        name: FoundTopic(
            partitions=len(topic["partitions"]),
            replication_factor=min((len(p["replicas"]) for p in topic["partitions"]), default=0),
            configs=None if configs is None else configs.get(name),
        )
        for name, topic in existing.items()
    }


async def _configs(
    admin: AIOKafkaAdminClient, names: list[str]
) -> dict[str, dict[str, str]] | None:
    if not names:
        return {}
    resources = [ConfigResource(ConfigResourceType.TOPIC, name) for name in names]
    try:
        responses = await admin.describe_configs(resources)
    except IncompatibleBrokerVersion:
        return None  # the broker does not answer DescribeConfigs (librdkafka's mock is one)
    return configs_from_responses(response.to_object() for response in responses)


def configs_from_responses(responses: Iterable[dict[str, Any]]) -> dict[str, dict[str, str]]:
    """Return topic name -> config from DescribeConfigs responses, skipping resources in error."""
    return {
        resource["resource_name"]: {
            entry["config_names"]: entry["config_value"] for entry in resource["config_entries"]
        }
        for response in responses
        for resource in response["resources"]
        if not resource["error_code"]
    }


async def create_missing(bootstrap: str, specs: Sequence[TopicSpec]) -> list[str]:
    """Create the topics that do not exist yet, leaving existing ones alone; return those made."""
    async with _admin(bootstrap) as admin:
        existing = set(await admin.list_topics())
        missing = [spec for spec in specs if spec.name not in existing]
        if not missing:
            return []
        await _require_controller(admin)
        response = await admin.create_topics([_new_topic(spec) for spec in missing])
    return _created(response.to_object()["topic_errors"])


async def _require_controller(admin: AIOKafkaAdminClient) -> None:
    cluster = await admin.describe_cluster()
    if cluster["controller_id"] not in {broker["node_id"] for broker in cluster["brokers"]}:
        raise KafkaAdminError(
            "the cluster reports no controller, so it cannot create topics "
            "(librdkafka's mock broker is like this; real Kafka is not)"
        )


def _new_topic(spec: TopicSpec) -> NewTopic:
    return NewTopic(
        spec.name, spec.partitions, spec.replication_factor, topic_configs=dict(spec.configs)
    )


def _created(topic_errors: list[dict[str, Any]]) -> list[str]:
    failed = [e for e in topic_errors if e["error_code"] not in {0, _TOPIC_ALREADY_EXISTS}]
    if failed:
        reasons = "; ".join(
            f"{e['topic']}: error {e['error_code']} {e.get('error_message') or ''}".rstrip()
            for e in failed
        )
        raise KafkaAdminError(f"could not create topics: {reasons}")
    return [e["topic"] for e in topic_errors if e["error_code"] == 0]
