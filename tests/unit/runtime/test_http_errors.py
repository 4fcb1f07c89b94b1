"""Every service's error shape, including the errors nobody planned for."""

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import asyncpg
import httpx
import pytest
from fastapi import FastAPI
from pydantic import BaseModel
from structlog.testing import capture_logs

from services.runtime.http.app_factory import create_service_app

BUG_CORRELATION = "c5000000-0000-4000-8000-000000000500"
OUTAGE_CORRELATION = "c5030000-0000-4000-8000-000000000503"


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

    @app.post("/ping")
    async def ping() -> dict[str, str]:
        return {"status": "ok"}

    @app.get("/database/refused")
    async def refused() -> None:  # nothing listens on port 1
        await asyncpg.connect("postgresql://caseweave@127.0.0.1:1/caseweave")

    @app.get("/database/no-socket")
    async def no_socket() -> None:  # the server's socket file is not there (yet)
        pool = await asyncpg.create_pool("postgresql://caseweave@/db?host=/nonexistent", min_size=0)
        async with pool.acquire():
            pass

    @app.get("/database/lost")
    async def lost() -> None:
        try:
            raise asyncpg.ConnectionDoesNotExistError("connection was closed in the middle")
        finally:  # what a transaction's rollback on the dead connection then raises
            raise asyncpg.InterfaceError("cannot call Connection.execute(): connection is closed")

    @app.get("/database/starting")
    async def starting() -> None:
        raise asyncpg.CannotConnectNowError("the database system is starting up")

    return app


async def _call(method: str, path: str, **kwargs: Any) -> httpx.Response:
    transport = httpx.ASGITransport(app=_app(), raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
        return await client.request(method, path, **kwargs)


async def test_an_unexpected_error_is_a_plain_500_and_its_message_is_never_logged() -> None:
    """A bug answers 500 with a correlation id; the log names the error type and where, not what."""
    with capture_logs() as logs:
        response = await _call("GET", "/boom", headers={"X-Correlation-ID": BUG_CORRELATION})
    assert response.status_code == 500
    assert response.json()["error"] == {
        "code": "internal_error",
        "message": "something went wrong on our side",
        "correlation_id": BUG_CORRELATION,
    }
    assert response.headers["X-Correlation-ID"] == BUG_CORRELATION
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


@pytest.mark.parametrize("content_type", ["text/plain", "application/x-www-form-urlencoded", None])
async def test_a_json_body_sent_as_another_media_type_is_415_naming_the_header(
    content_type: str | None,
) -> None:
    """A body labelled as anything but JSON (or not labelled) is a 415 on Content-Type, not a
    422 that sends the client looking at a body that is fine."""
    headers = {"Content-Type": content_type} if content_type else {}
    response = await _call("POST", "/notes", content=b'{"text": "hello"}', headers=headers)
    assert response.status_code == 415
    assert response.json()["error"]["code"] == "unsupported_media_type"
    assert response.json()["error"]["fields"] == [
        {
            "field": "header.content-type",
            "rule": "json_media_type",
            "message": "send Content-Type: application/json",
        }
    ]


@pytest.mark.parametrize(
    "content_type",
    ["application/json", "application/json; charset=utf-8", "application/merge-patch+json"],
)
async def test_json_media_types_are_taken(content_type: str) -> None:
    body = b'{"text": "hello"}'
    response = await _call("POST", "/notes", content=body, headers={"Content-Type": content_type})
    assert response.status_code == 200


async def test_a_call_without_a_body_needs_no_content_type() -> None:
    """Only a body is checked: a POST of nothing, or to a route that reads none, goes ahead."""
    assert (await _call("POST", "/ping")).status_code == 200
    empty = await _call("POST", "/notes", headers={"Content-Type": "text/plain"})
    assert empty.status_code == 422  # no body: the route's own "body field required"


@pytest.mark.parametrize(
    "path", ["/database/refused", "/database/no-socket", "/database/lost", "/database/starting"]
)
async def test_a_database_that_cannot_be_reached_is_503_with_retry_after(path: str) -> None:
    """An outage is no bug: 503 `database_unavailable` with Retry-After, and no stack trace."""
    with capture_logs() as logs:
        response = await _call("GET", path, headers={"X-Correlation-ID": OUTAGE_CORRELATION})
    assert response.status_code == 503
    assert response.headers["Retry-After"] == "5"
    assert response.json()["error"] == {
        "code": "database_unavailable",
        "message": "the database cannot be reached right now; retry shortly",
        "correlation_id": OUTAGE_CORRELATION,
    }
    assert not [line for line in logs if line["event"] == "unhandled_error"]


async def test_a_key_given_twice_in_a_json_object_is_refused_naming_it() -> None:
    """Parsers keep the last of repeated keys; another reader may keep the first: 422."""
    body = b'{"text": "first", "text": "second"}'
    response = await _call(
        "POST", "/notes", content=body, headers={"Content-Type": "application/json"}
    )
    assert response.status_code == 422
    [field] = response.json()["error"]["fields"]
    assert (field["field"], field["rule"]) == ("body.text", "no_repeated_key")
    nested = b'{"text": "x", "extra": [{"a": 1, "a": 2}]}'
    response = await _call(
        "POST", "/notes", content=nested, headers={"Content-Type": "application/json"}
    )
    assert response.json()["error"]["fields"][0]["field"] == "body.extra.0.a"


@pytest.mark.parametrize(
    "body",
    [
        b'{"text": "\xff"}',  # not UTF-8
        '{"text": "Zo\u00eb"}'.encode("latin-1"),
        b'{"text": ' + b"9" * 5000 + b"}",  # more digits than Python reads as a number
    ],
)
async def test_a_body_json_cannot_read_is_a_400_naming_the_rule(body: bytes) -> None:
    """Not a bare "error parsing the body": the body's rule, with our error shape."""
    response = await _call(
        "POST", "/notes", content=body, headers={"Content-Type": "application/json"}
    )
    assert response.status_code == 400
    error = response.json()["error"]
    assert error["code"] == "malformed_json"
    assert [(f["field"], f["rule"]) for f in error["fields"]] == [("body", "utf8_json")]


async def test_malformed_json_says_where_without_quoting_it() -> None:
    response = await _call(
        "POST", "/notes", content=b'{"text": ', headers={"Content-Type": "application/json"}
    )
    assert response.status_code == 400
    [field] = response.json()["error"]["fields"]
    assert (field["field"], field["rule"]) == ("body", "json")
    assert "character 9" in field["message"]
