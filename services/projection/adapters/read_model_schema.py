"""The projection's tables, in its own schema: citizens, person links, timeline, checkpoints.

- `citizens`: one row per citizen, the single view as jsonb, and the identity columns that
  search uses (from the view's best-known identity).
- `person_links`: which citizen each organisation's person is; what identity resolution decided.
- `timeline`: every event once (keyed by organisation and `event_id`: a redelivered event is
  a no-op, and one organisation cannot shadow another's event by reusing its id),
  stored against the organisation's own person reference and joined to citizens through
  `person_links`, so re-linking a person never rewrites it. `arrival` numbers events in the
  order the projection received them, which within one organisation is its log order.
- `checkpoints`: the consumer's position in each organisation's log (the shape
  `services.runtime.checkpoints.Checkpoints` expects), written in the same transaction.
- `registrations`, `blocking_keys`, `match_pairs`: each record's latest details, the keys
  its candidates are looked up by, and its scored candidate pairs (`match_store`).
- `<schema>_decisions`: the data stewards' identity decisions, the projection's own events
  (`decision_store`); `<schema>_audit`: who read which citizen's data (`access_log`) and
  break-glass grants. A rebuild never touches either.
- `kafka_offsets`, `dead_letters`: in Kafka mode, the next unapplied offset of each topic
  partition and the poison messages set aside, written in the batch's transaction too;
  `dead_letter_dispositions`: what operators did with those (`caseweave dead-letters`).
- `parked_events`: events in the timeline that this release could not read, so not folded
  (`services/runtime/parked_events.py`). A rebuild carries the dead letters, their
  dispositions and the parked events into the version it builds (`read_model_versions`).

They change by migrations (`projection_migrations`, `services/runtime/migrations.py`); a
rebuild builds its version with every migration applied (`rebuilt_tables_ddl`).
"""

from services.projection.adapters.access_log import access_log_ddl, audit_schema_of
from services.projection.adapters.break_glass import break_glass_ddl
from services.projection.adapters.decision_store import decision_store_ddl, decisions_schema_of
from services.projection.adapters.match_store import (
    match_store_ddl,
    pair_models_ddl,
    registration_addresses_ddl,
)
from services.projection.adapters.relationship_starts import relationship_starts_index
from services.runtime.api_keys import auth_migrations
from services.runtime.checkpoints import checkpoints_ddl
from services.runtime.database import Pool
from services.runtime.event_store_schema import checked_schema
from services.runtime.kafka.dead_letters import dead_letter_dispositions_ddl, dead_letters_ddl
from services.runtime.kafka.offsets import kafka_offsets_ddl
from services.runtime.migrations import Migration, SchemaSet, apply_migrations
from services.runtime.parked_events import parked_events_ddl
from services.runtime.person_keys import person_keys_migrations

CONSUMER = "projection"


async def prepare_read_model(pool: Pool, schema: str) -> None:
    """Bring the projection's tables (and the API key and person key tables) to this
    release's migrations; SchemaAhead if the database is newer than this release."""
    for tables in (auth_migrations(), person_keys_migrations(), projection_migrations(schema)):
        await apply_migrations(pool, tables)


def projection_migrations(schema: str) -> SchemaSet:
    """Return the migrations of projection schema `schema`; a change is a new one at the end."""
    baseline = Migration(version=1, name="baseline", statements=tuple(read_model_ddl(schema)))
    retractions = Migration(version=2, name="retractions", statements=retractions_ddl(schema))
    addresses = Migration(
        version=3, name="registration_addresses", statements=registration_addresses_ddl(schema)
    )
    pair_models = Migration(version=4, name="pair_models", statements=pair_models_ddl(schema))
    return SchemaSet(
        name=f"projection:{schema}",
        migrations=(baseline, retractions, addresses, pair_models),
        lock_name=f"projection:{schema}",  # the lock the releases before migrations took
    )


def rebuilt_tables_ddl(schema: str) -> list[str]:
    """Return the DDL of this release's rebuilt tables in `schema`, every migration applied:
    what a new version of the read model is made of (`caseweave replay projection` builds
    one beside the live one). A new migration of these tables adds its statements here."""
    return [
        *read_model_tables_ddl(schema),
        *retractions_ddl(schema),
        *registration_addresses_ddl(schema),
        *pair_models_ddl(schema),
    ]


def retractions_ddl(schema: str) -> tuple[str, ...]:
    """Return the DDL finding an event's retraction (`event.entered_in_error`) by the event it
    names: the timeline marks retracted events, and folds leave them out."""
    s = checked_schema(schema)
    return (
        f"CREATE INDEX IF NOT EXISTS timeline_retractions ON {s}.timeline"
        " (org, (envelope->'data'->>'retracted_event_id'))"
        " WHERE type = 'event.entered_in_error'",
    )


def read_model_ddl(schema: str) -> list[str]:
    """Return the idempotent DDL of the projection's read model in `schema`, with the
    decisions and audit schemas beside it that a rebuild keeps.

    The baseline migration, so never edited: a change is a new migration.
    """
    return [
        *read_model_tables_ddl(schema),
        *decision_store_ddl(decisions_schema_of(schema)),
        *access_log_ddl(audit_schema_of(schema)),
        *break_glass_ddl(audit_schema_of(schema)),
    ]


def read_model_tables_ddl(schema: str) -> list[str]:
    """Return the idempotent DDL of the tables a rebuild builds afresh, all in `schema`
    (a new version of the read model is made of these: `read_model_versions`).

    Part of the baseline migration, so never edited: a change is a new migration, which
    `rebuilt_tables_ddl` must then include.
    """
    s = checked_schema(schema)
    return [
        f"CREATE SCHEMA IF NOT EXISTS {s}",
        f"""
        CREATE TABLE IF NOT EXISTS {s}.citizens (
            citizen_id uuid PRIMARY KEY,
            nhs_number text,
            family_name text,
            given_name text,
            date_of_birth date,
            view jsonb NOT NULL,
            updated_at timestamptz NOT NULL DEFAULT now()
        ) WITH (fillfactor = 70)""",  # room on each page: rewriting a view is then a HOT update
        f"""CREATE INDEX IF NOT EXISTS citizens_by_nhs_number ON {s}.citizens (nhs_number)
        WHERE nhs_number IS NOT NULL""",
        f"""CREATE INDEX IF NOT EXISTS citizens_by_name_and_birth
        ON {s}.citizens (lower(family_name), date_of_birth)""",
        f"CREATE INDEX IF NOT EXISTS citizens_by_birth ON {s}.citizens (date_of_birth)",
        f"""
        CREATE TABLE IF NOT EXISTS {s}.person_links (
            org text NOT NULL,
            person_id text NOT NULL,
            citizen_id uuid NOT NULL,
            linked_at timestamptz NOT NULL DEFAULT now(),
            PRIMARY KEY (org, person_id)
        )""",
        f"CREATE INDEX IF NOT EXISTS person_links_by_citizen ON {s}.person_links (citizen_id)",
        f"""
        CREATE TABLE IF NOT EXISTS {s}.timeline (
            event_id uuid NOT NULL,
            arrival bigint GENERATED ALWAYS AS IDENTITY,
            org text NOT NULL,
            subject text NOT NULL,
            occurred_at timestamptz NOT NULL,
            recorded_at timestamptz NOT NULL,
            type text NOT NULL,
            category text NOT NULL,
            envelope jsonb NOT NULL,
            PRIMARY KEY (org, event_id)  -- ids are unique per organisation's store, not across
        )""",
        f"""CREATE INDEX IF NOT EXISTS timeline_by_person
        ON {s}.timeline (org, subject, occurred_at, recorded_at, event_id)""",
        relationship_starts_index(s),
        *match_store_ddl(s),
        checkpoints_ddl(s),
        kafka_offsets_ddl(s),
        dead_letters_ddl(s),
        dead_letter_dispositions_ddl(s),
        parked_events_ddl(s),
    ]
