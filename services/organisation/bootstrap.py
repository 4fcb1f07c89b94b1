"""Wire a sector's service: pool, each served organisation's tables, stores and consumers (the
referral inbox, the worklists, webhooks out), and the routers."""

from collections.abc import AsyncIterator, Mapping
from contextlib import AsyncExitStack, asynccontextmanager
from dataclasses import dataclass, field
from functools import partial

from fastapi import FastAPI

from events.envelope import OrgId
from events.organisations import DEFAULT_ORGANISATIONS, Organisations, Sector
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
from services.runtime.kafka.topics import others_topics
from services.runtime.matching_config import load_matching_config
from services.runtime.migrations import apply_migrations
from services.runtime.organisations_file import load_organisations
from services.runtime.person_keys import PersonKeys, person_keys_migrations
from services.runtime.settings import Settings
from services.runtime.verified_keys import VerifiedKeys

TITLES: dict[Sector, str] = {
    "housing": "Caseweave housing service",
    "mental_health": "Caseweave mental health service",
    "voluntary": "Caseweave voluntary sector service",
}


class SectorWithoutOrganisations(ValueError):
    """The place has no organisation of the sector whose service was asked for."""


@dataclass
class ServedOrganisation:
    """What the service runs for one organisation of its sector: its stores and consumers."""

    org: OrgId
    stores: Stores
    referral_inbox: object = None
    referral_sources: list[EventLog] = field(default_factory=list)
    worklist_updater: object = None
    own_log: object = None
    kafka_relay: object = None


def create_sector_app(
    *,
    sector: Sector,
    database_url: str,
    organisations: Organisations = DEFAULT_ORGANISATIONS,
    schemas: Mapping[OrgId, str] | None = None,
    pool_size: int = 10,
    kafka_bootstrap_servers: str | None = None,
    keys: PersonKeys | None = None,
    matching: MatchingConfig | None = None,
    sources: Mapping[str, Source] | None = None,
) -> FastAPI:
    """Return the HTTP app of `sector`'s service, serving every organisation of the sector in
    `organisations`; `schemas` names each organisation's schema (default: its id).

    A key of one of them works on its own organisation's stores only. With
    `kafka_bootstrap_servers`, each organisation's log is also relayed to its Kafka topic.
    With `keys`, personal values in the events are sealed with each person's key. `matching`
    holds the places' thresholds (the projection's) for finding a referred person among an
    organisation's own records.
    """
    served = organisations.of_sector(sector)
    if not served:
        raise SectorWithoutOrganisations(
            f"the place lists no organisation of the {sector} sector"
            " (CASEWEAVE_ORGANISATIONS_FILE): it has no service to run"
        )
    placed: dict[OrgId, str] = {**{o: o for o in organisations.ids}, **(schemas or {})}
    app = create_service_app(
        title=TITLES[sector],
        service_name=sector,
        description=_description(sector, organisations),
        lifespan=_lifespan(
            sector=sector,
            database_url=database_url,
            schemas=placed,
            pool_size=pool_size + _listeners(len(served), len(placed)),
            kafka_bootstrap_servers=kafka_bootstrap_servers,
            keys=keys,
            matching=matching,
        ),
    )
    app.state.sector = sector
    app.state.orgs = served
    app.state.organisations = organisations
    app.openapi = published_openapi(  # type: ignore[method-assign]
        app, refine=refine_for(sector, organisations)
    )
    app.state.sources = {n: s for n, s in (sources or {}).items() if s.org in served}
    for router in (people.router, consent.router, cases.router, referrals.router, inbound.router):
        app.include_router(router)
    return app


def _listeners(served: int, place: int) -> int:
    """Return how many pooled connections the consumers hold listening to logs: each served
    organisation's inbox on every other organisation's log, its worklists and webhooks out on
    its own, and the API key changes."""
    return served * (place - 1 + 2) + 1


def sector_app_from_settings(sector: Sector, settings: Settings) -> FastAPI:
    """Return `sector`'s service app as the process settings configure it."""
    if settings.database_url is None:
        raise ValueError("an organisation service needs CASEWEAVE_DATABASE_URL")
    kafka = settings.kafka_transport_servers()
    organisations = load_organisations(settings.organisations_file)
    return create_sector_app(
        sector=sector,
        organisations=organisations,
        database_url=settings.database_url,
        pool_size=settings.pool_size,
        kafka_bootstrap_servers=kafka,
        keys=person_keys(settings),
        matching=load_matching_config(settings.matching_file),
        sources=load_sources(settings.sources_file, organisations),
    )


def _lifespan(
    *,
    sector: Sector,
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
            app.state.pool = pool
            app.state.api_keys = VerifiedKeys(ApiKeyStore(pool), pool)
            async with AsyncExitStack() as running:
                app.state.served = {}
                for org in app.state.orgs:
                    stores = Stores.in_schema(
                        org, schemas[org], sector=sector, keys=keys, matching=matching
                    )
                    app.state.served[org] = await running.enter_async_context(
                        _serving(app, pool, stores, schemas, kafka_bootstrap_servers)
                    )
                app.state.units_of_work = {
                    org: partial(PostgresUnitOfWork, pool, served.stores)  # one per request
                    for org, served in app.state.served.items()
                }
                yield
        finally:
            if hasattr(app.state, "api_keys"):
                await app.state.api_keys.close()
            await pool.close()

    return lifespan


@asynccontextmanager
async def _serving(
    app: FastAPI,
    pool: Pool,
    stores: Stores,
    schemas: Mapping[OrgId, str],
    kafka_bootstrap_servers: str | None,
) -> AsyncIterator[ServedOrganisation]:
    """Bring one organisation's schema up to date and run its consumers while the block runs:
    the relay to Kafka, the referral inbox, the worklists, webhooks out, the backlog gauges."""
    org, schema = stores.org, schemas[stores.org]
    await prepare_database(pool, schema=schema)
    sources = {n: s for n, s in app.state.sources.items() if s.org == org}
    async with (
        kafka_relay_running(
            pool, org=org, schema=schema, bootstrap_servers=kafka_bootstrap_servers
        ) as relay,
        _inbox_running(pool, stores, schemas, kafka_bootstrap_servers) as inbox,
        worklists_updating(pool, stores, schema=schema) as worklists,
        webhooks_sending(pool, stores, sources, schema=schema),
    ):
        with adapter_backlog_sampled(pool, org=org, schema=schema, sources=len(sources)):
            yield ServedOrganisation(
                org, stores, referral_inbox=inbox[0], referral_sources=inbox[1],
                worklist_updater=worklists[0], own_log=worklists[1], kafka_relay=relay,
            )  # fmt: skip


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
        pool, stores, schema=schemas[stores.org], bootstrap_servers=kafka_bootstrap_servers,
        topics=others_topics(schemas, stores.org),
    ) as inbox:  # fmt: skip
        yield inbox, []


async def prepare_database(pool: Pool, *, schema: str) -> None:
    """Bring the API key and person key tables and the organisation's schema to this
    release's migrations; SchemaAhead if the database is newer than this release."""
    for tables in (auth_migrations(), person_keys_migrations(), organisation_migrations(schema)):
        await apply_migrations(pool, tables)


def _description(sector: Sector, organisations: Organisations) -> str:
    types = "\n".join(f"- `{name}`" for name in recordable_types(sector))
    served = "\n".join(
        f"- `{o.id}`: {o.name}" for o in organisations.organisations if o.sector == sector
    )
    return (
        "Register people, open and close cases, record events and exchange referrals.\n\n"
        "Every call needs `Authorization: Bearer <API key>`; a key works on its own"
        " organisation's records only. Errors name the field and the rule broken.\n\n"
        f"Organisations served here:\n{served}\n\n"
        f"Event types recorded on cases here:\n{types}\n"
    )
