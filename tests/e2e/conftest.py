"""End-to-end fixtures: a fresh database and data directory for a whole running system.

`system` runs on the embedded transport unless a test asks for Kafka with
`@pytest.mark.parametrize("system", ["postgres", "kafka"], indirect=True)`; in Kafka mode the
system is started as a user does with `./up --kafka`: `caseweave up --transport kafka` starts a
one-node Apache Kafka of its own and creates the topics before the services. A test that runs
processes itself, without `up`, asks for "kafka_cluster": a one-node Kafka started for it, every
topic created up front as an operator would with `caseweave kafka topics create`.
"""

import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from services.runtime.kafka.topics import wanted_topics
from services.runtime.settings import Settings
from tests.e2e.system import System
from tests.postgres import create_database
from tests.real_kafka import RUN_DIRECTORY, free_ports, kafka_or_skip, real_kafka

KAFKA_PARTITIONS = 6


@pytest.fixture
async def system(
    request: pytest.FixtureRequest, postgres_server: str, tmp_path: Path
) -> Iterator[System]:
    """A Caseweave system (not yet started) with its own database, data dir and free ports."""
    database_url = await create_database(postgres_server)
    data_dir = tmp_path / "data"
    transport = getattr(request, "param", "postgres")
    if transport == "postgres":
        yield System(database_url=database_url, data_dir=data_dir)
        return
    if transport == "kafka_cluster":
        with real_kafka() as kafka:
            for topic in wanted_topics(Settings(kafka_partitions=KAFKA_PARTITIONS)):
                kafka.create_topic(topic.name, partitions=topic.partitions)
            yield System(
                database_url=database_url,
                data_dir=data_dir,
                kafka_bootstrap_servers=kafka.bootstrap_servers,
            )
        return
    # `up --transport kafka` starts Kafka itself, its data where leftovers are looked for
    RUN_DIRECTORY.mkdir(parents=True, exist_ok=True)
    kafka_or_skip()  # without Java: skipped, or failed under CI=true
    port = free_ports(1)
    yield System(
        database_url=database_url,
        data_dir=Path(tempfile.mkdtemp(prefix="system-", dir=RUN_DIRECTORY)),
        kafka_bootstrap_servers=f"localhost:{port}",
        kafka_port=port,
        settings={"CASEWEAVE_KAFKA_PARTITIONS": str(KAFKA_PARTITIONS)},
    )
