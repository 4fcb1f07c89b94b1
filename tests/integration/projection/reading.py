"""Reading the projection API as partner apps do: keys per organisation and role, a client."""

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from typing import Any
from uuid import uuid4

import httpx

from events.envelope import Envelope
from services.projection.bootstrap import create_projection_app
from services.runtime.api_keys import ApiKeyStore
from tests.integration.projection.conftest import ID_SECRET, Organisations
from tests.unit.projection.factories import NHS_NUMBER, PersonAt, details


@asynccontextmanager
async def projection_api(
    orgs: Organisations, database_url: str, **options: Any
) -> AsyncIterator[httpx.AsyncClient]:
    """A client of the projection API over these organisations (options: the app's)."""
    app = create_projection_app(
        database_url=database_url, id_secret=ID_SECRET, schema=orgs.schema, **options
    )
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
            yield client


def story_order(envelope: Envelope) -> Any:
    """Order a story's events as they happened."""
    return envelope.occurred_sort_key()


async def key_of(orgs: Organisations, org: str, role: str = "frontline") -> dict[str, str]:
    """Return the headers of a fresh API key of this organisation and role."""
    key = await ApiKeyStore(orgs.pool).issue(org=org, role=role)  # type: ignore[arg-type]
    return {"Authorization": f"Bearer {key}"}


async def citizen_of(
    api: httpx.AsyncClient, headers: dict[str, str], nhs_number: str = NHS_NUMBER
) -> str:
    """Return the citizen id of the story's person (or another NHS number's), found by it."""
    found = await api.get("/v1/citizens", params={"nhs_number": nhs_number}, headers=headers)
    value: str = found.json()["citizens"][0]["citizen_id"]
    return value


async def everything_of(api: httpx.AsyncClient, citizen: str, headers: dict[str, str]) -> str:
    """Every byte a viewer can get about the citizen: view, timeline, FHIR (all pages)."""
    parts = [(await api.get(f"/v1/citizens/{citizen}", headers=headers)).text]
    for path in (f"/v1/citizens/{citizen}/timeline?limit=1000", f"/v1/citizens/{citizen}/fhir"):
        parts.append((await api.get(path, headers=headers)).text)
    return "\n".join(parts)


async def known_to_housing_and_mental_health(orgs: Organisations) -> tuple[PersonAt, PersonAt]:
    """Record someone housing and mental health each registered and opened a case for."""
    at = datetime(2026, 5, 4, 9, 0, tzinfo=UTC)
    housing, health = PersonAt("housing"), PersonAt("mental_health")
    await orgs.record(
        [
            housing.registered(at, details()), housing.case_opened(at, uuid4()),
            health.registered(at, details()), health.case_opened(at, uuid4()),
        ]
    )  # fmt: skip
    await orgs.catch_up()
    return housing, health
