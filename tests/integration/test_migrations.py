"""Schema migrations as operators see them: applied once, recorded, never half done, and an
older release refusing a newer database in one line."""

import asyncio
from collections.abc import AsyncIterator, Callable
from pathlib import Path

import asyncpg
import pytest
from structlog.testing import capture_logs

from services.organisation.adapters.schema_migrations import organisation_migrations
from services.projection.adapters.read_model_schema import prepare_read_model, read_model_ddl
from services.runtime.api_keys import auth_ddl
from services.runtime.database import Pool, apply_ddl, create_pool
from services.runtime.migrations import (
    VERSIONS_TABLE,
    Migration,
    SchemaAhead,
    SchemaSet,
    apply_migrations,
)
from services.runtime.person_keys import person_keys_ddl
from tests.caseweave_command import caseweave
from tests.e2e.system import free_port
from tests.integration.kafka_failover_support import until
from tests.postgres import create_database


def _notes(schema: str, *, second: tuple[str, ...] | None = None) -> SchemaSet:
    """Two migrations that would fail if run twice, each counting its runs in `runs`."""
    first = (
        f"CREATE SCHEMA {schema}",
        f"CREATE TABLE {schema}.notes (id int PRIMARY KEY, body text NOT NULL)",
        f"CREATE TABLE {schema}.runs (version int NOT NULL)",
        f"INSERT INTO {schema}.runs VALUES (1)",  # noqa: S608 - test schema
    )
    second = second or (
        f"ALTER TABLE {schema}.notes ADD COLUMN author text",
        f"INSERT INTO {schema}.runs VALUES (2)",  # noqa: S608 - test schema
    )
    return SchemaSet(
        name=f"test:{schema}",
        migrations=(Migration(1, "notes", first), Migration(2, "note authors", second)),
    )


async def _recorded(pool: Pool, tables: SchemaSet) -> list[tuple[int, str, object]]:
    rows = await pool.fetch(
        f"SELECT version, name, applied_at FROM {VERSIONS_TABLE}"  # noqa: S608 - constant table
        " WHERE schema_set = $1 ORDER BY version",
        tables.name,
    )
    return [(row["version"], row["name"], row["applied_at"]) for row in rows]


async def _runs(pool: Pool, schema: str) -> list[int]:
    return [row[0] for row in await pool.fetch(f"SELECT version FROM {schema}.runs ORDER BY 1")]  # noqa: S608


async def test_a_fresh_database_gets_every_migration_and_records_each_version(
    pool: Pool, unique_schema: Callable[[str], str]
) -> None:
    schema = unique_schema("mig")
    tables = _notes(schema)
    applied = await apply_migrations(pool, tables)
    assert [m.version for m in applied] == [1, 2]
    assert [(version, name) for version, name, _ in await _recorded(pool, tables)] == [
        (1, "notes"),
        (2, "note authors"),
    ]
    await pool.execute(f"INSERT INTO {schema}.notes VALUES (1, 'seen', 'ann')")  # noqa: S608


async def test_a_second_start_runs_no_ddl_and_waits_for_no_one(
    pool: Pool, unique_schema: Callable[[str], str]
) -> None:
    """A normal start only reads the record: even a migration of the same set in progress
    elsewhere (its advisory lock held) does not hold it up."""
    schema = unique_schema("mig")
    tables = _notes(schema)
    await apply_migrations(pool, tables)
    before = await _recorded(pool, tables)
    async with pool.acquire() as other:
        await other.execute("SELECT pg_advisory_lock(hashtext($1))", tables.lock)
        with capture_logs() as lines:
            again = await asyncio.wait_for(apply_migrations(pool, tables), 5)
        await other.execute("SELECT pg_advisory_unlock(hashtext($1))", tables.lock)
    assert again == []
    assert lines == []
    assert await _recorded(pool, tables) == before
    assert await _runs(pool, schema) == [1, 2]


async def test_processes_starting_together_apply_each_migration_once(
    pool: Pool, unique_schema: Callable[[str], str]
) -> None:
    schema = unique_schema("mig")
    tables = _notes(schema)
    applied = await asyncio.gather(*(apply_migrations(pool, tables) for _ in range(4)))
    assert sorted(len(each) for each in applied) == [0, 0, 0, 2]
    assert await _runs(pool, schema) == [1, 2]


async def test_a_failing_migration_leaves_no_trace_and_the_next_start_tries_it_again(
    pool: Pool, unique_schema: Callable[[str], str]
) -> None:
    schema = unique_schema("mig")
    broken = (f"CREATE TABLE {schema}.half (id int)", "SELECT 1 / 0")
    with pytest.raises(asyncpg.DivisionByZeroError):
        await apply_migrations(pool, _notes(schema, second=broken))
    assert [version for version, _, _ in await _recorded(pool, _notes(schema))] == [1]
    assert await pool.fetchval("SELECT to_regclass($1)", f"{schema}.half") is None
    applied = await apply_migrations(pool, _notes(schema))
    assert [m.version for m in applied] == [2]
    assert await _runs(pool, schema) == [1, 2]


async def test_a_migration_waits_its_turn_behind_a_writer_instead_of_blocking_it(
    pool: Pool, unique_schema: Callable[[str], str]
) -> None:
    """It gives up the locks it cannot have at once and tries again after a pause."""
    schema = unique_schema("mig")
    tables = _notes(schema)
    await apply_migrations(pool, SchemaSet(tables.name, tables.migrations[:1]))
    async with pool.acquire() as writer:
        in_flight = writer.transaction()
        await in_flight.start()
        await writer.execute(f"INSERT INTO {schema}.notes VALUES (1, 'busy')")  # noqa: S608
        with capture_logs() as lines:
            migrating = asyncio.create_task(apply_migrations(pool, tables))
            await until(
                lambda: any(line["event"] == "migration_waiting_for_locks" for line in lines),
                within=10,
                what="the migration to give up the lock the writer holds",
            )
            second_write = writer.execute(f"INSERT INTO {schema}.notes VALUES (2, 'on')")  # noqa: S608
            await asyncio.wait_for(second_write, 5)
            await in_flight.commit()
            await asyncio.wait_for(migrating, 30)
    assert await _runs(pool, schema) == [1, 2]


async def test_a_database_ahead_of_the_release_refuses_naming_both_versions(
    pool: Pool, unique_schema: Callable[[str], str]
) -> None:
    schema = unique_schema("mig")
    tables = _notes(schema)
    await apply_migrations(pool, tables)
    older = SchemaSet(tables.name, tables.migrations[:1])
    with pytest.raises(SchemaAhead) as refused:
        await apply_migrations(pool, older)
    assert str(refused.value) == (
        f"schema set test:{schema}: this release knows up to migration 1;"
        " the database is at migration 2: upgrade Caseweave"
    )


@pytest.fixture
async def fresh_database(postgres_server: str) -> str:
    """A database of its own: the fixed schemas (`caseweave_auth`, …) start empty there."""
    return await create_database(postgres_server)


@pytest.fixture
async def fresh_pool(fresh_database: str) -> AsyncIterator[Pool]:
    """A pool on `fresh_database`."""
    pool = await create_pool(fresh_database, max_size=4)
    yield pool
    await pool.close()


async def test_a_database_of_a_release_before_migrations_upgrades_and_keeps_its_data(
    fresh_pool: Pool,
) -> None:
    """Even one from before the columns that later releases added as they started."""
    oldest = [s for s in [*auth_ddl(), *read_model_ddl("projection")] if "ALTER TABLE" not in s]
    await apply_ddl(fresh_pool, lock_name="old", statements=[*oldest, *person_keys_ddl()])
    await fresh_pool.execute(
        "INSERT INTO caseweave_auth.api_keys (key_id, org, role, secret_sha256)"
        " VALUES ('k1', 'housing', 'frontline', 'x')"
    )
    await fresh_pool.execute(
        "INSERT INTO projection.citizens (citizen_id, view) VALUES (gen_random_uuid(), '{}')"
    )
    await prepare_read_model(fresh_pool, "projection")
    recorded = await fresh_pool.fetch(f"SELECT schema_set, version FROM {VERSIONS_TABLE}")  # noqa: S608
    assert sorted(tuple(row) for row in recorded) == [
        ("auth:caseweave_auth", 1),
        ("person_keys:caseweave_keys", 1),
        ("projection:projection", 1),
        ("projection:projection", 2),
        ("projection:projection", 3),
        ("projection:projection", 4),
    ]
    assert await fresh_pool.fetchval("SELECT count(*) FROM projection.citizens") == 1
    assert await fresh_pool.fetchval("SELECT expires_at FROM caseweave_auth.api_keys") is None
    assert await fresh_pool.fetchval("SELECT count(event) FROM projection_audit.break_glass") == 0


async def test_a_service_of_an_older_release_refuses_a_newer_database_in_one_line(
    fresh_database: str, fresh_pool: Pool, tmp_path: Path
) -> None:
    """No stack trace: `caseweave run` says which schema set, at which version, and what to
    do; `caseweave migrations status` shows it too."""
    housing = organisation_migrations("housing")
    known, newer = housing.version, housing.version + 1
    await apply_migrations(fresh_pool, housing)
    await fresh_pool.execute(
        f"INSERT INTO {VERSIONS_TABLE} (schema_set, version, name)"  # noqa: S608 - constant table
        " VALUES ('organisation:housing', $1, 'from a newer release')",
        newer,
    )
    env = {
        "CASEWEAVE_DATABASE_URL": fresh_database,
        "CASEWEAVE_DATA_DIR": str(tmp_path),
        "CASEWEAVE_TRANSPORT": "postgres",
        "CASEWEAVE_HOUSING_PORT": str(free_port()),
    }
    run = caseweave("run", "housing", bootstrap=None, **env)
    assert run.returncode == 1
    assert run.stderr.strip() == (
        "caseweave run housing: schema set organisation:housing: this release knows up to"
        f" migration {known}; the database is at migration {newer}: upgrade Caseweave"
    )
    assert "Traceback" not in run.stdout
    status = caseweave("migrations", "status", bootstrap=None, **env)
    assert status.returncode == 1
    rows = {line.split()[0]: line.split(maxsplit=3)[1:] for line in status.stdout.splitlines()}
    assert rows["organisation:housing"][:2] == [str(newer), str(known)]
    assert "upgrade Caseweave" in rows["organisation:housing"][2]
    assert rows["projection:projection"] == [
        "0", "4", "1 baseline, 2 retractions, 3 registration_addresses, 4 pair_models",
    ]  # fmt: skip
    assert rows["auth:caseweave_auth"] == ["1", "1", "-"]
