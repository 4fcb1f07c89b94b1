"""Wire the dead-letter stores and the consumers that apply dead letters again."""

import contextlib
from collections.abc import AsyncIterator, Mapping

from events.envelope import OrgId
from events.organisations import DEFAULT_ORGANISATIONS, Organisations
from services.dead_letters.adapters.kafka_topic import KafkaDeadLetters
from services.dead_letters.adapters.parked_rows import ParkedEventRows
from services.dead_letters.adapters.settlement import Consumer
from services.dead_letters.service_layer import DeadLetterStore
from services.identity_matching.matching import MatchingConfig
from services.organisation.adapters.postgres_unit_of_work import Stores
from services.organisation.entrypoints.inbox_redrive import InboxRedrive
from services.organisation.entrypoints.referral_inbox import CONSUMER as INBOX
from services.projection.adapters.read_model_schema import CONSUMER as PROJECTION
from services.projection.domain.fold import BatchFold, fold
from services.projection.service_layer.log_projection import DEFAULT_MATCHING
from services.projection.service_layer.redrive import ProjectionRedrive
from services.runtime.database import Pool, create_pool
from services.runtime.dev_secrets import citizen_id_secret, person_keys
from services.runtime.kafka.topics import DEAD_LETTER_TOPIC, organisation_topics
from services.runtime.matching_config import load_matching_config
from services.runtime.migrations import apply_migrations
from services.runtime.organisations_file import load_organisations
from services.runtime.person_keys import PersonKeys, person_keys_migrations
from services.runtime.settings import Settings


def consumers(
    pool: Pool,
    *,
    id_secret: bytes,
    keys: PersonKeys | None,
    matching: MatchingConfig = DEFAULT_MATCHING,
    projection_schema: str = "projection",
    organisations: Organisations = DEFAULT_ORGANISATIONS,
    org_schemas: Mapping[OrgId, str] | None = None,
    topic_orgs: Mapping[str, OrgId] | None = None,
    fold_batch: BatchFold = fold,
) -> dict[str, Consumer]:
    """Return every consumer that sets messages aside, by the name its dead letters carry:
    the projection's, and each organisation's referral inbox (of the place's
    `organisations`, each in its schema of `org_schemas`, by default its id)."""
    schemas: Mapping[OrgId, str] = {
        **{org: org for org in organisations.ids},
        **(org_schemas or {}),
    }
    projection = ProjectionRedrive(
        pool, schema=projection_schema, id_secret=id_secret, matching=matching, keys=keys,
        topic_orgs=topic_orgs or organisation_topics(schemas), fold_batch=fold_batch,
    )  # fmt: skip
    found: dict[str, Consumer] = {PROJECTION: projection}
    for org, schema in schemas.items():
        sector = organisations.sector_of(org) or "voluntary"  # (a test's schema of its own)
        stores = Stores.in_schema(org, schema, sector=sector, keys=keys, matching=matching)
        found[f"{org}_{INBOX}"] = InboxRedrive(pool, stores, schema=schema, log_schemas=schemas)
    return found


def dead_letter_stores(
    pool: Pool,
    found: Mapping[str, Consumer],
    *,
    kafka_bootstrap_servers: str | None,
    dead_letter_topic: str = DEAD_LETTER_TOPIC,
) -> list[DeadLetterStore]:
    """Return where dead letters are kept: parked rows always; the topic in Kafka mode."""
    stores: list[DeadLetterStore] = [ParkedEventRows(pool, consumers=found)]
    if kafka_bootstrap_servers is not None:
        topic = KafkaDeadLetters(
            pool, bootstrap_servers=kafka_bootstrap_servers, consumers=found,
            topic=dead_letter_topic,
        )  # fmt: skip
        stores.insert(0, topic)
    return stores


@contextlib.asynccontextmanager
async def opened_stores(
    settings: Settings,
    database_url: str,
    *,
    kafka_bootstrap_servers: str | None,
    redriving: bool,
) -> AsyncIterator[list[DeadLetterStore]]:
    """Yield the stores as the settings configure them, on a pool of their own.

    Before a redrive, the master key is checked (MasterKeyWrong): with another one, sealed
    values would not open and nothing could be applied.
    """
    keys = person_keys(settings)
    pool = await create_pool(database_url, max_size=3)
    try:
        if redriving:
            await apply_migrations(pool, person_keys_migrations())
            async with pool.acquire() as conn:
                await keys.verify(conn)
        found = consumers(
            pool, id_secret=citizen_id_secret(settings), keys=keys,
            matching=load_matching_config(settings.matching_file),
            organisations=load_organisations(settings.organisations_file),
        )  # fmt: skip
        yield dead_letter_stores(pool, found, kafka_bootstrap_servers=kafka_bootstrap_servers)
    finally:
        await pool.close()
