"""Each request's context: a correlation id bound to its log lines, and one canonical log
line and metric when it is answered.

A pure ASGI middleware, not Starlette's `BaseHTTPMiddleware` (which runs the app in a task
group of its own and streams the response through memory channels: a large share of a
fast read's time). The correlation id (`X-Correlation-ID`, made safe or new) goes on the
request's state, every log line of the request and the answer's headers; an exception
nothing else answered becomes Caseweave's 500 (or 503 when the database cannot be reached).
"""

import time

import structlog
from starlette.datastructures import Headers, MutableHeaders
from starlette.requests import Request
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from services.runtime.correlation import correlation_id_for
from services.runtime.http.errors import unexpected_error_response
from services.runtime.http.route_labels import method_label, route_template
from services.runtime.metrics import observe_http_request

log = structlog.get_logger("caseweave.http")
CORRELATION_HEADER = "X-Correlation-ID"


class RequestContext:
    """Binds a correlation id to each HTTP request and logs one line when it is answered."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        structlog.contextvars.clear_contextvars()
        correlation_id = correlation_id_for(Headers(scope=scope).get(CORRELATION_HEADER))
        state = scope.setdefault("state", {})
        state["correlation_id"] = correlation_id
        service = scope["app"].state.service_name
        structlog.contextvars.bind_contextvars(correlation_id=correlation_id, service=service)
        started = time.perf_counter()
        status = 500
        answering = False

        async def send_with_id(message: Message) -> None:
            nonlocal status, answering
            if message["type"] == "http.response.start":
                answering = True
                status = message["status"]
                MutableHeaders(scope=message)[CORRELATION_HEADER] = correlation_id
            await send(message)

        try:
            await self.app(scope, receive, send_with_id)
        except Exception as error:
            if answering:  # too late for another answer: the server closes the connection
                raise
            await unexpected_error_response(Request(scope), error)(scope, receive, send_with_id)
        finally:
            _log_answered(scope, state, status, time.perf_counter() - started)


def _log_answered(scope: Scope, state: dict[str, object], status: int, seconds: float) -> None:
    route = route_template(scope, scope["app"].router.routes)
    caller = state.get("caller")
    method = scope["method"]
    log.info(
        "request",
        caller_org=getattr(caller, "org", None),
        key_id=getattr(caller, "key_id", None),
        method=method,
        route=route,
        status=status,
        duration_ms=round(seconds * 1000, 2),
    )
    observe_http_request(
        service=scope["app"].state.service_name, method=method_label(method), route=route,
        status=status, seconds=seconds,
    )  # fmt: skip
