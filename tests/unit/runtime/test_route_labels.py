"""Requests are counted by route template and method, never by their raw path."""

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import httpx
import pytest
from fastapi import FastAPI

from services.runtime.http.app_factory import create_service_app
from services.runtime.http.route_labels import (
    OTHER_METHOD,
    UNMATCHED,
    method_label,
    route_template,
)
from tests.scraped_metrics import sample

PERSON_ID = "5b0c4f5e-8a47-4d47-a1f6-1f2a3b4c5d6e"
NHS_NUMBER = "9434765919"


@asynccontextmanager
async def _no_resources(app: FastAPI) -> AsyncIterator[None]:
    yield


def _app(service_name: str) -> FastAPI:
    app = create_service_app(
        title="test", service_name=service_name, description="test", lifespan=_no_resources
    )

    @app.get("/v1/people/{person_id}")
    async def person(person_id: str) -> dict[str, str]:
        return {"person_id": person_id}

    @app.post("/v1/people")
    async def register() -> dict[str, str]:
        return {}

    return app


def _requests(page: str, **labels: str) -> float | None:
    return sample(page, "caseweave_http_requests_total", service="route_labels_unit", **labels)


def _scope(method: str, path: str) -> dict[str, Any]:
    return {"type": "http", "method": method, "path": path, "root_path": "", "headers": []}


def test_the_route_the_router_chose_names_the_request() -> None:
    app = _app("unit")
    chosen = next(r for r in app.routes if getattr(r, "path", "") == "/v1/people/{person_id}")
    scope = _scope("GET", f"/v1/people/{PERSON_ID}") | {"route": chosen}
    assert route_template(scope, []) == "/v1/people/{person_id}"


def test_a_request_answered_before_routing_is_matched_to_its_template() -> None:
    """A body over the limit is refused before the router runs: still its route's template."""
    routes = _app("unit").routes
    assert route_template(_scope("GET", f"/v1/people/{PERSON_ID}"), routes) == (
        "/v1/people/{person_id}"
    )
    assert route_template(_scope("DELETE", "/v1/people"), routes) == "/v1/people"


@pytest.mark.parametrize(
    "path", [f"/v1/citizens/{NHS_NUMBER}", "/v1/people/a/b", "/", "/.env", "/v1/people/"]
)
def test_a_path_no_route_takes_is_one_label(path: str) -> None:
    assert route_template(_scope("GET", path), _app("unit").routes) == UNMATCHED


@pytest.mark.parametrize(
    ("method", "label"),
    [("GET", "GET"), ("POST", "POST"), ("DELETE", "DELETE"), ("PROPFIND", OTHER_METHOD)],
)
def test_methods_http_does_not_define_share_one_label(method: str, label: str) -> None:
    assert method_label(method) == label


async def test_metrics_count_each_answer_by_template_and_status_without_ids() -> None:
    """/metrics needs no key, is not in the OpenAPI document, and never shows an id."""
    app = _app("route_labels_unit")
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url="http://test"
    ) as client:
        await client.get(f"/v1/people/{PERSON_ID}")
        await client.get(f"/v1/citizens/{NHS_NUMBER}")
        await client.post(f"/v1/people/{PERSON_ID}")
        await client.post(
            "/v1/people", content=b"[" * 2_000_000, headers={"Content-Type": "application/json"}
        )
        page = await client.get("/metrics")
        schema = (await client.get("/openapi.json")).json()

    assert page.status_code == 200
    assert page.headers["content-type"].startswith("text/plain")
    answered = [
        ("GET", "/v1/people/{person_id}", "200"),
        ("GET", UNMATCHED, "404"),
        ("POST", "/v1/people/{person_id}", "405"),
        ("POST", "/v1/people", "413"),
    ]
    counted = {
        (method, route, status): _requests(page.text, method=method, route=route, status=status)
        for method, route, status in answered
    }
    assert set(counted.values()) == {1.0}, counted
    assert PERSON_ID not in page.text
    assert NHS_NUMBER not in page.text
    assert "/metrics" not in schema["paths"]
