"""Consumers of a log come back by themselves after the database drops their connections."""

import asyncio
import time
from collections.abc import Callable

import pytest

from services.runtime.database import Pool, apply_ddl, create_pool
from services.runtime.event_log import PostgresEventLog
from services.runtime.event_store_schema import event_store_ddl, notify_channel


@pytest.fixture
async def schema(pool: Pool, unique_schema: Callable[[str], str]) -> str:
    name = unique_schema("outage")
    await apply_ddl(pool, lock_name=name, statements=event_store_ddl(name))
    return name


async def _drop_listeners(pool: Pool, channel: str) -> int:
    """Do what a database restart does to a listening connection: end it from the server."""
    terminated: int = await pool.fetchval(
        "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity"
        " WHERE datname = current_database() AND query = $1",
        f'LISTEN "{channel}"',
    )
    return terminated


async def test_a_log_whose_listening_connection_died_is_woken_again_at_once(
    database_url: str, pool: Pool, schema: str
) -> None:
    """After the database has ended its connection, a log listens again on a live one: a new
    event wakes its consumer at once, not only when the idle wait runs out."""
    own_pool = await create_pool(database_url, max_size=2)
    log = PostgresEventLog(own_pool, source="housing", schema=schema)
    try:
        await log.wait_for_new(0.01)  # listening
        assert await _drop_listeners(pool, notify_channel(schema)) == 1
        for _ in range(100):  # until the pool has taken the dead connection back
            if own_pool.get_idle_size() == 1:
                break
            await asyncio.sleep(0.01)
        await log.wait_for_new(0.01)  # the consumer's next idle wait after the outage

        waiting = asyncio.create_task(log.wait_for_new(10))
        await asyncio.sleep(0.05)
        started = time.monotonic()
        await pool.execute(f'NOTIFY "{notify_channel(schema)}"')
        await asyncio.wait_for(waiting, 10)
        assert time.monotonic() - started < 2, "woken by the idle timeout, not by the NOTIFY"
    finally:
        await log.close()
        await own_pool.close()
