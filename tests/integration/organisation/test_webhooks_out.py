"""Webhooks out: a charity's own system learns of a referral made to it without polling.
A local receiver that fails, then succeeds; signed the Standard Webhooks way; given up on
after a day and parked, then redriven by ops."""

import asyncio
import base64
import contextlib
import os
import socket
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import uvicorn
from fastapi import FastAPI, Request, Response
from standardwebhooks import Webhook

from services.organisation.adapters.sources_file import load_sources
from services.organisation.adapters.webhook_deliveries import WebhookDeliveries
from services.organisation.adapters.webhook_sender import WebhookSender
from services.organisation.domain.inbound_mapping import Source
from services.organisation.service_layer.outbound import RetryPolicy, deliver_due
from services.runtime.checkpoints import Checkpoints
from services.runtime.event_log import PostgresEventLog
from tests.integration.organisation.running_services import (
    RunningService,
    eventually,
)

MAPPINGS = Path(__file__).parents[3] / "deploy" / "adapters"
SECRET = f"whsec_{base64.b64encode(os.urandom(32)).decode()}"
SOURCE = "eastside_drop_in"


async def _started(server: uvicorn.Server) -> bool | None:
    return server.started or None


class Receiver:
    """A charity's endpoint: answers 503 while `failing`, else checks the signature and keeps
    the notice."""

    def __init__(self) -> None:
        self.failing = True
        self.notices: list[dict[str, Any]] = []
        self.calls = 0
        app = FastAPI()

        @app.post("/caseweave")
        async def take(request: Request) -> Response:
            self.calls += 1
            if self.failing:
                return Response(status_code=503)
            notice = Webhook(SECRET).verify(await request.body(), dict(request.headers))
            self.notices.append(notice)
            return Response(status_code=204)

        self.app = app


@pytest.fixture(scope="module")
async def receiver() -> AsyncIterator[tuple[Receiver, str]]:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    listening = Receiver()
    server = uvicorn.Server(uvicorn.Config(listening.app, port=port, log_level="warning"))
    task = asyncio.create_task(server.serve())
    await eventually(lambda: _started(server), within_seconds=10)
    yield listening, f"http://127.0.0.1:{port}/caseweave"
    server.should_exit = True
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(task, 5)


@pytest.fixture(scope="module")
def sources(
    tmp_path_factory: pytest.TempPathFactory, receiver: tuple[Receiver, str]
) -> dict[str, Source]:
    folder = tmp_path_factory.mktemp("sources")
    (folder / "generic.toml").write_text((MAPPINGS / "generic_json_webhook.toml").read_text())
    (folder / "sources.toml").write_text(
        f'[sources.{SOURCE}]\norg = "voluntary"\nsecrets = ["{SECRET}"]\n'
        f'mapping = "generic.toml"\nendpoint = "{receiver[1]}"\n'
    )
    return load_sources(folder / "sources.toml")


async def _deliver(voluntary: RunningService, sources: dict[str, Source], at: datetime) -> Any:
    sender = WebhookSender()

    async def send(source: Source, message_id: str, notice: dict[str, Any]) -> str | None:
        assert source.endpoint is not None
        sent = await sender.send(source.endpoint, message_id=message_id, notice=notice,
                                 secrets=source.secrets)  # fmt: skip
        return None if sent.taken else sent.why

    try:
        return await deliver_due(
            voluntary.unit_of_work, sources=sources, send=send, now=at,
            policy=RetryPolicy(),
        )  # fmt: skip
    finally:
        await sender.close()


async def _tried_and_failed_once(voluntary: RunningService, referral_id: str) -> Any:
    """Return the referral's delivery once the service's own sender has recorded its failed
    try (waiting for the receiver's call alone races the sender's settling transaction, which
    holds the row a test's round would then skip as taken)."""

    async def recorded() -> list[Any] | None:
        async with voluntary.pool.acquire() as conn:
            rows = await WebhookDeliveries(conn, voluntary.schema).listed(status=None)
        mine = [r for r in rows if r.stream_id == f"referral-{referral_id}"]
        return mine if mine and mine[0].attempts >= 1 else None

    [delivery] = await eventually(recorded, within_seconds=10)
    return delivery


async def test_a_referral_made_to_the_charity_reaches_its_system_once_it_answers(
    housing: RunningService,
    voluntary: RunningService,
    receiver: tuple[Receiver, str],
    sources: dict[str, Source],
) -> None:
    listening, _ = receiver
    listening.failing = True
    family = f"Notified{uuid.uuid4().hex[:6]}"
    person = await housing.post("/v1/people", {
        "given_name": "Ria", "family_name": family, "date_of_birth": "1984-06-01",
        "place": "E05010892",
    })  # fmt: skip
    made = await housing.post("/v1/referrals", {
        "person_id": person.json()["person_id"], "to_org": "voluntary",
        "reason": "needs food this week", "urgency": "urgent",
    })  # fmt: skip
    referral_id = made.json()["referral_id"]

    await _tried_and_failed_once(voluntary, referral_id)  # by the service's own sender
    assert listening.calls >= 1
    assert listening.notices == []
    listening.failing = False
    attempted = await _deliver(voluntary, sources, datetime.now(UTC) + timedelta(minutes=2))
    assert attempted.delivered >= 1
    [notice] = [n for n in listening.notices if n["referral_id"] == referral_id]
    assert (notice["type"], notice["status"], notice["from_org"], notice["urgency"]) == (
        "referral.made_to_you", "received", "housing", "urgent",
    )  # fmt: skip
    assert (notice["reason"], notice["person"]["family_name"]) == ("needs food this week", family)
    again = await _deliver(voluntary, sources, datetime.now(UTC) + timedelta(hours=3))
    assert [n["referral_id"] for n in listening.notices].count(referral_id) == 1  # once
    assert again.delivered == 0


async def test_a_delivery_failing_for_a_day_is_parked_and_ops_can_redrive_it(
    housing: RunningService,
    voluntary: RunningService,
    receiver: tuple[Receiver, str],
    sources: dict[str, Source],
) -> None:
    listening, _ = receiver
    listening.failing = True
    person = await housing.post("/v1/people", {
        "given_name": "Sam", "family_name": f"Parked{uuid.uuid4().hex[:6]}",
        "date_of_birth": "1970-01-02", "place": "E05010892",
    })  # fmt: skip
    made = await housing.post("/v1/referrals", {
        "person_id": person.json()["person_id"], "to_org": "voluntary", "reason": "advice",
    })  # fmt: skip
    referral_id = made.json()["referral_id"]

    delivery = await _tried_and_failed_once(voluntary, referral_id)
    later = datetime.now(UTC) + timedelta(hours=25)
    await _deliver(voluntary, sources, later)
    async with voluntary.pool.acquire() as conn:
        deliveries = WebhookDeliveries(conn, voluntary.schema)
        parked = [
            r
            for r in await deliveries.listed(status="parked")
            if r.delivery_id == delivery.delivery_id
        ]
        assert [r.last_error for r in parked] == ["HTTP 503"]
        assert await deliveries.redrive(delivery.delivery_id, later)
    listening.failing = False
    await _deliver(voluntary, sources, later + timedelta(seconds=1))
    assert referral_id in {n["referral_id"] for n in listening.notices}


async def test_a_consumer_first_started_at_the_head_owes_nothing_for_the_past(
    housing: RunningService, voluntary: RunningService
) -> None:
    """Webhooks out begin where the log is when an endpoint is first configured: the
    referrals before are not sent; those after are."""
    log = PostgresEventLog(voluntary.pool, source="voluntary", schema=voluntary.schema)
    checkpoints = Checkpoints(voluntary.schema, consumer=f"late_{uuid.uuid4().hex[:6]}")
    async with voluntary.pool.acquire() as conn:
        assert await checkpoints.start_at(conn, "voluntary", await log.head())
        assert not await checkpoints.start_at(conn, "voluntary", await log.head())  # once
        after = await checkpoints.lock(conn, "voluntary")
    assert await log.read_after(after, limit=10) == []
    someone = {"given_name": "New", "family_name": "Later", "date_of_birth": "1990-01-01",
               "place": "E05010892"}  # fmt: skip
    await housing.post("/v1/people", someone)  # another organisation's log: not this one's
    await voluntary.post("/v1/people", someone)

    async def new_ones() -> list[Any] | None:
        return await log.read_after(after, limit=10) or None

    assert [e.envelope.type for e in await eventually(new_ones)] == ["person.registered"]
    await log.close()
