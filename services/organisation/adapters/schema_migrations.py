"""The migrations of an organisation's schema: its event store (streams, outbox and log),
idempotency keys, the referral inbox's positions, dead letters and parked events, the
people lookup, the worklists, and the webhooks out to deliver. A schema change is a new
migration at the end of the list."""

from services.organisation.adapters.people_table import people_ddl
from services.organisation.adapters.webhook_deliveries import webhook_deliveries_ddl
from services.organisation.adapters.worklist_tables import worklist_ddl
from services.runtime.checkpoints import checkpoints_ddl
from services.runtime.event_store_schema import checked_schema, event_store_ddl
from services.runtime.kafka.dead_letters import dead_letter_dispositions_ddl, dead_letters_ddl
from services.runtime.kafka.offsets import kafka_offsets_ddl
from services.runtime.migrations import Migration, SchemaSet
from services.runtime.parked_events import parked_events_ddl


def organisation_migrations(schema: str) -> SchemaSet:
    """Return the migrations of organisation schema `schema`."""
    s = checked_schema(schema)
    return SchemaSet(
        name=f"organisation:{s}",
        migrations=(
            Migration(version=1, name="baseline", statements=_baseline(s)),
            Migration(version=2, name="worklists", statements=worklist_ddl(s)),
            Migration(version=3, name="webhooks out", statements=webhook_deliveries_ddl(s)),
        ),
        lock_name=f"caseweave_{s}",  # the lock the releases before migrations took
    )


def _baseline(s: str) -> tuple[str, ...]:
    """The idempotent DDL of the releases before migrations: never edited."""
    return (
        *event_store_ddl(s),
        checkpoints_ddl(s),
        kafka_offsets_ddl(s),  # the Kafka-mode referral inbox's offsets and dead letters
        dead_letters_ddl(s),
        dead_letter_dispositions_ddl(s),
        parked_events_ddl(s),  # the embedded inbox's referrals this release cannot read
        *people_ddl(s),
    )
