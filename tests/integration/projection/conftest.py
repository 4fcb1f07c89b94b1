"""Three organisations' real event stores and a projection reading them, in fresh schemas."""

import asyncio
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import pytest

from events.envelope import Envelope, OrgId
from events.organisations import DEFAULT_ORGANISATIONS
from services.projection.adapters.postgres_unit_of_work import PostgresUnitOfWork, postgres_units
from services.projection.adapters.queries import CitizenQueries
from services.projection.adapters.read_model_schema import CONSUMER, prepare_read_model
from services.projection.bootstrap import run_projection_worker
from services.projection.service_layer.log_projection import ProjectionConsumer
from services.runtime.checkpoints import Checkpoints
from services.runtime.consumer_lag import LogLag
from services.runtime.database import Pool, apply_ddl, transaction
from services.runtime.event_log import PostgresEventLog
from services.runtime.event_store import EventStore
from services.runtime.event_store_schema import event_store_ddl
from services.runtime.person_keys import PersonKeys
from services.runtime.subscription import catch_up

ID_SECRET = b"integration test secret"
Snapshot = tuple[dict[str, Any], dict[str, Any], dict[str, Any]]


@dataclass
class Organisations:
    """Each organisation's event store, and the projection schema that reads them all."""

    pool: Pool
    sources: dict[OrgId, str]
    schema: str
    keys: PersonKeys | None = None  # seal personal values with each person's key

    async def record(self, events: Sequence[Envelope]) -> None:
        """Append each event to its organisation's store, one transaction each, person streams."""
        for envelope in events:
            store = EventStore(self.sources[envelope.org], keys=self.keys)
            stream_id = f"person-{envelope.subject}"
            async with transaction(self.pool) as conn:
                version = await store.stream_version(conn, stream_id)
                await store.append(
                    conn, stream_id=stream_id, expected_version=version, events=[envelope]
                )

    async def record_logs(
        self, logs: Mapping[OrgId, Sequence[Envelope]], chunk: int = 5000
    ) -> None:
        """Append whole logs of new people quickly: each organisation in a few big transactions."""
        for org, events in logs.items():
            store = EventStore(self.sources[org], keys=self.keys)
            for first in range(0, len(events), chunk):
                streams: dict[str, list[Envelope]] = {}
                for envelope in events[first : first + chunk]:
                    streams.setdefault(f"person-{envelope.subject}", []).append(envelope)
                async with transaction(self.pool) as conn:
                    versions = {s: await store.stream_version(conn, s) for s in streams}
                    await store.append_many(conn, [(s, versions[s], e) for s, e in streams.items()])

    def units(
        self, schema: str | None = None, *, decisions_schema: str | None = None
    ) -> Callable[[], PostgresUnitOfWork]:
        """Return a maker of units of work over the read model in `schema` (default ours)."""
        return postgres_units(
            self.pool, schema or self.schema, keys=self.keys, decisions_schema=decisions_schema
        )

    def consumer(
        self, schema: str | None = None, *, decisions_schema: str | None = None, **options: Any
    ) -> ProjectionConsumer:
        """Return a projection consumer of these organisations (into `schema`, default ours)."""
        units = self.units(schema, decisions_schema=decisions_schema)
        return ProjectionConsumer(units, id_secret=ID_SECRET, **options)

    def logs(self) -> list[PostgresEventLog]:
        """Return every organisation's log."""
        return [
            PostgresEventLog(self.pool, source=org, schema=s) for org, s in self.sources.items()
        ]

    def start_worker(self, database_url: str, stop: asyncio.Event) -> asyncio.Task[None]:
        """Start the projection worker over these logs in the background, until `stop`."""
        return asyncio.create_task(
            run_projection_worker(
                database_url=database_url,
                sources=self.sources,
                schema=self.schema,
                id_secret=ID_SECRET,
                stop=stop,
            )
        )

    async def catch_up(self, consumer: ProjectionConsumer | None = None) -> int:
        """Consume every log to its end; return the events handled.

        With our own consumer, until no log holds an event after its checkpoint: a log's
        reader holds back events of transactions newer than one still open anywhere in the
        database (gap safety), so one pass may stop short while another test's work runs."""
        if consumer is not None:
            return await catch_up(consumer, self.logs())
        consumer, handled = self.consumer(), 0
        lag = LogLag(self.pool, schema=self.schema, consumer=CONSUMER, logs=dict(self.sources))
        deadline = time.monotonic() + 10
        while True:
            handled += await catch_up(consumer, self.logs())
            if not any((await lag.events_behind()).values()) or time.monotonic() > deadline:
                return handled
            await asyncio.sleep(0.05)

    def queries(self, schema: str | None = None) -> CitizenQueries:
        """Return the read side of the projection (in `schema`, default ours)."""
        return CitizenQueries(self.pool, schema=schema or self.schema, keys=self.keys)

    async def reset_checkpoints(self) -> None:
        """Send the projection back to the start of every log, keeping its tables."""
        async with transaction(self.pool) as conn:
            await Checkpoints(self.schema, consumer=CONSUMER).reset(conn)

    async def snapshot(self, schema: str | None = None) -> Snapshot:
        """Return every view, timeline and person link in a projection schema, by citizen."""
        s = schema or self.schema
        rows = await self.pool.fetch(f"SELECT citizen_id, view FROM {s}.citizens")  # noqa: S608
        views = {str(row["citizen_id"]): row["view"] for row in rows}
        timelines = {}
        for row in rows:
            page = await self.queries(s).timeline(row["citizen_id"], limit=1000, offset=0)
            assert page is not None
            timelines[str(row["citizen_id"])] = page.model_dump(mode="json")
        links = await self.pool.fetch(f"SELECT org, person_id, citizen_id FROM {s}.person_links")  # noqa: S608
        return (
            views,
            timelines,
            {f"{r['org']}/{r['person_id']}": str(r["citizen_id"]) for r in links},
        )

    async def reference(self, unique_schema: Callable[[str], str]) -> Snapshot:
        """Return what a healthy projection built from scratch in a fresh schema shows."""
        schema = unique_schema("ref")
        await prepare_read_model(self.pool, schema)
        await catch_up(self.consumer(schema), self.logs())
        return await self.snapshot(schema)


@pytest.fixture
async def orgs(pool: Pool, unique_schema: Callable[[str], str]) -> Organisations:
    """Housing, mental health and voluntary stores with no events yet, and a projection."""
    return await new_organisations(pool, unique_schema)


async def new_organisations(
    pool: Pool, unique_schema: Callable[[str], str], *, keys: PersonKeys | None = None
) -> Organisations:
    """Return three organisations' empty stores and a projection, in fresh schemas."""
    sources = {org: unique_schema(org[:3]) for org in DEFAULT_ORGANISATIONS.ids}
    for schema in sources.values():
        await apply_ddl(pool, lock_name=schema, statements=event_store_ddl(schema))
    schema = unique_schema("proj")
    await prepare_read_model(pool, schema)
    return Organisations(pool, sources, schema, keys=keys)


async def eventually(condition: Callable[[], Any], *, within: float = 10, what: str = "") -> Any:
    """Await `condition()` until it returns something truthy; return that, or fail."""
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        result = await condition()
        if result:
            return result
        await asyncio.sleep(0.02)
    raise AssertionError(f"timed out waiting for {what or 'condition'}")
