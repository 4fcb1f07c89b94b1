"""`caseweave kafka topics create|check` and `caseweave kafka lag`."""

import argparse
import logging
import sys

from events.envelope import OrgId
from events.organisations import Organisations
from services.cli.kafka_lag_report import lag_json, lag_table
from services.runtime.kafka.admin import KafkaAdminError, create_missing, describe
from services.runtime.kafka.group_lag import ConsumerGroup, groups_lag
from services.runtime.kafka.group_offsets import read_offsets
from services.runtime.kafka.topics import (
    TopicProblem,
    TopicSpec,
    compare,
    events_topic,
    others_topics,
    wanted_topics,
)
from services.runtime.organisations_file import load_organisations
from services.runtime.settings import Settings


async def run(args: argparse.Namespace, settings: Settings) -> int:
    """Carry out a topics or lag action against the configured cluster; return an exit code."""
    bootstrap = settings.kafka_bootstrap_servers
    if not bootstrap:
        print(
            "KAFKA_BOOTSTRAP_SERVERS is not set: name the Kafka cluster, e.g. "
            "KAFKA_BOOTSTRAP_SERVERS=kafka:9092",
            file=sys.stderr,
        )
        return 2
    # kafka-python logs each refused connection, which the admin calls retry on another node
    logging.getLogger("kafka").setLevel(logging.CRITICAL)
    command = "kafka lag" if args.group == "lag" else f"kafka topics {args.action}"
    try:
        if args.group == "lag":
            return await _lag(bootstrap, settings, as_json=args.json)
        if args.action == "create":
            return await _create(bootstrap, wanted_topics(settings))
        return await _check(bootstrap, wanted_topics(settings))
    except KafkaAdminError as error:
        print(f"{command} failed: {error}", file=sys.stderr)
        return 1


async def _create(bootstrap: str, wanted: list[TopicSpec]) -> int:
    created = await create_missing(bootstrap, wanted)
    for spec in wanted:
        state = "created" if spec.name in created else "already exists (left as it is)"
        print(f"{spec.name}: {state}")
    return 0


async def _check(bootstrap: str, wanted: list[TopicSpec]) -> int:
    problems = compare(wanted, await describe(bootstrap, [spec.name for spec in wanted]))
    for spec in wanted:
        print(_line(spec.name, [p for p in problems if p.topic == spec.name]))
    print("topics match the configuration" if not problems else f"{len(problems)} problems")
    return 1 if problems else 0


def _line(name: str, problems: list[TopicProblem]) -> str:
    if not problems:
        return f"{name}: ok"
    return f"{name}: PROBLEM; " + "; ".join(problem.detail for problem in problems)


def consumer_groups(organisations: Organisations) -> list[ConsumerGroup]:
    """Return Caseweave's consumer groups: the projection worker's, then each referral inbox's
    (one per organisation of the place)."""
    from services.projection.entrypoints.faust_worker import GROUP_ID  # noqa: PLC0415 - loads Faust

    every_topic = tuple(events_topic(org) for org in organisations.ids)
    inboxes = [
        ConsumerGroup(referral_inbox_group(org), tuple(others_topics(organisations.ids, org)))
        for org in organisations.ids
    ]
    return [ConsumerGroup(GROUP_ID, every_topic), *inboxes]


def referral_inbox_group(org: OrgId) -> str:
    """Return the group an organisation's referral inbox reads the others' topics in (as
    KafkaReferralInbox names it)."""
    return f"caseweave-{org}-referral-inbox"


async def _lag(bootstrap: str, settings: Settings, *, as_json: bool) -> int:
    groups = consumer_groups(load_organisations(settings.organisations_file))
    topics = {topic for group in groups for topic in group.topics}
    offsets = await read_offsets(
        bootstrap, topics=topics, group_ids=[group.group_id for group in groups]
    )
    report = groups_lag(groups, offsets)
    print(lag_json(report) if as_json else "\n".join(lag_table(report)))
    return 0
