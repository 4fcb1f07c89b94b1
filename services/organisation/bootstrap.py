"""Wire an organisation's service: pool, tables, stores, routers, the referral inbox and the
worklists' consumer."""

from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from functools import partial

from fastapi import FastAPI

from events.envelope import ORGANISATIONS, OrgId
from services.identity_matching.matching import MatchingConfig
from services.organisation.adapters.postgres_unit_of_work import PostgresUnitOfWork, Stores
from services.organisation.adapters.schema_migrations import organisation_migrations
from services.organisation.adapters.sources_file import load_sources
from services.organisation.domain.case_vocabulary import recordable_types
from services.organisation.domain.inbound_mapping import Source
from services.organisation.entrypoints.adapter_metrics import adapter_backlog_sampled
from services.organisation.entrypoints.http import cases, consent, inbound, people, referrals
from services.organisation.entrypoints.http.openapi import refine_for
from services.organisation.entrypoints.kafka_referral_inbox import kafka_referral_inbox_running
from services.organisation.entrypoints.kafka_relay import kafka_relay_running
from services.organisation.entrypoints.referral_inbox import referral_inbox_running
from services.organisation.entrypoints.webhooks_out import webhooks_sending
from services.organisation.entrypoints.worklist_updater import worklists_updating
from services.runtime.api_keys import ApiKeyStore, auth_migrations
from services.runtime.database import Pool, create_pool
from services.runtime.dev_secrets import person_keys
from services.runtime.event_log import EventLog
from services.runtime.http.app_factory import Lifespan, create_service_app
from services.runtime.http.openapi_contract import published_openapi
from services.runtime.matching_config import load_matching_config
from services.runtime.migrations import apply_migrations
from services.runtime.person_keys import PersonKeys, person_keys_migrations
from services.runtime.settings import Settings
from services.runtime.verified_keys import VerifiedKeys

TITLES: dict[OrgId, str] = {
    "housing": "Caseweave housing service",
    "mental_health": "Caseweave mental health service",
    "voluntary": "Caseweave voluntary sector service",
}


def create_organisation_app(
    *,
    org: OrgId,
    database_url: str,
    schemas: Mapping[OrgId, str] | None = None,
    pool_size: int = 10,
    kafka_bootstrap_servers: str | None = None,
    keys: PersonKeys | None = None,
    matching: MatchingConfig | None = None,
    sources: Mapping[str, Source] | None = None,
) -> FastAPI:
    """Return the HTTP app of `org`'s service; `schemas` names each organisation's schema.

    With `kafka_bootstrap_servers`, the service also relays its log to its Kafka topic.
    With `keys`, personal values in its events are sealed with each person's key. `matching`
    holds the places' thresholds (the projection's) for finding a referred person among the
    organisation's own records.
    """
    placed: dict[OrgId, str] = {**{o: o for o in ORGANISATIONS}, **(schemas or {})}
    app = create_service_app(
        title=TITLES[org],
        service_name=org,
        description=_description(org),
        lifespan=_lifespan(
            org=org,
            database_url=database_url,
            schemas=placed,
            pool_size=pool_size,
            kafka_bootstrap_servers=kafka_bootstrap_servers,
            keys=keys,
            matching=matching,
        ),
    )
    app.state.org = org
    app.openapi = published_openapi(app, refine=refine_for(org))  # type: ignore[method-assign]
    app.state.sources = {name: s for name, s in (sources or {}).items() if s.org == org}
    for router in (people.router, consent.router, cases.router, referrals.router, inbound.router):
        app.include_router(router)
    return app


def organisation_app_from_settings(org: OrgId, settings: Settings) -> FastAPI:
    """Return `org`'s service app as the process settings configure it."""
    if settings.database_url is None:
        raise ValueError("an organisation service needs CASEWEAVE_DATABASE_URL")
    kafka = settings.kafka_transport_servers()
    return create_organisation_app(
        org=org,
        database_url=settings.database_url,
        pool_size=settings.pool_size,
        kafka_bootstrap_servers=kafka,
        keys=person_keys(settings),
        matching=load_matching_config(settings.matching_file),
        sources=load_sources(settings.sources_file),
    )


def _lifespan(
    *,
    org: OrgId,
    database_url: str,
    schemas: Mapping[OrgId, str],
    pool_size: int,
    kafka_bootstrap_servers: str | None,
    keys: PersonKeys | None,
    matching: MatchingConfig | None,
) -> Lifespan:
    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        pool = await create_pool(database_url, max_size=pool_size)
        try:
            await prepare_database(pool, schema=schemas[org])
            stores = Stores.in_schema(org, schemas[org], keys=keys, matching=matching)
            _attach(app, pool, stores)
            async with (
                kafka_relay_running(
                    pool, org=org, schema=schemas[org], bootstrap_servers=kafka_bootstrap_servers
                ) as relay,
                _inbox_running(pool, stores, schemas, kafka_bootstrap_servers) as inbox,
                worklists_updating(pool, stores, schema=schemas[org]) as worklists,
                webhooks_sending(pool, stores, app.state.sources, schema=schemas[org]),
            ):
                app.state.referral_inbox, app.state.referral_sources = inbox
                app.state.worklist_updater, app.state.own_log = worklists
                app.state.kafka_relay = relay
                with adapter_backlog_sampled(
                    pool, org=org, schema=schemas[org], sources=len(app.state.sources)
                ):
                    yield
        finally:
            if hasattr(app.state, "api_keys"):
                await app.state.api_keys.close()
            await pool.close()

    return lifespan


@asynccontextmanager
async def _inbox_running(
    pool: Pool, stores: Stores, schemas: Mapping[OrgId, str], kafka_bootstrap_servers: str | None
) -> AsyncIterator[tuple[object, list[EventLog]]]:
    """Run the referral inbox on the other organisations' Kafka topics, else on their logs."""
    if kafka_bootstrap_servers is None:
        async with referral_inbox_running(pool, stores, schemas=schemas) as running:
            yield running
        return
    async with kafka_referral_inbox_running(
        pool, stores, schema=schemas[stores.org], bootstrap_servers=kafka_bootstrap_servers
    ) as inbox:
        yield inbox, []


async def prepare_database(pool: Pool, *, schema: str) -> None:
    """Bring the API key and person key tables and the organisation's schema to this
    release's migrations; SchemaAhead if the database is newer than this release."""
    for tables in (auth_migrations(), person_keys_migrations(), organisation_migrations(schema)):
        await apply_migrations(pool, tables)


def _attach(app: FastAPI, pool: Pool, stores: Stores) -> None:
    app.state.pool = pool
    app.state.api_keys = VerifiedKeys(ApiKeyStore(pool), pool)
    app.state.stores = stores
    app.state.unit_of_work = partial(PostgresUnitOfWork, pool, stores)  # one per request


def _description(org: OrgId) -> str:
    types = "\n".join(f"- `{name}`" for name in recordable_types(org))
    return (
        "Register people, open and close cases, record events and exchange referrals.\n\n"
        "Every call needs `Authorization: Bearer <API key>`; writes need a key of this "
        "organisation. Errors name the field and the rule broken.\n\n"
        f"Event types recorded on cases here:\n{types}\n"
    )
