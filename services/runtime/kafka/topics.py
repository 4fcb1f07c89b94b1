"""Which Kafka topics Caseweave needs, with what shape, and how the cluster differs from that."""

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Literal

from events.envelope import ORGANISATIONS, OrgId
from services.runtime.settings import Settings

TOPIC_VERSION = 1
DEAD_LETTER_TOPIC = f"caseweave.dead_letter.v{TOPIC_VERSION}"


def events_topic(org: OrgId) -> str:
    """Return the topic an organisation's events are published to."""
    return f"caseweave.{org}.events.v{TOPIC_VERSION}"


@dataclass(frozen=True)
class TopicSpec:
    """A topic as Caseweave wants it on the cluster."""

    name: str
    partitions: int
    replication_factor: int
    configs: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class FoundTopic:
    """A topic as the cluster describes it; `configs` is None when the broker will not say."""

    partitions: int
    replication_factor: int
    configs: Mapping[str, str] | None


ProblemKind = Literal["missing", "partitions", "replication", "config", "not_checked"]


@dataclass(frozen=True)
class TopicProblem:
    """One way a topic on the cluster differs from what Caseweave wants."""

    topic: str
    kind: ProblemKind
    detail: str

    @property
    def fails(self) -> bool:
        """Whether the problem makes the topics unfit (what could not be read does not)."""
        return self.kind != "not_checked"


def wanted_topics(settings: Settings) -> list[TopicSpec]:
    """Return every topic Caseweave uses: one per organisation's events, and the dead letters."""
    configs = {
        "retention.ms": str(settings.kafka_retention_ms),
        "min.insync.replicas": str(settings.kafka_min_insync_replicas),
    }
    names = [events_topic(org) for org in ORGANISATIONS] + [DEAD_LETTER_TOPIC]
    return [
        TopicSpec(
            name=name,
            partitions=settings.kafka_partitions,
            replication_factor=settings.kafka_replication_factor,
            configs=configs,
        )
        for name in names
    ]


def compare(wanted: Sequence[TopicSpec], found: Mapping[str, FoundTopic]) -> list[TopicProblem]:
    """Return how the found topics differ from the wanted ones; no problems means all match."""
    problems: list[TopicProblem] = []
    for spec in wanted:
        topic = found.get(spec.name)
        if topic is None:
            problems.append(TopicProblem(spec.name, "missing", "missing"))
        else:
            problems.extend(_differences(spec, topic))
    return problems


def _differences(spec: TopicSpec, topic: FoundTopic) -> list[TopicProblem]:
    problems = []
    if topic.partitions != spec.partitions:
        detail = f"{topic.partitions} partitions, wanted {spec.partitions}"
        problems.append(TopicProblem(spec.name, "partitions", detail))
    if topic.replication_factor != spec.replication_factor:
        detail = f"replication factor {topic.replication_factor}, wanted {spec.replication_factor}"
        problems.append(TopicProblem(spec.name, "replication", detail))
    if topic.configs is None:
        detail = f"{', '.join(sorted(spec.configs))} not checked (the broker does not say)"
        return (
            [*problems, TopicProblem(spec.name, "not_checked", detail)]
            if spec.configs
            else problems
        )
    for key, value in sorted(spec.configs.items()):
        actual = topic.configs.get(key)
        if actual != value:
            detail = f"{key} is {actual if actual is not None else 'unset'}, wanted {value}"
            problems.append(TopicProblem(spec.name, "config", detail))
    return problems
