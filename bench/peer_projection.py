"""The peer's projection: `eventsourcing`'s projection runner folding the crowd into a view.

The same crowd as our catch-up (`bench.crowd`, at least `--projection-events` events) is
stored, untimed, as one `eventsourcing` application's events (`CrowdLogs`, table
`crowdlogs_events` in schema `peer_catch_up` of the peer's database): the three
organisations' logs interleaved event by event, each in its own order, one `CrowdEvent` per
event carrying what the view needs (citizen, organisation, event id, type, occurred at).

Timed: the library's `ProjectionRunner` (its application subscription, LISTEN/NOTIFY and
pulls of 500 notifications, in its own threads) with `PerCitizenProjection`, whose view is
a `PostgresTrackingRecorder` subclass. Per event, in one transaction with its tracking
record, the view inserts a timeline row and upserts the citizen's counts per organisation.
The clock starts before the runner is made and stops at the view's commit of the last
notification's tracking record; `runner.wait` is how the bench learns it got there.

This is a plain fold, not our projection's work: the citizen is given, not found (the crowd's
NHS number on every event, even the voluntary sector's walk-ins who never gave it: the bench
knows who is who), with no identity matching, no sealed personal values and no sharing rules.
"""

import asyncio
import itertools
import sys
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from uuid import NAMESPACE_URL, UUID, uuid5

import psycopg
from eventsourcing.application import Application
from eventsourcing.dispatch import singledispatchmethod
from eventsourcing.domain import DomainEvent
from eventsourcing.persistence import Tracking
from eventsourcing.postgres import PostgresDatastore, PostgresTrackingRecorder
from eventsourcing.projection import Projection, ProjectionRunner
from psycopg.sql import SQL, Identifier

from bench import crowd
from bench.figures import Run
from bench.part import BenchContext, Measurement
from bench.peer_eventsourcing import connection_params
from bench.projection_catch_up import CATCH_UP, CATCH_UP_LABEL, PROJECTION_EVENTS
from bench.read_model import Seeded, as_projection_process
from bench.timing import per_second, settle
from events.envelope import OrgId
from events.organisations import DEFAULT_ORGANISATIONS

NOTE = (
    "eventsourcing ProjectionRunner + Projection, view a PostgresTrackingRecorder: per event,"
    " one transaction (timeline row, upsert of the citizen's counts per organisation, tracking"
    " record); a plain fold keyed by the crowd's NHS number: no identity matching, sealing or"
    " sharing rules, which ours does"
)
_SCHEMA = "peer_catch_up"
_SEED_BATCH = 1_000


@dataclass(frozen=True)  # the metaclass makes it one too; this tells the type checker
class CrowdEvent(DomainEvent):
    """One event of an organisation's log, as the peer's application stores it."""

    citizen: str
    org: str
    event_id: UUID
    type: str
    occurred_at: datetime


class CrowdLogs(Application[UUID]):
    """The three organisations' logs as one application's stored events (one sequence)."""


class PerCitizenView(PostgresTrackingRecorder):
    """A timeline row per event and each citizen's counts per organisation, with tracking."""

    def __init__(self, datastore: PostgresDatastore, **kwargs: Any) -> None:
        super().__init__(datastore, **kwargs)
        schema = Identifier(datastore.schema)
        timeline, counts = Identifier("per_citizen_timeline"), Identifier("per_citizen_counts")
        columns = [Identifier(org) for org in DEFAULT_ORGANISATIONS.ids]
        self.sql_create_statements += [
            SQL(
                "CREATE TABLE IF NOT EXISTS {}.{} (event_id uuid PRIMARY KEY,"
                " citizen text NOT NULL, org text NOT NULL, type text NOT NULL,"
                " occurred_at timestamptz NOT NULL)"
            ).format(schema, timeline),
            SQL("CREATE INDEX IF NOT EXISTS per_citizen_timeline_by_citizen ON {}.{}"
                " (citizen, occurred_at)").format(schema, timeline),
            SQL("CREATE TABLE IF NOT EXISTS {}.{} (citizen text PRIMARY KEY, {})").format(
                schema, counts,
                SQL(", ").join(SQL("{} integer NOT NULL").format(c) for c in columns),
            ),
        ]  # fmt: skip
        self._insert_row = SQL(
            "INSERT INTO {}.{} (event_id, citizen, org, type, occurred_at)"
            " VALUES (%s, %s, %s, %s, %s)"
        ).format(schema, timeline)
        self._upsert_counts = SQL(
            "INSERT INTO {0}.{1} AS c (citizen, {2}) VALUES (%s, {3})"
            " ON CONFLICT (citizen) DO UPDATE SET {4}"
        ).format(
            schema, counts, SQL(", ").join(columns),
            SQL(", ").join(SQL("%s") for _ in columns),
            SQL(", ").join(SQL("{0} = c.{0} + excluded.{0}").format(c) for c in columns),
        )  # fmt: skip
        self._timeline, self._counts, self._columns = timeline, counts, columns
        self.last_commit = 0.0  # perf_counter() after the latest fold's commit

    def fold(self, event: CrowdEvent, tracking: Tracking) -> None:
        """Add the event's timeline row and count it for its citizen, with its tracking."""
        counts = [int(event.org == org) for org in DEFAULT_ORGANISATIONS.ids]
        row = (event.event_id, event.citizen, event.org, event.type, event.occurred_at)
        with self.datastore.transaction(commit=True) as curs:
            curs.execute(self._insert_row, row, prepare=True)
            curs.execute(self._upsert_counts, (event.citizen, *counts), prepare=True)
            self._insert_tracking(curs, tracking)
        self.last_commit = time.perf_counter()

    def totals(self) -> tuple[int, int, int, dict[str, int]]:
        """Return the timeline's rows, the citizens counted, the counts' sum, and per org."""
        schema = Identifier(self.datastore.schema)
        with self.datastore.transaction() as curs:
            curs.execute(SQL("SELECT count(*) AS n FROM {}.{}").format(schema, self._timeline))
            rows = _one(curs.fetchone())
            per_org = SQL(", ").join(
                SQL("coalesce(sum({0}), 0) AS {0}").format(c) for c in self._columns
            )
            curs.execute(
                SQL("SELECT count(*) AS citizens, {} FROM {}.{}").format(
                    per_org, schema, self._counts
                )
            )
            found = curs.fetchone()
            assert found is not None
            by_org = {org: int(found[org]) for org in DEFAULT_ORGANISATIONS.ids}
        return rows, int(found["citizens"]), sum(by_org.values()), by_org


class PerCitizenProjection(Projection[PerCitizenView]):
    """Folds each `CrowdEvent` into the per-citizen view."""

    name = "per_citizen"

    @singledispatchmethod
    def process_event(self, domain_event: Any, tracking: Tracking) -> None:
        """Track an event the view does not fold (the crowd has none)."""
        self.view.insert_tracking(tracking)

    @process_event.register
    def _(self, domain_event: CrowdEvent, tracking: Tracking) -> None:
        self.view.fold(domain_event, tracking)


async def run(ctx: BenchContext) -> list[Measurement]:
    """Measure the peer's projection catching up with the crowd, in events per second."""
    return await asyncio.to_thread(_catch_up, ctx)


def _catch_up(ctx: BenchContext) -> list[Measurement]:
    env = _env(ctx.peer_url)
    seeded, by_org, last_id = seed(ctx.peer_url, env, ctx.size(PROJECTION_EVENTS.name))
    with as_projection_process():
        caught_up = catch_up(env, seeded, by_org, last_id)
    rate = per_second(caught_up.count, caught_up.seconds)
    return [Measurement(CATCH_UP, CATCH_UP_LABEL, "events/s", "peer", rate)]


def _env(url: str) -> dict[str, str]:
    """Return the environment the peer's application and view are configured from."""
    params = connection_params(url)
    return {
        "PERSISTENCE_MODULE": "eventsourcing.postgres",
        **{f"POSTGRES_{name.upper()}": value for name, value in params.items()},
        "POSTGRES_SCHEMA": _SCHEMA,
        # one INSERT through a stored function per seeding batch: the default pipeline
        # deadlocks on large batches (see bench/peer_eventsourcing.py); reading is the same
        "POSTGRES_ENABLE_DB_FUNCTIONS": "y",
    }


def seed(url: str, env: dict[str, str], events: int) -> tuple[Seeded, dict[OrgId, int], int]:
    """Store the crowd as `CrowdLogs`' events (untimed); return what was stored, how many
    events per organisation, and the last notification id."""
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute(SQL("CREATE SCHEMA IF NOT EXISTS {}").format(Identifier(_SCHEMA)))
    people, logs = _crowd_events(events)
    app = CrowdLogs(env=env)
    try:
        stored = [app.mapper.to_stored_event(e) for e in _interleaved(list(logs.values()))]
        for start in range(0, len(stored), _SEED_BATCH):
            app.recorder.insert_events(stored[start : start + _SEED_BATCH])
        last_id = app.recorder.max_notification_id()
    finally:
        app.close()
    if last_id != len(stored):  # ids are 1..n when no insert failed
        raise RuntimeError(f"the peer's application holds {last_id} events, not {len(stored)}")
    print(
        f"  peer: seeded {len(stored):,} events making {people:,} citizens",
        file=sys.stderr, flush=True,
    )  # fmt: skip
    by_org = {org: len(log) for org, log in logs.items()}
    return Seeded(len(stored), crowd.citizens_in(people)), by_org, last_id


def catch_up(env: dict[str, str], seeded: Seeded, by_org: dict[OrgId, int], last_id: int) -> Run:
    """Run the projection from an empty view until it has tracked `last_id`; check the view."""
    timeout = max(120.0, seeded.events / 100)  # a hundred events a second at the very least
    settle()
    start = time.perf_counter()
    with ProjectionRunner(
        application_class=CrowdLogs, projection_class=PerCitizenProjection,
        view_class=PerCitizenView, env=env,
    ) as runner:  # fmt: skip
        try:
            runner.wait(last_id, timeout=timeout)
            # `wait` polls the tracking table, sleeping up to 0.8 s between looks: the time
            # is taken at the last fold's commit instead
            seconds = runner.view.last_commit - start
            _check_view(runner.view, seeded, by_org, last_id)
        finally:
            runner.view.datastore.close()
    return Run(seeded.events, seconds)


def _check_view(
    view: PerCitizenView, seeded: Seeded, by_org: dict[OrgId, int], last_id: int
) -> None:
    rows, citizens, counted, counted_by_org = view.totals()
    tracked = view.max_tracking_id(CrowdLogs.name)
    expected = (seeded.events, seeded.citizens, seeded.events, dict(by_org), last_id)
    found = (rows, citizens, counted, counted_by_org, tracked)
    if found != expected:
        raise RuntimeError(
            "the peer's view holds (timeline rows, citizens, counts, counts per organisation,"
            f" tracked id) {found}, not {expected}"
        )


def _crowd_events(events: int) -> tuple[int, dict[OrgId, list[CrowdEvent]]]:
    """Return how many people, and each organisation's log as `CrowdEvent`s, in log order."""
    logs: dict[OrgId, list[CrowdEvent]] = {org: [] for org in DEFAULT_ORGANISATIONS.ids}
    people = 0
    for nhs_number, person in crowd.people_of_events(events):
        for org, person_events in person.items():
            logs[org].extend(
                CrowdEvent(
                    originator_id=uuid5(NAMESPACE_URL, f"{org}/{e.stream_id}"),
                    originator_version=e.version, timestamp=e.envelope.recorded_at,
                    citizen=nhs_number, org=org, event_id=e.envelope.event_id,
                    type=e.envelope.type, occurred_at=e.envelope.occurred_at,
                )
                for e in person_events
            )  # fmt: skip
        people += 1
    return people, logs


def _interleaved(logs: Sequence[Sequence[CrowdEvent]]) -> Iterator[CrowdEvent]:
    """Yield the logs' events one from each in turn, each log in its own order."""
    for events in itertools.zip_longest(*logs):
        yield from (e for e in events if e is not None)


def _one(row: dict[str, Any] | None) -> int:
    assert row is not None
    return int(row["n"])
