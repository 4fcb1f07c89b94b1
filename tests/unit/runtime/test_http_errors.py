"""Every service's error shape, including the errors nobody planned for."""

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import httpx
from fastapi import FastAPI
from pydantic import BaseModel
from structlog.testing import capture_logs

from services.runtime.http.app_factory import create_service_app


@asynccontextmanager
async def _no_resources(app: FastAPI) -> AsyncIterator[None]:
    yield


class Note(BaseModel):
    text: str


def _app() -> FastAPI:
    app = create_service_app(
        title="test", service_name="test", description="test", lifespan=_no_resources
    )

    @app.get("/boom")
    async def boom() -> None:
        raise RuntimeError("NHS number 9434765919 for David Smith")

    @app.post("/notes")
    async def notes(note: Note) -> dict[str, str]:
        return {"text": note.text}

    return app


async def _call(method: str, path: str, **kwargs: Any) -> httpx.Response:
    transport = httpx.ASGITransport(app=_app(), raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
        return await client.request(method, path, **kwargs)


async def test_an_unexpected_error_is_a_plain_500_and_its_message_is_never_logged() -> None:
    """A bug answers 500 with a correlation id; the log names the error type and where, not what."""
    with capture_logs() as logs:
        response = await _call("GET", "/boom", headers={"X-Correlation-ID": "c-500"})
    assert response.status_code == 500
    assert response.json()["error"] == {
        "code": "internal_error",
        "message": "something went wrong on our side",
        "correlation_id": "c-500",
    }
    assert response.headers["X-Correlation-ID"] == "c-500"
    [error] = [line for line in logs if line["event"] == "unhandled_error"]
    assert error["error_type"] == "RuntimeError"
    assert "9434765919" not in repr(logs)
    assert any(line["event"] == "request" and line["status"] == 500 for line in logs)


async def test_a_nul_character_is_refused_naming_the_field() -> None:
    """PostgreSQL cannot store U+0000: the request gets a 422 for that field, not a 500."""
    response = await _call("POST", "/notes", json={"text": "a\u0000b"})
    assert response.status_code == 422
    assert response.json()["error"]["fields"] == [
        {
            "field": "body.text",
            "rule": "no_nul_character",
            "message": "text may not contain the NUL character (U+0000)",
        }
    ]


async def test_a_nul_character_in_the_query_is_refused_too() -> None:
    """Query parameters are text too."""
    response = await _call("GET", "/boom", params={"family_name": "a\u0000b"})
    assert response.status_code == 422
    assert response.json()["error"]["fields"][0]["field"] == "query.family_name"
