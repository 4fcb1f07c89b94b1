"""Fixtures for the organisation services: each sector's running, once per test module."""

from collections.abc import AsyncIterator

import pytest

from events.envelope import OrgId
from events.organisations import DEFAULT_ORGANISATIONS, Organisations
from services.organisation.domain.inbound_mapping import Source
from services.runtime.database import Pool
from tests.integration.organisation.running_services import RunningService, running_services


@pytest.fixture(scope="module")
def sources() -> dict[str, Source]:
    """The charities' systems the services take messages from: none, unless a module says."""
    return {}


@pytest.fixture(scope="module")
def organisations() -> Organisations:
    """The place's organisations: one per sector, unless a module says."""
    return DEFAULT_ORGANISATIONS


@pytest.fixture(scope="module")
async def services(
    database_url: str, pool: Pool, sources: dict[str, Source], organisations: Organisations
) -> AsyncIterator[dict[OrgId, RunningService]]:
    """Each sector's service, on schemas of this module's own, serving the module's
    `organisations` (with its `sources`), by organisation."""
    async with running_services(
        database_url, pool, sources=sources, organisations=organisations
    ) as running:
        yield running


@pytest.fixture(scope="module")
def housing(services: dict[OrgId, RunningService]) -> RunningService:
    """The housing service."""
    return services["housing"]


@pytest.fixture(scope="module")
def mental_health(services: dict[OrgId, RunningService]) -> RunningService:
    """The mental health service."""
    return services["mental_health"]


@pytest.fixture(scope="module")
def voluntary(services: dict[OrgId, RunningService]) -> RunningService:
    """The voluntary sector service."""
    return services["voluntary"]
