"""Refuse a request body larger than the service accepts, before anything reads it.

A pure ASGI middleware: it reads the body up to the limit (a declared Content-Length over it
is refused at once), answers 413 in Caseweave's error shape when the body is too large, and
otherwise hands the buffered body to the app. Bodies here are small JSON documents, so
holding one in memory costs nothing.
"""

import json
from typing import Any

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from services.runtime.rate_limits import HttpLimits


class RequestSizeLimit:
    """Answers 413 to a request whose body exceeds `app.state.http_limits.max_request_bytes`."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        limits: HttpLimits = scope["app"].state.http_limits
        limit = limits.max_request_bytes
        if _declared_length(scope) > limit:
            await _refuse(scope, send, limit)
            return
        body, more = bytearray(), True
        while more:
            message = await receive()
            if message["type"] == "http.disconnect":
                return
            body += message.get("body", b"")
            more = message.get("more_body", False)
            if len(body) > limit:
                await _refuse(scope, send, limit)
                return
        await self.app(scope, _replay(bytes(body), receive), send)


def _declared_length(scope: Scope) -> int:
    for name, value in scope.get("headers", []):
        if name == b"content-length":
            try:
                return int(value)
            except ValueError:
                return 0
    return 0


def _replay(body: bytes, receive: Receive) -> Receive:
    sent = False

    async def replayed() -> Message:
        nonlocal sent
        if not sent:
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}
        return await receive()  # after the body: wait for the client to disconnect

    return replayed


async def _refuse(scope: Scope, send: Send, limit: int) -> None:
    state: dict[str, Any] = scope.get("state", {})
    error = {
        "code": "request_too_large",
        "message": f"the request body is larger than {limit:,} bytes",
        "correlation_id": state.get("correlation_id"),
    }
    body = json.dumps({"error": error}).encode()
    headers = [(b"content-type", b"application/json"), (b"content-length", b"%d" % len(body))]
    await send({"type": "http.response.start", "status": 413, "headers": headers})
    await send({"type": "http.response.body", "body": body})
