"""The tables of one service's event store: its streams, which are also its outbox and log.

One table holds every event. A row is a stream entry (`stream_id`, `stream_version`, unique
together: optimistic concurrency) and, in the same insert and so the same transaction, an
entry in the service's outgoing log (`position`, `transaction_id`): the outbox the transports
read. Nothing can be appended without being published, or published without being appended.
"""

import re

_SCHEMA_NAME = re.compile(r"^[a-z_][a-z0-9_]{0,40}$")


def checked_schema(name: str) -> str:
    """Return `name` if it is safe to use as a PostgreSQL schema identifier."""
    if not _SCHEMA_NAME.match(name):
        raise ValueError(f"not a valid schema name: {name!r}")
    return name


def notify_channel(schema: str) -> str:
    """Return the LISTEN/NOTIFY channel woken when `schema`'s log grows."""
    return f"caseweave_log_{checked_schema(schema)}"


def event_store_ddl(schema: str) -> list[str]:
    """Return the idempotent DDL that creates an event store in `schema`.

    Part of a baseline migration, so never edited: a change is a new migration.
    """
    s = checked_schema(schema)
    channel = notify_channel(s)
    return [
        f"CREATE SCHEMA IF NOT EXISTS {s}",
        f"""
        CREATE TABLE IF NOT EXISTS {s}.events (
            position bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
            transaction_id bigint NOT NULL DEFAULT (pg_current_xact_id()::text::bigint),
            stream_id text NOT NULL,
            stream_version integer NOT NULL CHECK (stream_version > 0),
            event_id uuid NOT NULL UNIQUE,
            type text NOT NULL,
            schema_version integer NOT NULL,
            occurred_at timestamptz NOT NULL,
            recorded_at timestamptz NOT NULL,
            org text NOT NULL,
            subject text NOT NULL,
            place text NOT NULL,
            category text NOT NULL,
            correlation_id text NOT NULL,
            causation_id text,
            actor text NOT NULL,
            data jsonb NOT NULL,
            UNIQUE (stream_id, stream_version)
        )""",
        f"CREATE INDEX IF NOT EXISTS events_log_order ON {s}.events (transaction_id, position)",
        f"""
        CREATE OR REPLACE FUNCTION {s}.notify_log_grew() RETURNS trigger
        LANGUAGE plpgsql AS $$
        BEGIN
            PERFORM pg_notify('{channel}', '');
            RETURN NULL;
        END $$""",
        f"""
        CREATE OR REPLACE TRIGGER log_grew AFTER INSERT ON {s}.events
        FOR EACH STATEMENT EXECUTE FUNCTION {s}.notify_log_grew()""",
        f"""
        CREATE TABLE IF NOT EXISTS {s}.idempotency_keys (
            scope text NOT NULL,
            key text NOT NULL,
            request_fingerprint text NOT NULL,
            response_status integer,
            response_body jsonb,
            created_at timestamptz NOT NULL DEFAULT now(),
            PRIMARY KEY (scope, key)
        )""",
    ]
