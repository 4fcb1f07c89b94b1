"""The Prometheus metrics every Caseweave process exports at `GET /metrics`.

This module owns the metric objects (in prometheus-client's default registry: one per
process, each process on its own port) and the few functions the adapters and entrypoints
call to record what happened; domain code never imports it. Labels are closed sets
(services, organisations, consumers, route templates, reasons), never ids or personal data.

Gauges that are read from the database (how far a consumer is behind) are sampled when
`/metrics` is scraped: a running component registers its sampler with `sampled_on_scrape`.
"""

import asyncio
import contextlib
from collections.abc import Awaitable, Callable, Iterator

import structlog
from prometheus_client import CONTENT_TYPE_LATEST, Counter, Gauge, Histogram, generate_latest

log = structlog.get_logger(__name__)
SAMPLE_TIMEOUT_SECONDS = 2.0
Sampler = Callable[[], Awaitable[None]]
CONTENT_TYPE = CONTENT_TYPE_LATEST

HTTP_REQUESTS = Counter(
    "caseweave_http_requests_total",
    "HTTP requests answered, by route template (never the raw path) and status code.",
    ["service", "method", "route", "status"],
)
HTTP_DURATION = Histogram(
    "caseweave_http_request_duration_seconds",
    "Time from receiving an HTTP request to its response headers, by route template.",
    ["service", "method", "route"],
)
EVENTS_APPENDED = Counter(
    "caseweave_events_appended_total",
    "Events appended to an organisation's event store (its log and outbox).",
    ["org"],
)
RELAY_PUBLISHED = Counter(
    "caseweave_relay_published_total",
    "Events the outbox relay published to Kafka and the brokers acknowledged.",
    ["org"],
)
RELAY_LAG = Gauge(
    "caseweave_relay_lag_events",
    "Events in an organisation's log that its outbox relay has not yet published to Kafka.",
    ["org"],
)
CONSUMER_LAG = Gauge(
    "caseweave_consumer_lag_events",
    "Events a consumer has yet to apply: per log (embedded transport; no partition) or per"
    " Kafka topic partition this process holds.",
    ["consumer", "source", "partition"],
)
ADAPTER_BACKLOG = Gauge(
    "caseweave_adapter_backlog",
    "What charities' systems sent or are owed that waits on ops: messages held in"
    " quarantine, webhooks out pending or parked after a day of failures.",
    ["org", "what"],
)
DEAD_LETTERS = Counter(
    "caseweave_dead_letters_total",
    "Messages a consumer set aside (dead-lettered, parked) instead of applying, by reason.",
    ["consumer", "reason"],
)
PROJECTION_BATCH = Histogram(
    "caseweave_projection_batch_seconds",
    "Time the projection took to apply one batch, transaction included, by transport.",
    ["transport"],
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0),
)

_samplers: list[Sampler] = []


def observe_http_request(
    *, service: str, method: str, route: str, status: int, seconds: float
) -> None:
    """Count an answered HTTP request and its latency."""
    HTTP_REQUESTS.labels(service, method, route, str(status)).inc()
    HTTP_DURATION.labels(service, method, route).observe(seconds)


def count_events_appended(org: str, events: int) -> None:
    """Count events appended to `org`'s store."""
    if events:
        EVENTS_APPENDED.labels(org).inc(events)


def count_relay_published(org: str, events: int) -> None:
    """Count events the relay of `org` published."""
    RELAY_PUBLISHED.labels(org).inc(events)


def set_relay_lag(org: str, events: int) -> None:
    """Record how many of `org`'s events wait to be published."""
    RELAY_LAG.labels(org).set(events)


def set_consumer_lag(consumer: str, source: str, events: int, *, partition: str = "") -> None:
    """Record how many events `consumer` has yet to apply from `source` (a log or topic)."""
    CONSUMER_LAG.labels(consumer, source, partition).set(events)


def forget_consumer_lag(consumer: str, source: str, *, partition: str = "") -> None:
    """Stop exporting a lag this process no longer knows (a partition moved elsewhere)."""
    with contextlib.suppress(KeyError):
        CONSUMER_LAG.remove(consumer, source, partition)


def set_adapter_backlog(org: str, what: str, count: int) -> None:
    """Set how many of `what` (quarantine_held, webhooks_pending, webhooks_parked) wait."""
    ADAPTER_BACKLOG.labels(org=org, what=what).set(count)


def count_dead_letters(consumer: str, reason: str, messages: int = 1) -> None:
    """Count messages `consumer` set aside for `reason`."""
    DEAD_LETTERS.labels(consumer, reason).inc(messages)


def observe_projection_batch(transport: str, seconds: float) -> None:
    """Record how long a projection batch took."""
    PROJECTION_BATCH.labels(transport).observe(seconds)


@contextlib.contextmanager
def sampled_on_scrape(sampler: Sampler) -> Iterator[None]:
    """Run `sampler` at each scrape of this process's /metrics while the block runs."""
    _samplers.append(sampler)
    try:
        yield
    finally:
        _samplers.remove(sampler)


async def exposition() -> bytes:
    """Return the process's metrics in Prometheus' text format, sampled gauges refreshed."""
    await asyncio.gather(*(_sample(sampler) for sampler in list(_samplers)))
    return generate_latest()


async def _sample(sampler: Sampler) -> None:
    """Run one sampler, bounded in time; a failure keeps its last values and is logged."""
    try:
        await asyncio.wait_for(sampler(), SAMPLE_TIMEOUT_SECONDS)
    except Exception as error:  # a database or broker that is down must not fail the scrape
        log.warning("metrics_sample_failed", error_type=type(error).__name__)
