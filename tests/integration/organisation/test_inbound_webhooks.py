"""A charity's own system pushes signed webhooks to the voluntary service, mapped by the
shipped generic JSON mapping: what is applied, what is refused (and counted like a failed
login), what is kept in quarantine, and that a re-delivery records nothing new."""

import base64
import json
import os
import uuid
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from uuid import UUID

import httpx
import pytest
from standardwebhooks import Webhook

from services.organisation.adapters.quarantine_rows import quarantine_rows
from services.organisation.adapters.sources_file import load_sources
from services.organisation.domain.inbound_mapping import Source
from services.organisation.domain.recording import Recording
from services.organisation.service_layer.inbound_commands import Applied
from services.organisation.service_layer.quarantine import (
    QuarantineResolved,
    UnknownQuarantine,
    discard,
    quarantined,
    redrive,
)
from services.runtime.http.app_factory import configure_http_limits
from services.runtime.rate_limits import HttpLimits
from tests.integration.organisation.running_services import (
    RunningService,
    eventually,
)

MAPPINGS = Path(__file__).parents[3] / "deploy" / "adapters"
OLD, NEW = (f"whsec_{base64.b64encode(os.urandom(32)).decode()}" for _ in range(2))
SOURCE = "eastside_drop_in"


@pytest.fixture(scope="module")
def sources(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Source]:
    """The shipped generic JSON webhook mapping, for one source with two secrets (one being
    rotated out)."""
    folder = tmp_path_factory.mktemp("sources")
    (folder / "generic_json_webhook.toml").write_text(
        (MAPPINGS / "generic_json_webhook.toml").read_text()
    )
    (folder / "sources.toml").write_text(
        f'[sources.{SOURCE}]\norg = "voluntary"\nsecrets = ["{OLD}", "{NEW}"]\n'
        'mapping = "generic_json_webhook.toml"\n'
    )
    return load_sources(folder / "sources.toml")


def _signed(
    message: dict[str, Any] | bytes,
    *,
    secret: str = NEW,
    message_id: str | None = None,
    at: datetime | None = None,
) -> tuple[bytes, dict[str, str]]:
    body = message if isinstance(message, bytes) else json.dumps(message).encode()
    message_id = message_id or f"msg_{uuid.uuid4().hex}"
    at = at or datetime.now(UTC)
    signature = Webhook(secret).sign(message_id, at, body)
    return body, {
        "webhook-id": message_id,
        "webhook-timestamp": str(int(at.timestamp())),
        "webhook-signature": signature,
        "content-type": "application/json",
    }


async def _push(
    voluntary: RunningService, body: bytes, headers: dict[str, str], source: str = SOURCE
) -> httpx.Response:
    return await voluntary.client.post(f"/v1/inbound/{source}", content=body, headers=headers)


def _client(ref: str, **more: Any) -> dict[str, Any]:
    return {
        "event": "client.created",
        "client": {"id": ref, "first_name": "Jo", "last_name": f"Webhook{ref}",
                   "dob": "03/04/1990", "postcode": "BS5 6XX", **more},
    }  # fmt: skip


async def test_a_charitys_messages_register_open_record_and_close_in_its_own_terms(
    voluntary: RunningService,
) -> None:
    ref, case_ref = f"C-{uuid.uuid4().hex[:6]}", f"K-{uuid.uuid4().hex[:6]}"
    registered = await _push(voluntary, *_signed(_client(ref)))
    assert registered.status_code == 200, registered.text
    assert registered.json()["command"] == "register_person"
    person_id = registered.json()["person_id"]
    person = (await voluntary.get(f"/v1/people/{person_id}")).json()
    assert (person["local_id"], person["date_of_birth"]) == (ref, "1990-04-03")  # day first

    opened = await _push(voluntary, *_signed({
        "event": "case.opened", "client": {"id": ref},
        "case": {"id": case_ref, "reason": "food", "worker": "Jo Reid"},
    }))  # fmt: skip
    assert opened.status_code == 200, opened.text
    case_id = opened.json()["case_id"]
    logged = {
        "event": "session.logged",
        "client": {"id": ref},
        "case": {"id": case_ref},
        "session": {"type": "1-1", "minutes": 45},
    }
    session = await _push(voluntary, *_signed(logged, secret=OLD))  # the old secret still works
    assert session.status_code == 200, session.text
    case = (await voluntary.get(f"/v1/cases/{case_id}")).json()
    assert case["key_worker"]["name"] == "Jo Reid"
    assert case["version"] == 2
    moved = await _push(voluntary, *_signed(_client(ref, postcode="BS1 4DJ")))
    assert moved.json()["command"] == "update_person"  # known by its id: only what changed
    assert (await voluntary.get(f"/v1/people/{person_id}")).json()["postcode"] == "BS1 4DJ"
    ending = {"event": "case.closed", "client": {"id": ref},
              "case": {"id": case_ref, "outcome": "back in work"}}  # fmt: skip
    closed = await _push(voluntary, *_signed(ending))
    assert closed.status_code == 200, closed.text
    assert (await voluntary.get(f"/v1/cases/{case_id}")).json()["status"] == "closed"


async def test_a_redelivery_records_nothing_new_and_gets_the_first_answer(
    voluntary: RunningService,
) -> None:
    body, headers = _signed(_client(f"C-{uuid.uuid4().hex[:6]}"))
    first = await _push(voluntary, body, headers)
    before = await voluntary.count_events()
    again = await _push(voluntary, body, {**_signed(body, message_id=headers["webhook-id"])[1]})
    assert (again.status_code, again.json()) == (first.status_code, first.json())
    assert again.headers["Idempotent-Replayed"] == "true"
    assert await voluntary.count_events() == before
    other = _signed(_client("C-other"), message_id=headers["webhook-id"])
    reused = await _push(voluntary, *other)
    assert (reused.status_code, reused.json()["error"]["code"]) == (422, "idempotency_key_reused")


@pytest.mark.parametrize(
    "attack",
    ["wrong secret", "stale", "future", "tampered", "no headers", "unknown source", "not v1"],
)
async def test_a_message_that_does_not_verify_is_401_and_writes_nothing(
    voluntary: RunningService, attack: str
) -> None:
    body, headers = _signed(_client(f"C-{uuid.uuid4().hex[:6]}"))
    source = SOURCE
    if attack == "wrong secret":
        body, headers = _signed(
            _client("C-1"), secret=f"whsec_{base64.b64encode(os.urandom(32)).decode()}"
        )
    elif attack == "stale":
        body, headers = _signed(_client("C-1"), at=datetime.now(UTC) - timedelta(minutes=6))
    elif attack == "future":
        body, headers = _signed(_client("C-1"), at=datetime.now(UTC) + timedelta(minutes=6))
    elif attack == "tampered":
        body = body.replace(b"Jo", b"Al")
    elif attack == "no headers":
        headers = {"content-type": "application/json"}
    elif attack == "unknown source":
        source = "westside"
    else:
        headers["webhook-signature"] = headers["webhook-signature"].replace("v1,", "v2,")
    before = await voluntary.count_events()
    refused = await _push(voluntary, body, headers, source)
    assert (refused.status_code, refused.json()["error"]["code"]) == (401, "unverified"), attack
    assert await voluntary.count_events() == before


async def test_failed_signatures_count_against_the_address_like_failed_logins(
    voluntary: RunningService,
) -> None:
    configure_http_limits(
        voluntary.app, HttpLimits(auth_failures_per_minute=2, auth_failures_burst=2)
    )
    try:
        answers = [
            (await _push(voluntary, *_signed(_client("C-1"), secret=OLD[:-4] + "AAAA"))).status_code
            for _ in range(4)
        ]
        assert answers[:2] == [401, 401]
        assert answers[-1] == 429
        blocked = await _push(voluntary, *_signed(_client(f"C-{uuid.uuid4().hex[:6]}")))
        assert blocked.status_code == 429  # a good one too, until the address slows down
    finally:
        configure_http_limits(
            voluntary.app, HttpLimits(rate_per_minute=1_000_000, rate_burst=100_000)
        )


async def test_what_cannot_be_applied_is_quarantined_with_field_and_rule_and_nothing_half_done(
    voluntary: RunningService,
) -> None:
    ref = f"C-{uuid.uuid4().hex[:6]}"
    cases = [
        ({"event": "invoice.paid", "client": {"id": ref}}, "event", "unknown_kind"),
        (_client(ref, dob="1990-04-03"), "client.dob", "date_format"),
        (
            {
                "event": "session.logged",
                "client": {"id": "C-nobody"},
                "case": {"id": "K-1"},
                "session": {"type": "1-1", "minutes": 45},
            },
            "client.id",
            "unknown_person",
        ),
        (
            {
                "event": "food.given",
                "client": {"id": ref},
                "case": {"id": "K-1"},
                "food": {"type": "PIZZA"},
            },
            "food.type",
            "unknown_code",
        ),
        (_client(ref, first_name=""), "given_name", "missing"),
    ]
    for message, field, rule in cases:
        before = await voluntary.count_events()
        kept = await _push(voluntary, *_signed(message))
        assert kept.status_code == 202, kept.text
        assert (kept.json()["status"], kept.json()["field"], kept.json()["rule"]) == (
            "quarantined", field, rule,
        ), message  # fmt: skip
        assert await voluntary.count_events() == before + 1  # the quarantine record only


async def test_the_openapi_says_how_a_source_signs_not_a_bearer_key(
    voluntary: RunningService,
) -> None:
    document = (await voluntary.get("/openapi.json")).json()
    operation = document["paths"]["/v1/inbound/{source}"]["post"]
    assert operation["security"] == []
    assert {"webhook-id", "webhook-timestamp", "webhook-signature"} <= {
        p["name"] for p in operation["parameters"]
    }
    assert {"200", "202", "401", "429"} <= set(operation["responses"])


async def test_a_quarantined_message_is_applied_once_the_mapping_is_fixed_or_discarded(
    voluntary: RunningService, sources: dict[str, Source]
) -> None:
    """Ops list what is held, fix the mapping (a code the charity added), redrive: applied
    once; a second redrive is refused. A message never to apply is discarded: shredded."""
    ref, case_ref = f"C-{uuid.uuid4().hex[:6]}", f"K-{uuid.uuid4().hex[:6]}"
    await _push(voluntary, *_signed(_client(ref)))
    opening = {"event": "case.opened", "client": {"id": ref},
               "case": {"id": case_ref, "reason": "food", "worker": "Jo Reid"}}  # fmt: skip
    await _push(voluntary, *_signed(opening))
    meal = {"event": "food.given", "client": {"id": ref}, "case": {"id": case_ref},
            "food": {"type": "HAMPER"}}  # fmt: skip
    kept = (await _push(voluntary, *_signed(meal))).json()
    junk = (await _push(voluntary, *_signed({"event": "spam", "client": {"id": ref}}))).json()
    async with voluntary.pool.acquire() as conn:
        held = await quarantine_rows(conn, voluntary.schema, source=SOURCE)
    assert {str(r.quarantine_id) for r in held} >= {kept["quarantine_id"], junk["quarantine_id"]}

    source = sources[SOURCE]
    food = source.mapping.kinds["food.given"]
    fixed_codes = {**food.codes, "kind": {**food.codes["kind"], "HAMPER": "food_parcel"}}
    fixed_kinds = {
        **source.mapping.kinds,
        "food.given": food.model_copy(update={"codes": fixed_codes}),
    }
    fixed = replace(source, mapping=source.mapping.model_copy(update={"kinds": fixed_kinds}))
    quarantine_id = UUID(kept["quarantine_id"])
    async with voluntary.unit_of_work() as uow:
        outcome = await redrive(uow, source=fixed, quarantine_id=quarantine_id, recording=_ops())
        await uow.commit()
    assert isinstance(outcome, Applied)
    assert outcome.command == "record_event"
    case = (await voluntary.get(f"/v1/cases/{outcome.case_id}")).json()
    assert case["version"] == 2  # opened, food given: once
    async with voluntary.unit_of_work() as uow:
        with pytest.raises(QuarantineResolved):
            await redrive(uow, source=fixed, quarantine_id=quarantine_id, recording=_ops())

    spam = UUID(junk["quarantine_id"])
    async with voluntary.unit_of_work() as uow:
        await discard(uow, quarantine_id=spam, reason="not a message for us", place="E1",
                      recording=_ops())  # fmt: skip
        await uow.commit()
    async with voluntary.unit_of_work() as uow:
        try:  # its contents shredded: sealed, the whole record reads as erased
            gone = await quarantined(uow, spam)
        except UnknownQuarantine:
            gone = None
    assert gone is None or (gone.status, gone.message, gone.detail) == ("discarded", None, None)
    async with voluntary.pool.acquire() as conn:
        every = {r.quarantine_id: r.status for r in await quarantine_rows(
            conn, voluntary.schema, source=SOURCE, settled_too=True)}  # fmt: skip
    assert (every[quarantine_id], every[spam]) == ("redriven", "discarded")


def _ops() -> Recording:
    return Recording(
        org="voluntary", actor="voluntary/operator/test", correlation_id=str(uuid.uuid4()),
        recorded_at=datetime.now(UTC),
    )  # fmt: skip


async def test_a_signed_body_that_is_not_a_json_object_is_refused_saying_why(
    voluntary: RunningService,
) -> None:
    for body, content_type, status, rule in (
        (b'{"event": ', "application/json", 400, "json"),
        (b"[1, 2]", "application/json", 422, "json_object"),
        (b'{"event": "x"}', "text/plain", 415, "json_media_type"),
    ):
        _, headers = _signed(body)
        answer = await _push(voluntary, body, {**headers, "content-type": content_type})
        assert answer.status_code == status, (body, answer.text)
        assert answer.json()["error"]["fields"][0]["rule"] == rule


async def test_the_charitys_system_accepts_a_referral_and_goes_on_with_its_own_ids(
    housing: RunningService, voluntary: RunningService
) -> None:
    """Housing refers someone; the charity's system accepts it (naming its client and case
    ids and the worker): the case opens under the charity's case id, the person is known by
    its client id, and its next messages about them apply; housing learns it was accepted."""
    person = await housing.post("/v1/people", {
        "given_name": "Ria", "family_name": f"Referred{uuid.uuid4().hex[:6]}",
        "date_of_birth": "1984-06-01", "place": "E05010892",
    })  # fmt: skip
    made = await housing.post("/v1/referrals", {
        "person_id": person.json()["person_id"], "to_org": "voluntary", "reason": "food",
    })  # fmt: skip
    referral_id = made.json()["referral_id"]

    async def received() -> bool | None:
        return (await voluntary.get(f"/v1/referrals/{referral_id}")).status_code == 200 or None

    await eventually(received)
    ref, case_ref = f"C-{uuid.uuid4().hex[:6]}", f"K-{uuid.uuid4().hex[:6]}"
    accepted = await _push(voluntary, *_signed({
        "event": "referral.accepted", "referral": {"id": referral_id, "worker": "Jo Reid"},
        "client": {"id": ref}, "case": {"id": case_ref},
    }))  # fmt: skip
    assert accepted.status_code == 200, accepted.text
    assert accepted.json()["command"] == "accept_referral"
    session = await _push(voluntary, *_signed({
        "event": "session.logged", "client": {"id": ref}, "case": {"id": case_ref},
        "session": {"type": "1-1", "minutes": 30},
    }))  # fmt: skip
    assert session.status_code == 200, session.text
    assert session.json()["case_id"] == accepted.json()["case_id"]

    async def answered() -> bool | None:
        sent = (await housing.get(f"/v1/referrals/{referral_id}")).json()
        return sent["status"] == "accepted" or None

    await eventually(answered)
    declined_twice = await _push(voluntary, *_signed({
        "event": "referral.declined", "referral": {"id": referral_id, "reason": "full"},
    }))  # fmt: skip
    assert (declined_twice.status_code, declined_twice.json()["rule"]) == (
        202, "referral_already_decided",
    )  # fmt: skip
    not_ours = await _push(voluntary, *_signed({
        "event": "referral.declined", "referral": {"id": "R-12", "reason": "full"},
    }))  # fmt: skip
    assert (not_ours.json()["field"], not_ours.json()["rule"]) == ("referral.id", "uuid")


async def test_ops_see_what_waits_in_quarantine_on_metrics(voluntary: RunningService) -> None:
    kept = await _push(voluntary, *_signed({"event": "nonsense", "client": {"id": "C-9"}}))
    assert kept.status_code == 202
    scraped = (await voluntary.client.get("/metrics")).text
    [held] = [
        line for line in scraped.splitlines()
        if line.startswith('caseweave_adapter_backlog{org="voluntary",what="quarantine_held"}')
    ]  # fmt: skip
    assert float(held.rsplit(" ", 1)[1]) >= 1
    assert 'what="webhooks_parked"' in scraped
    assert "C-9" not in scraped  # counts, nothing of the messages
