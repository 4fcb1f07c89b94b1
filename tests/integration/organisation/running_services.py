"""The sector services running in this test process, with a client and a key per organisation."""

import asyncio
import secrets
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from contextlib import AsyncExitStack, asynccontextmanager
from dataclasses import dataclass
from typing import Any, TypeVar

import httpx
from fastapi import FastAPI

from events.envelope import OrgId
from events.identifiers import nhs_number_check_digit
from events.organisations import DEFAULT_ORGANISATIONS, Organisations
from services.organisation.bootstrap import ServedOrganisation, create_sector_app
from services.organisation.domain.inbound_mapping import Source
from services.organisation.service_layer.unit_of_work import UnitOfWork
from services.runtime.api_keys import ApiKeyStore
from services.runtime.database import Pool
from services.runtime.http.app_factory import configure_http_limits
from services.runtime.rate_limits import HttpLimits

T = TypeVar("T")
KEY_WORKER = {"name": "Sam Okafor", "role": "Key worker", "email": "sam.okafor@example.org"}


@dataclass
class RunningService:
    """One organisation's service: its app, a client on it, its schema and a frontline key."""

    org: OrgId
    app: FastAPI
    client: httpx.AsyncClient
    schema: str
    key: str
    pool: Pool

    @property
    def served(self) -> ServedOrganisation:
        """What its sector's service runs for this organisation: stores, inbox, consumers."""
        served: ServedOrganisation = self.app.state.served[self.org]
        return served

    @property
    def unit_of_work(self) -> Callable[[], UnitOfWork]:
        """Return units of work over this organisation's stores (as its requests get)."""
        units: dict[OrgId, Callable[[], UnitOfWork]] = self.app.state.units_of_work
        return units[self.org]

    async def post(
        self, path: str, json: Any = None, *, key: str | None = None, **headers: str
    ) -> httpx.Response:
        """POST as this organisation (or with another key)."""
        auth = {"Authorization": f"Bearer {key or self.key}"}
        return await self.client.post(path, json=json, headers={**auth, **headers})

    async def patch(self, path: str, json: Any = None, *, key: str | None = None) -> httpx.Response:
        """PATCH as this organisation (or with another key)."""
        auth = {"Authorization": f"Bearer {key or self.key}"}
        return await self.client.patch(path, json=json, headers=auth)

    async def get(self, path: str, *, key: str | None = None) -> httpx.Response:
        """GET as this organisation (or with another key)."""
        return await self.client.get(path, headers={"Authorization": f"Bearer {key or self.key}"})

    async def count_events(
        self, stream_id: str | None = None, *, of_type: str | None = None
    ) -> int:
        """Return how many events this service's store holds (in one stream, of one type)."""
        count: int = await self.pool.fetchval(
            f"SELECT count(*) FROM {self.schema}.events"  # noqa: S608 - schema made by the test
            " WHERE ($1::text IS NULL OR stream_id = $1) AND ($2::text IS NULL OR type = $2)",
            stream_id,
            of_type,
        )
        return count


async def eventually(check: Callable[[], Awaitable[T | None]], *, within_seconds: float = 5.0) -> T:
    """Return the first result of `check` that is not None, asking again until time runs out."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + within_seconds
    while (result := await check()) is None:
        if loop.time() > deadline:
            raise AssertionError(f"not so within {within_seconds} s")
        await asyncio.sleep(0.02)
    return result


async def referral_once(
    service: "RunningService", referral_id: str, holds: Callable[[dict[str, Any]], bool]
) -> dict[str, Any]:
    """Return the service's side of the referral once `holds` says so (inboxes follow logs)."""

    async def read() -> dict[str, Any] | None:
        answer = await service.get(f"/v1/referrals/{referral_id}")
        assert answer.status_code == 200, answer.text
        body: dict[str, Any] = answer.json()
        return body if holds(body) else None

    return await eventually(read)


def a_fresh_nhs_number() -> str:
    """Return a valid NHS number no other test is likely to use (test range 999...)."""
    while True:
        first_nine = f"999{secrets.randbelow(10**6):06d}"
        check = nhs_number_check_digit(first_nine)
        if check is not None:
            return f"{first_nine}{check}"


def unique_schemas(organisations: Organisations = DEFAULT_ORGANISATIONS) -> dict[OrgId, str]:
    """Return a schema per organisation that no other test module uses."""
    suffix = uuid.uuid4().hex[:10]
    return {org: f"{org}_{suffix}" for org in organisations.ids}


@asynccontextmanager
async def running_services(
    database_url: str,
    pool: Pool,
    *,
    kafka_bootstrap_servers: str | None = None,
    sources: Mapping[str, Source] | None = None,
    organisations: Organisations = DEFAULT_ORGANISATIONS,
) -> AsyncIterator[dict[OrgId, RunningService]]:
    """Start each sector's service (lifespan included) on fresh schemas, one per organisation
    of `organisations`; stop them after. Each organisation gets a frontline key, and a client
    on its sector's service.

    With `kafka_bootstrap_servers`, in Kafka mode (the topics must exist).
    """
    schemas = unique_schemas(organisations)
    async with AsyncExitStack() as stack:
        services: dict[OrgId, RunningService] = {}
        for sector in organisations.sectors:
            app = create_sector_app(
                sector=sector,
                organisations=organisations,
                database_url=database_url,
                schemas=schemas,
                # the listeners' connections are added to this: two for each batch of an
                # inbox or the worklists (its transaction, and its read of a log), and tests
                # run a second inbox consumer beside the service's own
                pool_size=6,
                kafka_bootstrap_servers=kafka_bootstrap_servers,
                sources=sources,
            )
            # a module's tests share one key per organisation: its rate limit would refuse
            # them, not the rules under test (rate limits have tests of their own)
            configure_http_limits(app, HttpLimits(rate_per_minute=1_000_000, rate_burst=100_000))
            await stack.enter_async_context(app.router.lifespan_context(app))
            client = httpx.AsyncClient(
                transport=httpx.ASGITransport(app=app), base_url=f"http://{sector}.test"
            )
            await stack.enter_async_context(client)
            for org in organisations.of_sector(sector):
                key = await ApiKeyStore(pool).issue(org=org, role="frontline")
                services[org] = RunningService(org, app, client, schemas[org], key, pool)
        yield services
