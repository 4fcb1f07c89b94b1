"""Build a service's FastAPI app: request context, canonical log lines and metrics, errors,
health."""

import time
from collections.abc import Awaitable, Callable
from contextlib import AbstractAsyncContextManager

import structlog
from fastapi import Depends, FastAPI, Request, Response
from fastapi.responses import JSONResponse

from services.runtime.correlation import correlation_id_for
from services.runtime.http.errors import (
    DATABASE_RETRY_AFTER_SECONDS,
    install_error_handlers,
    unexpected_error_response,
)
from services.runtime.http.json_rules import refuse_repeated_keys
from services.runtime.http.limits import RequestSizeLimit
from services.runtime.http.media_types import require_json_body
from services.runtime.http.metrics_endpoint import add_metrics_route
from services.runtime.http.route_labels import method_label, route_template
from services.runtime.http.text_rules import refuse_nul_characters
from services.runtime.metrics import observe_http_request
from services.runtime.rate_limits import HttpLimits, RateLimits

log = structlog.get_logger("caseweave.http")
CORRELATION_HEADER = "X-Correlation-ID"
Lifespan = Callable[[FastAPI], AbstractAsyncContextManager[None]]


def _correlation_id(request: Request) -> str:
    return correlation_id_for(request.headers.get(CORRELATION_HEADER))  # stored in clear


async def _request_context(
    request: Request, call_next: Callable[[Request], Awaitable[Response]]
) -> Response:
    """Bind a correlation id to the request and write one log line when it is answered."""
    structlog.contextvars.clear_contextvars()
    correlation_id = _correlation_id(request)
    request.state.correlation_id = correlation_id
    structlog.contextvars.bind_contextvars(
        correlation_id=correlation_id, service=request.app.state.service_name
    )
    started = time.perf_counter()
    try:
        response = await call_next(request)
    except Exception as error:
        response = unexpected_error_response(request, error)
    response.headers[CORRELATION_HEADER] = correlation_id
    seconds = time.perf_counter() - started
    route = route_template(request.scope, request.app.router.routes)
    caller = getattr(request.state, "caller", None)
    log.info(
        "request",
        caller_org=getattr(caller, "org", None),
        key_id=getattr(caller, "key_id", None),
        method=request.method,
        route=route,
        status=response.status_code,
        duration_ms=round(seconds * 1000, 2),
    )
    observe_http_request(
        service=request.app.state.service_name, method=method_label(request.method),
        route=route, status=response.status_code, seconds=seconds,
    )  # fmt: skip
    return response


def configure_http_limits(app: FastAPI, limits: HttpLimits) -> None:
    """Set how large a request body may be, how often each API key may call, and how often
    a client address may fail to authenticate."""
    app.state.http_limits = limits
    app.state.rate_limits = RateLimits(limits.rate_per_minute, limits.rate_burst)
    app.state.auth_failures = RateLimits(
        limits.auth_failures_per_minute, limits.auth_failures_burst
    )


def create_service_app(
    *, title: str, service_name: str, description: str, lifespan: Lifespan
) -> FastAPI:
    """Return an app with Caseweave's error shape, request logging and metrics, health
    endpoints and /metrics."""
    app = FastAPI(
        title=title,
        description=description,
        version="1",
        lifespan=lifespan,
        dependencies=[
            Depends(require_json_body),
            Depends(refuse_nul_characters),
            Depends(refuse_repeated_keys),
        ],
    )
    app.state.service_name = service_name
    configure_http_limits(app, HttpLimits())
    app.state.bearer_tokens = None  # API keys only, unless the deployment names an issuer
    app.add_middleware(RequestSizeLimit)  # inside the request context: its 413 is logged
    app.middleware("http")(_request_context)
    install_error_handlers(app)

    @app.get("/health/live", tags=["health"], summary="The process is up")
    async def live() -> dict[str, str]:
        return {"status": "ok"}

    @app.get("/health/ready", tags=["health"], summary="The service can reach its database")
    async def ready(request: Request) -> Response:
        try:
            await request.app.state.pool.fetchval("SELECT 1")
        except Exception as error:  # a probe a second: the error's type, not a trace each time
            log.warning("not_ready", error_type=type(error).__name__)
            retry = {"Retry-After": str(DATABASE_RETRY_AFTER_SECONDS)}
            return JSONResponse({"status": "unavailable"}, 503, headers=retry)
        return JSONResponse({"status": "ok"})

    add_metrics_route(app)
    return app
