"""`caseweave kafka topics create|check`."""

import argparse
import sys

from services.runtime.kafka.admin import KafkaAdminError, create_missing, describe
from services.runtime.kafka.topics import TopicProblem, TopicSpec, compare, wanted_topics
from services.runtime.settings import Settings


async def run(args: argparse.Namespace, settings: Settings) -> int:
    """Carry out a topics action against the configured cluster; return an exit code."""
    bootstrap = settings.kafka_bootstrap_servers
    if not bootstrap:
        print(
            "KAFKA_BOOTSTRAP_SERVERS is not set: name the Kafka cluster, e.g. "
            "KAFKA_BOOTSTRAP_SERVERS=kafka:9092",
            file=sys.stderr,
        )
        return 2
    wanted = wanted_topics(settings)
    try:
        if args.action == "create":
            return await _create(bootstrap, wanted)
        return await _check(bootstrap, wanted)
    except KafkaAdminError as error:
        print(f"kafka topics {args.action} failed: {error}", file=sys.stderr)
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
    failing = sum(1 for problem in problems if problem.fails)
    print("topics match the configuration" if not failing else f"{failing} problems")
    return 1 if failing else 0


def _line(name: str, problems: list[TopicProblem]) -> str:
    if not problems:
        return f"{name}: ok"
    verdict = "ok" if not any(problem.fails for problem in problems) else "PROBLEM"
    return f"{name}: {verdict}; " + "; ".join(problem.detail for problem in problems)
