"""`GET /metrics`: Prometheus' scrape of a process, on a service's app or on its own port.

It needs no API key (like /health: it holds counts and timings, never personal data) and is
left out of the OpenAPI document: it is no business endpoint.
"""

from fastapi import FastAPI, Response

from services.runtime.metrics import CONTENT_TYPE, exposition


def add_metrics_route(app: FastAPI) -> None:
    """Serve the process's metrics at /metrics on `app`."""

    @app.get("/metrics", include_in_schema=False)
    async def metrics() -> Response:
        return Response(await exposition(), media_type=CONTENT_TYPE)


def metrics_only_app() -> FastAPI:
    """Return an app serving /metrics alone, for a process without an HTTP API."""
    app = FastAPI(openapi_url=None, docs_url=None, redoc_url=None)
    add_metrics_route(app)
    return app
