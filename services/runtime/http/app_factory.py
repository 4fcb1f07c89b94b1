"""Build a service's FastAPI app: request context, canonical log lines and metrics, errors,
health."""

from collections.abc import Callable
from contextlib import AbstractAsyncContextManager

import structlog
from fastapi import Depends, FastAPI, Request, Response
from fastapi.responses import JSONResponse
from fastapi_offline import FastAPIOffline

from services.runtime.http.errors import (
    DATABASE_RETRY_AFTER_SECONDS,
    install_error_handlers,
)
from services.runtime.http.json_rules import refuse_repeated_keys
from services.runtime.http.limits import RequestSizeLimit
from services.runtime.http.media_types import require_json_body
from services.runtime.http.metrics_endpoint import add_metrics_route
from services.runtime.http.openapi_contract import published_openapi
from services.runtime.http.request_context import RequestContext
from services.runtime.http.text_rules import refuse_nul_characters
from services.runtime.rate_limits import HttpLimits, RateLimits

log = structlog.get_logger("caseweave.http")
DOCS_ASSETS = "/docs-assets"  # Swagger UI's script, styles and icon
Lifespan = Callable[[FastAPI], AbstractAsyncContextManager[None]]


async def _body_rules(request: Request) -> None:
    """Apply the rules every request body follows, in order: JSON, no NUL character, no key
    twice (one dependency, not three: FastAPI solves each one on every request)."""
    await require_json_body(request)
    await refuse_nul_characters(request)
    await refuse_repeated_keys(request)


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
    app = FastAPIOffline(  # /docs from the service's own copy of Swagger UI, no CDN
        title=title,
        description=description,
        version="1",
        lifespan=lifespan,
        dependencies=[Depends(_body_rules)],
        redoc_url=None,
        static_url=DOCS_ASSETS,
    )
    app.openapi = published_openapi(app)  # type: ignore[method-assign]
    app.state.service_name = service_name
    configure_http_limits(app, HttpLimits())
    app.state.bearer_tokens = None  # API keys only, unless the deployment names an issuer
    app.add_middleware(RequestSizeLimit)  # inside the request context: its 413 is logged
    app.add_middleware(RequestContext)
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
