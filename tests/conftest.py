"""Fixtures shared by every test level: a real PostgreSQL and fresh schemas in it."""

import uuid
from collections.abc import AsyncIterator, Callable, Iterator

import pytest

from services.runtime.database import Pool, create_pool
from tests.kafka_mock import MockKafka, mock_kafka
from tests.postgres import create_database, postgres_server_url


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[str]:
    """A PostgreSQL server for the whole run: CASEWEAVE_TEST_DATABASE_URL, else embedded."""
    with postgres_server_url() as url:
        yield url


@pytest.fixture(scope="session")
async def database_url(postgres_server: str) -> str:
    """A database created for this test run."""
    return await create_database(postgres_server)


@pytest.fixture(scope="session")
async def pool(database_url: str) -> AsyncIterator[Pool]:
    """A connection pool on the run's database."""
    pool = await create_pool(database_url, max_size=20)
    yield pool
    await pool.close()


@pytest.fixture(scope="session")
def kafka() -> Iterator[MockKafka]:
    """A Kafka-protocol broker on localhost (librdkafka's mock cluster) for the whole run."""
    with mock_kafka() as cluster:
        yield cluster


@pytest.fixture
def unique_schema() -> Callable[[str], str]:
    """Make schema names no other test uses, so tests share a database without teardown."""
    return lambda prefix: f"{prefix}_{uuid.uuid4().hex[:10]}"
