"""Fixtures shared by every test level: a real PostgreSQL and fresh schemas in it."""

import os
import shutil
import sys
import threading
import uuid
from collections.abc import AsyncIterator, Callable, Iterator

import pytest
import structlog

from services.runtime.database import Pool, create_pool
from tests.postgres import create_database, postgres_server_url
from tests.real_kafka import RUN_DIRECTORY, RealKafka, kill_leftover_brokers, real_kafka


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
def kafka() -> Iterator[RealKafka]:
    """A real Apache Kafka (one node, KRaft) on localhost for the whole run; tests share it,
    each with topics of its own."""
    with real_kafka() as cluster:
        yield cluster


@pytest.fixture
def unique_schema() -> Callable[[str], str]:
    """Make schema names no other test uses, so tests share a database without teardown."""
    return lambda prefix: f"{prefix}_{uuid.uuid4().hex[:10]}"


_TESTS_EXIT_STATUS = pytest.StashKey[int]()


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    """Remember how the run went, for `pytest_unconfigure`."""
    session.config.stash[_TESTS_EXIT_STATUS] = int(exitstatus)


def pytest_unconfigure(config: pytest.Config) -> None:
    """Do not let a thread a test left running keep the run from ever ending.

    Python waits for every non-daemon thread at exit: a Faust consumer thread still
    retrying a broker the tests have stopped would hang CI until its time limit.
    (`test_a_worker_whose_consumer_thread_is_stuck_still_stops_...` checks the worker ends
    its own.)
    """
    left = [
        thread
        for thread in threading.enumerate()
        if thread is not threading.main_thread() and not thread.daemon and thread.is_alive()
    ]
    for thread in left:
        thread.join(timeout=5)
    killed = kill_leftover_brokers()
    if killed:
        print(f"\nkilled Kafka nodes left running: {killed}", file=sys.stderr, flush=True)
    shutil.rmtree(RUN_DIRECTORY, ignore_errors=True)
    still_running = [thread.name for thread in left if thread.is_alive()]
    if still_running:
        print(
            f"\nthreads still running after the tests: {', '.join(still_running)};"
            " exiting without waiting for them",
            file=sys.stderr,
            flush=True,
        )
        sys.stdout.flush()
        os._exit(config.stash.get(_TESTS_EXIT_STATUS, 1))


@pytest.fixture(autouse=True)
def _logging_configuration_restored() -> Iterator[None]:
    """A test that runs the CLI's `main` configures structlog for the whole process (caching
    loggers on first use, which `capture_logs` cannot reach): give the next test the
    configuration it would have had."""
    saved = structlog.get_config()
    yield
    structlog.configure(**saved)
