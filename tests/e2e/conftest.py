"""End-to-end fixtures: a fresh database and data directory for a whole running system.

`system` runs on the embedded transport unless a test asks for Kafka with
`@pytest.mark.parametrize("system", ["postgres", "kafka"], indirect=True)`; in Kafka mode the
system gets its own mock broker with every topic created up front, as an operator would with
`caseweave kafka topics create`.
"""

from collections.abc import Iterator
from pathlib import Path

import pytest

from services.runtime.kafka.topics import wanted_topics
from services.runtime.settings import Settings
from tests.e2e.system import System
from tests.kafka_mock import mock_kafka
from tests.postgres import create_database

KAFKA_PARTITIONS = 6  # the mock keeps 5 MB per partition: the crash test's 56,000 events fit


@pytest.fixture
async def system(
    request: pytest.FixtureRequest, postgres_server: str, tmp_path: Path
) -> Iterator[System]:
    """A Caseweave system (not yet started) with its own database, data dir and free ports."""
    database_url = await create_database(postgres_server)
    data_dir = tmp_path / "data"
    if getattr(request, "param", "postgres") == "postgres":
        yield System(database_url=database_url, data_dir=data_dir)
        return
    with mock_kafka() as kafka:
        for topic in wanted_topics(Settings(kafka_partitions=KAFKA_PARTITIONS)):
            kafka.create_topic(topic.name, partitions=topic.partitions)
        yield System(
            database_url=database_url,
            data_dir=data_dir,
            kafka_bootstrap_servers=kafka.bootstrap_servers,
        )
