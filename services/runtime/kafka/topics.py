"""Which Kafka topics Caseweave needs, with what shape, and how the cluster differs from that."""

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Literal

from events.envelope import OrgId
from events.organisations import DEFAULT_ORGANISATIONS
from services.runtime.organisations_file import load_organisations
from services.runtime.settings import Settings

TOPIC_VERSION = 1
DEAD_LETTER_TOPIC = f"caseweave.dead_letter.v{TOPIC_VERSION}"
NO_LEADER = -1


def events_topic(org: OrgId) -> str:
    """Return the topic an organisation's events are published to."""
    return f"caseweave.{org}.events.v{TOPIC_VERSION}"


def organisation_topics(orgs: Iterable[OrgId] = DEFAULT_ORGANISATIONS.ids) -> dict[str, OrgId]:
    """Return the topic of each organisation's events (of `orgs`: the place's), and whose it
    is."""
    return {events_topic(org): org for org in orgs}


def others_topics(orgs: Iterable[OrgId], org: OrgId) -> list[str]:
    """Return the topics of every organisation of `orgs` but `org` (what its referral inbox
    reads)."""
    return [events_topic(other) for other in orgs if other != org]


@dataclass(frozen=True)
class TopicSpec:
    """A topic as Caseweave wants it on the cluster."""

    name: str
    partitions: int
    replication_factor: int
    configs: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class PartitionReplicas:
    """Where one partition's copies are, as the cluster reports them (node ids)."""

    partition: int
    leader: int
    replicas: tuple[int, ...]
    in_sync: tuple[int, ...]
    offline: tuple[int, ...] = ()

    @property
    def is_offline(self) -> bool:
        """Whether no node leads the partition, so it can be neither written nor read."""
        return self.leader == NO_LEADER

    @property
    def lagging_nodes(self) -> list[int]:
        """Return the nodes that hold a copy but are offline or not in sync with the leader."""
        return sorted(
            node for node in self.replicas if node not in self.in_sync or node in self.offline
        )


@dataclass(frozen=True)
class FoundTopic:
    """A topic as the cluster describes it: its partitions' replicas and its configs."""

    partitions: Sequence[PartitionReplicas]
    configs: Mapping[str, str]

    @property
    def replication_factor(self) -> int:
        """Return the fewest copies any partition has."""
        return min((len(p.replicas) for p in self.partitions), default=0)


ProblemKind = Literal[
    "missing", "partitions", "replication", "config", "under_replicated", "offline"
]


@dataclass(frozen=True)
class TopicProblem:
    """One way a topic on the cluster differs from what Caseweave wants."""

    topic: str
    kind: ProblemKind
    detail: str


def wanted_topics(settings: Settings) -> list[TopicSpec]:
    """Return every topic Caseweave uses: one per organisation's events (of the place's
    organisations file), and the dead letters."""
    configs = {
        "retention.ms": str(settings.kafka_retention_ms),
        "min.insync.replicas": str(settings.kafka_min_insync_replicas),
    }
    organisations = load_organisations(settings.organisations_file).ids
    names = [events_topic(org) for org in organisations] + [DEAD_LETTER_TOPIC]
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
            problems.extend(_health(spec.name, topic))
    return problems


def _differences(spec: TopicSpec, topic: FoundTopic) -> list[TopicProblem]:
    problems = []
    if len(topic.partitions) != spec.partitions:
        detail = f"{len(topic.partitions)} partitions, wanted {spec.partitions}"
        problems.append(TopicProblem(spec.name, "partitions", detail))
    if topic.replication_factor != spec.replication_factor:
        detail = f"replication factor {topic.replication_factor}, wanted {spec.replication_factor}"
        problems.append(TopicProblem(spec.name, "replication", detail))
    for key, value in sorted(spec.configs.items()):
        actual = topic.configs.get(key)
        if actual != value:
            detail = f"{key} is {actual if actual is not None else 'unset'}, wanted {value}"
            problems.append(TopicProblem(spec.name, "config", detail))
    return problems


def _health(name: str, topic: FoundTopic) -> list[TopicProblem]:
    partitions = sorted(topic.partitions, key=lambda p: p.partition)
    offline = [p for p in partitions if p.is_offline]
    lagging = [p for p in partitions if not p.is_offline and p.lagging_nodes]
    problems = []
    if offline:
        detail = f"{_numbered('partition', offline)} offline (no leader)"
        problems.append(TopicProblem(name, "offline", detail))
    if lagging:
        nodes = sorted({node for p in lagging for node in p.lagging_nodes})
        detail = (
            f"{_numbered('partition', lagging)} under-replicated "
            f"({_listed('node', nodes)} out of sync)"
        )
        problems.append(TopicProblem(name, "under_replicated", detail))
    return problems


def _numbered(noun: str, partitions: Sequence[PartitionReplicas]) -> str:
    return _listed(noun, [p.partition for p in partitions])


def _listed(noun: str, numbers: Sequence[int]) -> str:
    return f"{noun}{'s' if len(numbers) > 1 else ''} {', '.join(map(str, numbers))}"
