"""Migration lists as a developer writes them: numbered 1 to N in order, or refused."""

import pytest

from events.organisations import DEFAULT_ORGANISATIONS
from services.cli.migrations import SchemaStatus, release_schema_sets, status_line
from services.runtime.migrations import Migration, MigrationsOutOfOrder, SchemaAhead, SchemaSet


def _numbered(*versions: int) -> tuple[Migration, ...]:
    return tuple(Migration(v, f"change {v}", ("SELECT 1",)) for v in versions)


@pytest.mark.parametrize("versions", [(2,), (1, 3), (2, 1), (1, 1), (0, 1)])
def test_a_gap_a_repeat_or_a_wrong_order_is_refused_naming_the_set(
    versions: tuple[int, ...],
) -> None:
    with pytest.raises(MigrationsOutOfOrder) as refused:
        SchemaSet("notes", _numbered(*versions))
    assert str(refused.value) == (
        f"schema set notes: migrations must be numbered 1 to {len(versions)} in order;"
        f" found {list(versions)}"
    )


def test_migrations_numbered_in_order_make_a_set_at_the_last_version() -> None:
    tables = SchemaSet("notes", _numbered(1, 2, 3))
    assert tables.version == 3
    assert tables.lock == "notes"
    assert SchemaSet("notes", _numbered(1), lock_name="old").lock == "old"


def test_every_schema_set_of_this_release_starts_with_its_baseline() -> None:
    sets = release_schema_sets(DEFAULT_ORGANISATIONS)
    assert len({tables.name for tables in sets}) == len(sets)
    assert all(tables.migrations[0].name == "baseline" for tables in sets)


def test_a_newer_database_is_refused_in_one_line_saying_what_to_do() -> None:
    message = str(SchemaAhead("projection:projection", database=3, release=2))
    assert message == (
        "schema set projection:projection: this release knows up to migration 2;"
        " the database is at migration 3: upgrade Caseweave"
    )
    assert "\n" not in message


def test_the_status_names_pending_migrations_or_says_the_database_is_newer() -> None:
    assert status_line(SchemaStatus("auth:a", 0, 2, ("1 baseline", "2 x"))).endswith(
        "1 baseline, 2 x"
    )
    assert status_line(SchemaStatus("auth:a", 2, 2, ())).endswith("  -")
    assert status_line(SchemaStatus("auth:a", 3, 2, ())).endswith("upgrade Caseweave")
