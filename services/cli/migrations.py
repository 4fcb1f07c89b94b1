"""`caseweave migrations status`: where each schema set stands against this release."""

from dataclasses import dataclass

from events.organisations import Organisations
from services.organisation.adapters.schema_migrations import organisation_migrations
from services.projection.adapters.read_model_schema import projection_migrations
from services.runtime.api_keys import auth_migrations
from services.runtime.database import Pool, create_pool
from services.runtime.migrations import SchemaSet, database_version
from services.runtime.person_keys import person_keys_migrations


@dataclass(frozen=True)
class SchemaStatus:
    """One schema set: the database's last migration, this release's, and those pending."""

    schema_set: str
    database: int
    release: int
    pending: tuple[str, ...]

    @property
    def current(self) -> bool:
        """Return whether the database is at exactly this release's migration."""
        return self.database == self.release


def release_schema_sets(organisations: Organisations) -> list[SchemaSet]:
    """Return every schema set this release migrates, in the schemas `caseweave up` uses
    (one per organisation of the place)."""
    organisations_sets = [organisation_migrations(org) for org in organisations.ids]
    return [
        auth_migrations(),
        person_keys_migrations(),
        *organisations_sets,
        projection_migrations("projection"),
    ]


async def schema_status(pool: Pool, schema_set: SchemaSet) -> SchemaStatus:
    """Return where `schema_set` stands in the database, changing nothing."""
    async with pool.acquire() as conn:
        applied = await database_version(conn, schema_set.name)
    pending = tuple(f"{m.version} {m.name}" for m in schema_set.migrations[applied:])
    return SchemaStatus(schema_set.name, applied, schema_set.version, pending)


def status_line(status: SchemaStatus) -> str:
    """Return one row of the status table."""
    if status.database > status.release:
        to_do = "database is newer than this release: upgrade Caseweave"
    else:
        to_do = ", ".join(status.pending) or "-"
    return f"{status.schema_set:<28} {status.database:>8} {status.release:>7}  {to_do}"


async def run(database_url: str, organisations: Organisations) -> int:
    """Print every schema set's status; exit 0 only if each is at this release's migration."""
    pool = await create_pool(database_url, max_size=1)
    try:
        statuses = [
            await schema_status(pool, tables) for tables in release_schema_sets(organisations)
        ]
    finally:
        await pool.close()
    print(f"{'schema set':<28} {'database':>8} {'release':>7}  pending")
    for status in statuses:
        print(status_line(status))
    return 0 if all(status.current for status in statuses) else 1
