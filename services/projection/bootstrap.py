"""Wires the projection: its HTTP app, its worker, and `caseweave replay projection`."""

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator, Callable, Mapping
from datetime import timedelta

import structlog
from fastapi import FastAPI

from events.envelope import OrgId
from services.identity_matching.matching import MatchingConfig
from services.identity_matching.model import DEFAULT_MODEL
from services.projection.adapters.access_log import AccessLog, audit_schema_of
from services.projection.adapters.break_glass import BreakGlass
from services.projection.adapters.decision_store import decisions_schema_of
from services.projection.adapters.identity_confirmations import IdentityConfirmations
from services.projection.adapters.match_store import MatchStore
from services.projection.adapters.postgres_unit_of_work import postgres_units
from services.projection.adapters.queries import CitizenQueries
from services.projection.adapters.read_model_schema import CONSUMER, prepare_read_model
from services.projection.adapters.relationship_starts import RelationshipStarts
from services.projection.adapters.sharing_config import load_sharing_policy
from services.projection.domain.fold import BatchFold, fold
from services.projection.domain.sharing import SharingPolicy
from services.projection.entrypoints.faust_worker import (
    GROUP_ID,
    SESSION_TIMEOUT_SECONDS,
    FaustPartitions,
    create_faust_app,
    run_faust_app,
)
from services.projection.entrypoints.http.citizens import router
from services.projection.entrypoints.http.governance import router as governance_router
from services.projection.entrypoints.http.identity import answer_stewardship_refusals
from services.projection.entrypoints.http.identity import router as identity_router
from services.projection.entrypoints.http.reading import answer_read_refusals
from services.projection.entrypoints.http.relationship_alerts import (
    router as relationship_alerts_router,
)
from services.projection.entrypoints.http.search import router as search_router
from services.projection.service_layer.kafka_projection import KafkaProjection
from services.projection.service_layer.log_projection import DEFAULT_MATCHING, ProjectionConsumer
from services.projection.service_layer.rebuild import (
    ReplayProgress,
    rebuilding,
    switch_to_next,
)
from services.projection.service_layer.stewardship import IdentityStewardship
from services.runtime.api_keys import ApiKeyStore
from services.runtime.backoff import Backoff
from services.runtime.consumer_lag import LogLag, PartitionLag, log_lag_sampler
from services.runtime.database import Pool, close_pool, create_pool
from services.runtime.event_log import PostgresEventLog
from services.runtime.http.app_factory import create_service_app
from services.runtime.kafka.offsets import KafkaOffsets
from services.runtime.kafka.publisher import KafkaPublisher
from services.runtime.kafka.topics import DEAD_LETTER_TOPIC
from services.runtime.metrics import sampled_on_scrape, set_consumer_lag
from services.runtime.person_keys import PersonKeys
from services.runtime.subscription import catch_up, run_until_stopped
from services.runtime.verified_keys import VerifiedKeys

logger = structlog.get_logger(__name__)
RETRY_FIRST_SECONDS, RETRY_MOST_SECONDS = 0.5, 30.0
TRAIN_FROM = 1_000  # records from which a place's own model is worth learning


async def warn_if_built_before_matching(
    pool: Pool, schema: str, *, model: str = DEFAULT_MATCHING.model.version
) -> None:
    """Log a warning when stored records cannot be matched against new ones as they should.

    A read model built before identity matching links people by NHS number only and holds
    no registrations; one built by a release with other blocking keys holds its records
    under keys new records are not looked up by; pairs scored by another matching model
    than the place's now (version `model`) keep their old scores. Until `caseweave replay
    projection` rebuilds it, new records are not matched against the old ones as they should.
    """
    async with pool.acquire() as conn:
        matches = MatchStore(conn, schema, decisions_schema=decisions_schema_of(schema))
        unmatched = await matches.records_never_matched()
        earlier_keys = await matches.keyed_by_an_earlier_release()
        other_model = await matches.pairs_scored_by_another_model(model)
    if unmatched or earlier_keys or other_model:
        logger.warning(
            "identity_matching_needs_replay",
            records=unmatched,
            blocking_keys_of_an_earlier_release=earlier_keys,
            pairs_scored_by_another_model=other_model,
            model=model,
            fix="caseweave replay projection",
        )


async def advise_training_once_enough_records(
    pool: Pool, schema: str, *, model: str = DEFAULT_MATCHING.model.version
) -> None:
    """Log `identity_matching_model_untrained` when the place still matches with the default
    model (version `model` is the default's) over `TRAIN_FROM` records or more: a model
    learnt from the place's own records links more and queues fewer pairs for its stewards
    (common names weigh less; `caseweave identity train`)."""
    if model != DEFAULT_MODEL.version:
        return
    async with pool.acquire() as conn:
        matches = MatchStore(conn, schema, decisions_schema=decisions_schema_of(schema))
        records = await matches.records_held()
        if records < TRAIN_FROM:
            return
        in_review = await matches.pairs_awaiting_review()
    logger.warning(
        "identity_matching_model_untrained",
        records=records,
        pairs_in_review=in_review,
        fix="caseweave identity train --output matching.toml, then CASEWEAVE_MATCHING_FILE"
        " on every projection and organisation process, then caseweave replay projection",
    )


def create_projection_app(
    *,
    database_url: str,
    id_secret: bytes,
    schema: str = "projection",
    matching: MatchingConfig = DEFAULT_MATCHING,
    sharing: SharingPolicy | None = None,
    break_glass_minutes: int = 60,
    keys: PersonKeys | None = None,
) -> FastAPI:
    """Return the projection's HTTP app: citizen search, single view, timeline, and the
    data stewards' identity review and decisions. Reads follow `sharing` (default: the
    rules in `default_sharing.toml`); personal values in the timeline open with `keys`."""
    policy = sharing if sharing is not None else load_sharing_policy(None)

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        pool = await create_pool(database_url)
        try:
            await prepare_read_model(pool, schema)
            app.state.pool = pool
            app.state.api_keys = VerifiedKeys(ApiKeyStore(pool), pool)
            app.state.citizens = CitizenQueries(pool, schema=schema, keys=keys)
            app.state.sharing = policy
            app.state.access_log = AccessLog(pool, schema=audit_schema_of(schema))
            app.state.break_glass = BreakGlass(
                pool,
                schema=audit_schema_of(schema),
                read_model=schema,
                lasts=timedelta(minutes=break_glass_minutes),
                keys=keys,
            )
            app.state.relationship_starts = RelationshipStarts(pool, schema=schema)
            app.state.identity_confirmations = IdentityConfirmations(
                pool, decisions_schema=decisions_schema_of(schema)
            )
            app.state.stewardship = IdentityStewardship(
                postgres_units(pool, schema, keys=keys), id_secret=id_secret, matching=matching
            )
            yield
        finally:
            if hasattr(app.state, "api_keys"):
                await app.state.api_keys.close()
            await pool.close()

    app = create_service_app(
        title="Caseweave single view",
        service_name="projection",
        description="The single view of each citizen across housing, mental health and the "
        "voluntary sector, built from every organisation's events.",
        lifespan=lifespan,
    )
    app.include_router(search_router)
    app.include_router(router)
    app.include_router(identity_router)
    app.include_router(governance_router)
    app.include_router(relationship_alerts_router)
    answer_read_refusals(app)
    answer_stewardship_refusals(app)
    return app


async def run_projection_worker(
    *,
    database_url: str,
    sources: Mapping[OrgId, str],
    schema: str = "projection",
    id_secret: bytes,
    stop: asyncio.Event,
    matching: MatchingConfig = DEFAULT_MATCHING,
    keys: PersonKeys | None = None,
) -> None:
    """Keep the single view caught up with every organisation's log until `stop` is set.

    A failure (a lost connection, a deadlock) is logged and the worker starts again after a
    growing pause: the checkpoint makes the retried batch safe.
    """
    # per log: a listener, a batch's transaction and the log read it makes meanwhile; and
    # one for the lag sampled when /metrics is scraped
    pool = await create_pool(database_url, max_size=3 * len(sources) + 2)
    lag = LogLag(pool, schema=schema, consumer=CONSUMER, logs=sources)
    sampler = log_lag_sampler(lag, lambda source, n: set_consumer_lag(CONSUMER, source, n))
    try:
        await prepare_read_model(pool, schema)
        await warn_if_built_before_matching(pool, schema, model=matching.model.version)
        await advise_training_once_enough_records(pool, schema, model=matching.model.version)
        consumer = ProjectionConsumer(
            postgres_units(pool, schema, keys=keys), id_secret=id_secret, matching=matching
        )
        with sampled_on_scrape(sampler):
            await _keep_following_logs(pool, consumer, sources, stop)
    finally:
        await pool.close()


async def _keep_following_logs(
    pool: Pool,
    consumer: ProjectionConsumer,
    sources: Mapping[OrgId, str],
    stop: asyncio.Event,
) -> None:
    """Follow the logs until `stop`, starting again after a failure with a growing pause."""
    backoff = Backoff(first=RETRY_FIRST_SECONDS, most=RETRY_MOST_SECONDS)
    attempts = 0
    while not stop.is_set():
        started = time.monotonic()
        try:
            await _follow_logs(pool, consumer, sources, stop)
        except Exception as error:  # a lost connection or a deadlock must not end the worker
            ran_for = time.monotonic() - started  # a good long run starts the pauses over
            attempts, delay = backoff.next_restart(attempts, ran_for=ran_for)
            failures = error.exceptions if isinstance(error, ExceptionGroup) else (error,)
            errors = sorted({type(failure).__name__ for failure in failures})
            logger.error("projection_worker_failed", errors=errors, retry_s=delay)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), delay)


async def run_kafka_projection_worker(
    *,
    database_url: str,
    bootstrap_servers: str,
    id_secret: bytes,
    stop: asyncio.Event,
    schema: str = "projection",
    topic_orgs: Mapping[str, OrgId] | None = None,
    dead_letter_topic: str = DEAD_LETTER_TOPIC,
    group_id: str = GROUP_ID,
    fold_batch: BatchFold = fold,
    session_timeout: float = SESSION_TIMEOUT_SECONDS,
    matching: MatchingConfig = DEFAULT_MATCHING,
    keys: PersonKeys | None = None,
) -> None:
    """Keep the single view caught up with every organisation's Kafka topic until `stop`.

    Refuses to start (TopicMissing) unless every topic it reads or writes exists.
    """
    pool = await create_pool(database_url, max_size=3)  # one more for the lag metric
    dead_letters = KafkaPublisher(bootstrap_servers, client_id=f"{group_id}-dead-letters")
    try:
        await prepare_read_model(pool, schema)
        await warn_if_built_before_matching(pool, schema, model=matching.model.version)
        await advise_training_once_enough_records(pool, schema, model=matching.model.version)
        await dead_letters.start()
        projection = KafkaProjection(
            pool,
            dead_letters,
            id_secret=id_secret,
            schema=schema,
            topic_orgs=topic_orgs,
            dead_letter_topic=dead_letter_topic,
            fold_batch=fold_batch,
            matching=matching,
            keys=keys,
        )
        await dead_letters.require_topics([*projection.topics, dead_letter_topic])
        app = create_faust_app(
            bootstrap_servers=bootstrap_servers,
            topics=projection.topics,
            handle_batch=projection.apply,
            group_id=group_id,
            session_timeout=session_timeout,
        )
        partitions = FaustPartitions(app)
        projection.attach(partitions)
        lag = PartitionLag(
            pool, KafkaOffsets(schema, consumer=CONSUMER), consumer=CONSUMER,
            held=partitions.held, end_offsets=partitions.end_offsets,
        )  # fmt: skip
        rewinding = asyncio.create_task(projection.keep_rewinding_open_gaps(stop))
        try:
            with sampled_on_scrape(lag):
                await run_faust_app(app, stop)
        finally:
            stop.set()
            await rewinding
    finally:
        await dead_letters.stop()
        await close_pool(pool)


async def _follow_logs(
    pool: Pool, consumer: ProjectionConsumer, sources: Mapping[OrgId, str], stop: asyncio.Event
) -> None:
    logs = _logs(pool, sources)  # fresh logs each attempt: a failed one may hold a dead listener
    try:
        async with asyncio.TaskGroup() as group:  # one task per log: their batches overlap
            for log in logs:
                group.create_task(run_until_stopped(consumer, [log], stop))
    finally:
        for log in logs:
            await log.close()


async def catch_up_concurrently(
    consumer: ProjectionConsumer,
    logs: list[PostgresEventLog],
    on_progress: Callable[[int], None] | None = None,
) -> int:
    """Catch `consumer` up with every log, one task per log; return the events handled.

    Batches of different logs then overlap (one folds in Python while another writes in
    PostgreSQL); citizen locks keep two batches from updating the same view at once.
    """
    done = dict.fromkeys(range(len(logs)), 0)

    def progress(index: int) -> Callable[[int], None]:
        def report(events: int) -> None:
            done[index] = events
            if on_progress is not None:
                on_progress(sum(done.values()))

        return report

    handled = await asyncio.gather(
        *(catch_up(consumer, [log], on_progress=progress(n)) for n, log in enumerate(logs))
    )
    return sum(handled)


def _logs(pool: Pool, sources: Mapping[OrgId, str]) -> list[PostgresEventLog]:
    return [PostgresEventLog(pool, source=org, schema=schema) for org, schema in sources.items()]


async def rebuild_projection(
    *,
    pool: Pool,
    sources: Mapping[OrgId, str],
    schema: str = "projection",
    id_secret: bytes,
    on_progress: Callable[[ReplayProgress], None] | None = None,
    matching: MatchingConfig = DEFAULT_MATCHING,
    keys: PersonKeys | None = None,
    restart: bool = False,
) -> int:
    """Build a new version of the read model from every organisation's log beside the live
    one, then switch to it (`service_layer/rebuild.py`); return the events this run folded.

    A rebuild that stopped half-way (a crash, Ctrl-C) is resumed where it stopped, unless
    `restart`; RebuildRunning while another process rebuilds it. `pool` needs two connections
    more than there are logs: each log's batch holds one while it reads the log on another,
    and the rebuild holds its lock on one.
    """
    if pool.get_max_size() <= len(sources) + 1:
        raise ValueError(
            f"a rebuild of {len(sources)} logs needs a pool of at least {len(sources) + 2}"
        )
    await prepare_read_model(pool, schema)
    async with rebuilding(pool, schema, keys=keys, restart=restart) as rebuild:
        built = rebuild.versions.next
        units = postgres_units(pool, built, keys=keys, decisions_schema=rebuild.decisions_schema)
        consumer = ProjectionConsumer(units, id_secret=id_secret, matching=matching)
        lag = LogLag(pool, schema=built, consumer=CONSUMER, logs=sources)
        expected = sum((await lag.events_behind()).values())

        def progress(done: int) -> None:
            if on_progress is not None:
                on_progress(ReplayProgress(done, max(expected, done), resumed=rebuild.resumed))

        replayed = await catch_up_concurrently(consumer, _logs(pool, sources), progress)
        await switch_to_next(pool, rebuild, id_secret=id_secret, keys=keys, matching=matching)
    logger.info("projection_rebuilt", schema=schema, events=replayed)
    return replayed
