"""What the projection parts share: seeding the three logs, quiet logs, checking the read model."""

import gc
import logging
import sys
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass

import structlog

from bench import crowd
from bench.event_store import append_batched, until_readable
from events.envelope import OrgId
from services.runtime.database import Pool
from services.runtime.event_store_schema import checked_schema
from services.runtime.person_keys import PersonKeys
from services.runtime.process_tuning import collect_garbage_less_often

# keys citizen ids; the in-process build and the projection service must share it
ID_SECRET = b"caseweave-bench-citizen-id-secret"
# wraps the people's data keys: personal values are sealed as in production; shared too
MASTER_KEY = bytes.fromhex("5ea1" * 16)
KEYS = PersonKeys(MASTER_KEY)
_SEED_BATCH = 1_000


@dataclass(frozen=True)
class Seeded:
    """What the logs hold: events in all, and the citizens they make."""

    events: int
    citizens: int


async def seed(pool: Pool, logs: crowd.Logs, schemas: Mapping[OrgId, str]) -> int:
    """Append each organisation's log to a new event store in its schema; return the events.

    Then wait until every event is readable (below the log watermark), so that a catch-up
    timed next reads them all.
    """
    for org, schema in schemas.items():
        await append_batched(pool, logs[org], batch=_SEED_BATCH, schema=schema, keys=KEYS)
    for schema in schemas.values():
        await until_readable(pool, schema=schema)
    return crowd.event_count(logs)


async def seed_people(pool: Pool, people: int, schemas: Mapping[OrgId, str]) -> Seeded:
    """Seed the logs of a crowd of `people` (the events are dropped once stored)."""
    return _told(Seeded(await seed(pool, crowd.crowd(people), schemas), crowd.citizens_in(people)))


async def seed_events(pool: Pool, events: int, schemas: Mapping[OrgId, str]) -> Seeded:
    """Seed the logs of the smallest crowd with at least `events` events."""
    logs, people = crowd.crowd_of_events(events)
    return _told(Seeded(await seed(pool, logs, schemas), crowd.citizens_in(people)))


def _told(seeded: Seeded) -> Seeded:
    print(
        f"  seeded {seeded.events:,} events making {seeded.citizens:,} citizens",
        file=sys.stderr,
        flush=True,
    )
    return seeded


async def check_read_model(pool: Pool, schema: str, expected: Seeded) -> None:
    """Fail unless the timeline holds every seeded event and the view every citizen."""
    s = checked_schema(schema)
    timeline = await pool.fetchval(f"SELECT count(*) FROM {s}.timeline")  # noqa: S608 - checked schema name
    citizens = await pool.fetchval(f"SELECT count(*) FROM {s}.citizens")  # noqa: S608 - checked schema name
    if (timeline, citizens) != (expected.events, expected.citizens):
        raise RuntimeError(
            f"{s} holds {timeline:,} events and {citizens:,} citizens, not"
            f" {expected.events:,} and {expected.citizens:,}"
        )


@contextmanager
def quiet_logs() -> Iterator[None]:
    """Drop the projection's info lines (one per batch) while a part runs; warnings to stderr."""
    saved = structlog.get_config()
    structlog.configure(
        wrapper_class=structlog.make_filtering_bound_logger(logging.WARNING),
        logger_factory=structlog.PrintLoggerFactory(sys.stderr),
        cache_logger_on_first_use=False,
    )
    try:
        yield
    finally:
        structlog.configure(**saved)


@contextmanager
def as_projection_process() -> Iterator[None]:
    """Collect garbage as the worker and replay processes do (less often); restore it after."""
    saved = gc.get_threshold()
    collect_garbage_less_often()
    try:
        yield
    finally:
        gc.set_threshold(*saved)
