"""`caseweave kafka topics check|create` against a Kafka-protocol broker (librdkafka's mock).

Each test has its own three-broker mock cluster, so the real topic names and the default
replication factor of 3 can be used without meeting other tests' topics. The command runs
as a user runs it, in its own process (it configures logging for the whole process).
"""

import os
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from services.runtime.kafka.topics import DEAD_LETTER_TOPIC, events_topic
from tests.kafka_mock import MockKafka, mock_kafka

ALL_TOPICS = [events_topic(org) for org in ("housing", "mental_health", "voluntary")]
ALL_TOPICS.append(DEAD_LETTER_TOPIC)
REPO = Path(__file__).resolve().parents[2]


@pytest.fixture(autouse=True)
def no_kafka_settings(monkeypatch: pytest.MonkeyPatch) -> None:
    """Default Kafka settings, whatever the environment running the tests says."""
    for name in list(os.environ):
        if "KAFKA" in name.upper():
            monkeypatch.delenv(name)


@pytest.fixture
def cluster(monkeypatch: pytest.MonkeyPatch) -> Iterator[MockKafka]:
    """A fresh three-broker cluster, named by KAFKA_BOOTSTRAP_SERVERS."""
    with mock_kafka(brokers=3) as kafka:
        monkeypatch.setenv("KAFKA_BOOTSTRAP_SERVERS", kafka.bootstrap_servers)
        yield kafka


@pytest.fixture
def caseweave(capsys: pytest.CaptureFixture[str]) -> Callable[..., int]:
    """Run `caseweave ARGS…` in a child process; its output goes to `capsys`."""

    def run(*argv: str) -> int:
        command = [sys.executable, "-m", "services.cli", *argv]
        done = subprocess.run(
            command, cwd=REPO, capture_output=True, text=True, timeout=60, check=False
        )
        sys.stdout.write(done.stdout)
        sys.stderr.write(done.stderr)
        return done.returncode

    return run


def test_check_passes_when_every_topic_matches_and_notes_configs_it_cannot_read(
    cluster: MockKafka,
    capsys: pytest.CaptureFixture[str],
    caseweave: Callable[..., int],
) -> None:
    for name in ALL_TOPICS:
        cluster.create_topic(name, partitions=6, replication=3)

    assert caseweave("kafka", "topics", "check") == 0

    out = capsys.readouterr().out
    for name in ALL_TOPICS:
        assert f"{name}: ok; min.insync.replicas, retention.ms not checked" in out
    assert "topics match the configuration" in out


def test_check_reports_missing_and_mis_sized_topics_and_fails(
    cluster: MockKafka,
    capsys: pytest.CaptureFixture[str],
    caseweave: Callable[..., int],
) -> None:
    housing, mental_health, voluntary, dead_letter = ALL_TOPICS
    cluster.create_topic(housing, partitions=6, replication=3)
    cluster.create_topic(mental_health, partitions=2, replication=3)
    cluster.create_topic(voluntary, partitions=6, replication=1)

    assert caseweave("kafka", "topics", "check") == 1

    lines = capsys.readouterr().out.splitlines()
    assert lines[0].startswith(f"{housing}: ok")
    assert lines[1].startswith(f"{mental_health}: PROBLEM; 2 partitions, wanted 6")
    assert lines[2].startswith(f"{voluntary}: PROBLEM; replication factor 1, wanted 3")
    assert lines[3] == f"{dead_letter}: PROBLEM; missing"
    assert lines[4] == "3 problems"


def test_check_follows_the_configured_partition_count(
    cluster: MockKafka,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    caseweave: Callable[..., int],
) -> None:
    monkeypatch.setenv("CASEWEAVE_KAFKA_PARTITIONS", "2")
    for name in ALL_TOPICS:
        cluster.create_topic(name, partitions=2, replication=3)

    assert caseweave("kafka", "topics", "check") == 0


def test_create_leaves_existing_topics_alone_and_succeeds_when_none_are_missing(
    cluster: MockKafka,
    capsys: pytest.CaptureFixture[str],
    caseweave: Callable[..., int],
) -> None:
    for name in ALL_TOPICS:
        cluster.create_topic(name, partitions=1, replication=1)

    assert caseweave("kafka", "topics", "create") == 0

    out = capsys.readouterr().out
    assert all(f"{name}: already exists (left as it is)" in out for name in ALL_TOPICS)
    assert caseweave("kafka", "topics", "check") == 1  # still 1 partition: never altered


def test_create_on_the_mock_broker_fails_with_a_reason_because_it_has_no_controller(
    cluster: MockKafka,
    capsys: pytest.CaptureFixture[str],
    caseweave: Callable[..., int],
) -> None:
    """The mock cannot create topics (no controller); real Kafka can, see deploy/ to try it."""
    assert caseweave("kafka", "topics", "create") == 1

    captured = capsys.readouterr()
    assert captured.err.strip().splitlines() == [
        "kafka topics create failed: the cluster reports no controller, so it cannot create "
        "topics (librdkafka's mock broker is like this; real Kafka is not)"
    ]
    assert "Traceback" not in captured.err + captured.out


def test_an_unreachable_cluster_gives_a_one_line_reason(
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    caseweave: Callable[..., int],
) -> None:
    monkeypatch.setenv("KAFKA_BOOTSTRAP_SERVERS", "127.0.0.1:1")

    assert caseweave("kafka", "topics", "check") == 1

    err = capsys.readouterr().err
    assert "kafka topics check failed: cannot reach Kafka at 127.0.0.1:1" in err
    assert "Traceback" not in err


def test_without_bootstrap_servers_the_command_names_the_variable(
    capsys: pytest.CaptureFixture[str],
    caseweave: Callable[..., int],
) -> None:
    assert caseweave("kafka", "topics", "create") == 2

    assert "KAFKA_BOOTSTRAP_SERVERS is not set" in capsys.readouterr().err
