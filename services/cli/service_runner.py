"""Run one Caseweave service in this process: an organisation service, or the projection."""

import asyncio
import contextlib
import importlib
import signal
import socket
from collections.abc import Iterator
from typing import Literal, cast, get_args

import structlog
import uvicorn
from fastapi import FastAPI

from events.envelope import OrgId
from events.organisations import Sector
from services.projection.adapters.sharing_config import load_sharing_policy
from services.runtime.bearer_tokens import BearerTokens
from services.runtime.database import Pool, create_pool
from services.runtime.dev_secrets import citizen_id_secret, person_keys
from services.runtime.http.app_factory import configure_http_limits
from services.runtime.http.metrics_endpoint import metrics_only_app
from services.runtime.kafka.topics import organisation_topics
from services.runtime.matching_config import load_matching_config
from services.runtime.organisations_file import load_organisations
from services.runtime.process_tuning import collect_garbage_less_often
from services.runtime.settings import Settings

ServiceName = Literal["housing", "mental_health", "voluntary", "projection", "projection-worker"]
SERVICE_NAMES: tuple[ServiceName, ...] = get_args(ServiceName)
log = structlog.get_logger(__name__)


def sector_app(sector: Sector, settings: Settings) -> FastAPI:
    """Return the HTTP app of a sector's microservice (serving its organisations)."""
    module = importlib.import_module(f"services.{sector}")
    app: FastAPI = module.create_app(settings)
    return app


def projection_topics(settings: Settings) -> dict[str, OrgId]:
    """Return the topic the projection reads for each organisation of the place (Kafka)."""
    return organisation_topics(load_organisations(settings.organisations_file).ids)


def projection_sources(settings: Settings) -> dict[OrgId, str]:
    """Return the log (schema) the projection reads for each organisation of the place."""
    return {org: org for org in load_organisations(settings.organisations_file).ids}


class _Server(uvicorn.Server):
    """A uvicorn server that leaves signals to `run_service`, so cleanup runs before exit.

    uvicorn re-raises the signal it caught once it has shut down, which ends the process
    before the caller's own shutdown (stopping the projection worker) can run.
    """

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield


def uvicorn_config(app: FastAPI, settings: Settings, port: int) -> uvicorn.Config:
    """Return how uvicorn serves `app`: X-Forwarded-For and -Proto are believed only from
    the proxies `forwarded_allow_ips` names (none by default: the client is the peer)."""
    trusted = settings.forwarded_allow_ips.strip()
    return uvicorn.Config(
        app, host=settings.host, port=port, log_config=None, access_log=False, lifespan="on",
        proxy_headers=bool(trusted), forwarded_allow_ips=trusted or None,
    )  # fmt: skip


async def _serve(app: FastAPI, settings: Settings, port: int, stop: asyncio.Event) -> None:
    configure_http_limits(app, settings.http_limits())
    oidc = settings.oidc()
    organisations = load_organisations(settings.organisations_file)
    app.state.bearer_tokens = BearerTokens(oidc, organisations) if oidc else None
    await _serve_until(_Server(uvicorn_config(app, settings, port)), stop)


async def _serve_until(
    server: uvicorn.Server, stop: asyncio.Event, sockets: list[socket.socket] | None = None
) -> None:
    serving = asyncio.create_task(server.serve(sockets))
    stopping = asyncio.create_task(stop.wait())
    await asyncio.wait([serving, stopping], return_when=asyncio.FIRST_COMPLETED)
    server.should_exit = True
    stopping.cancel()
    await serving


async def _serve_metrics(settings: Settings, stop: asyncio.Event) -> None:
    """Serve /metrics on the worker's own port until `stop`; a port that cannot be had is
    logged, and the worker goes on without it."""
    port = settings.worker_metrics_port
    family = socket.AF_INET6 if ":" in settings.host else socket.AF_INET
    try:  # bound here: uvicorn would end the whole process when it cannot listen
        listening = socket.create_server((settings.host, port), family=family)
    except OSError as error:
        log.error("metrics_port_unavailable", port=port, reason=error.strerror)
        return
    with listening:
        server = _Server(uvicorn_config(metrics_only_app(), settings, port))
        await _serve_until(server, stop, [listening])


async def _run_worker_alone(settings: Settings, stop: asyncio.Event) -> None:
    """Run the projection worker, with /metrics on a port of its own."""
    metrics = asyncio.create_task(_serve_metrics(settings, stop))
    try:
        await _run_worker(settings, stop)
    finally:
        stop.set()
        await metrics


async def _run_worker(settings: Settings, stop: asyncio.Event) -> None:
    """Run the projection worker: over the Kafka topics in Kafka mode, else the logs."""
    from services.projection.bootstrap import (  # noqa: PLC0415 - heavy
        run_kafka_projection_worker,
        run_projection_worker,
    )

    assert settings.database_url is not None
    kafka = settings.kafka_transport_servers()
    if kafka is not None:
        await run_kafka_projection_worker(
            database_url=settings.database_url,
            bootstrap_servers=kafka,
            id_secret=citizen_id_secret(settings),
            topic_orgs=projection_topics(settings),
            stop=stop,
            session_timeout=settings.kafka_session_timeout_ms / 1000,
            matching=load_matching_config(settings.matching_file),
            keys=person_keys(settings),
        )
        return
    await run_projection_worker(
        database_url=settings.database_url,
        sources=projection_sources(settings),
        id_secret=citizen_id_secret(settings),
        stop=stop,
        matching=load_matching_config(settings.matching_file),
        keys=person_keys(settings),
    )


async def _run_projection(settings: Settings, stop: asyncio.Event) -> None:
    from services.projection.bootstrap import create_projection_app  # noqa: PLC0415 - heavy

    assert settings.database_url is not None
    load_matching_config(settings.matching_file)  # a broken file stops us before anything runs
    organisations = load_organisations(settings.organisations_file)
    load_sharing_policy(settings.sharing_file, organisations)
    worker = asyncio.create_task(_run_worker(settings, stop))
    worker.add_done_callback(lambda _: stop.set())  # a worker that cannot run stops the process
    try:
        app = create_projection_app(
            database_url=settings.database_url,
            id_secret=citizen_id_secret(settings),
            matching=load_matching_config(settings.matching_file),
            sharing=load_sharing_policy(settings.sharing_file, organisations),
            break_glass_minutes=settings.break_glass_minutes,
            keys=person_keys(settings),
        )
        await _serve(app, settings, settings.projection_port, stop)
    finally:
        stop.set()
        await worker


def _stop_on_signals() -> asyncio.Event:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, stop.set)
    return stop


async def _prepare_database(name: ServiceName, settings: Settings) -> None:
    """Bring the service's tables to this release's migrations, then check the master key.

    Stops the service before it serves if the database is newer than this release
    (SchemaAhead), or if this process's master key is not the one the keys were made with
    (MasterKeyWrong): it would read no one's details and write unreadable ones.
    """
    assert settings.database_url is not None
    pool = await create_pool(settings.database_url, max_size=1)
    try:
        await _migrate(pool, name, settings)
        async with pool.acquire() as conn:
            await person_keys(settings).verify(conn)
    finally:
        await pool.close()


async def _migrate(pool: Pool, name: ServiceName, settings: Settings) -> None:
    """Apply the migrations the service would apply as it starts (the same call)."""
    if name in ("projection", "projection-worker"):
        from services.projection.adapters.read_model_schema import (  # noqa: PLC0415 - heavy
            prepare_read_model,
        )

        await prepare_read_model(pool, "projection")
        return
    from services.organisation.bootstrap import prepare_database  # noqa: PLC0415 - heavy

    sector = cast(Sector, name)  # the other services are the sectors'
    for org in load_organisations(settings.organisations_file).of_sector(sector):
        await prepare_database(pool, schema=org)


async def run_service(name: ServiceName, settings: Settings) -> None:
    """Run service `name` until SIGINT or SIGTERM, then shut it down cleanly."""
    log.info("service_starting", service=name)
    await _prepare_database(name, settings)
    stop = _stop_on_signals()
    if name in ("projection", "projection-worker"):
        collect_garbage_less_often()
    if name == "projection":
        await _run_projection(settings, stop)
    elif name == "projection-worker":
        await _run_worker_alone(settings, stop)
    else:
        await _serve(sector_app(name, settings), settings, settings.port_of(name), stop)
    log.info("service_stopped", service=name)
