"""Retracting an event entered in error over HTTP: the case reads as if it had not been, the
caseload follows, and what cannot be retracted is refused naming why."""

import urllib.parse
import uuid

import httpx

from tests.integration.organisation.running_services import RunningService, eventually
from tests.integration.organisation.sample_requests import (
    KEY_WORKER,
    at_risk,
    event,
    field_rules,
    open_case,
)

RISK_TO_STAFF = event("flag.raised", flag="risk_to_staff")


async def _retract(
    service: RunningService, case_id: str, event_id: str, reason: str = "x"
) -> httpx.Response:
    return await service.post(
        f"/v1/cases/{case_id}/events/{event_id}/entered-in-error", {"reason": reason}
    )


async def test_a_flag_raised_in_error_goes_and_a_close_in_error_reopens_the_case(
    housing: RunningService,
) -> None:
    case_id = await open_case(housing)
    flagged = await housing.post(f"/v1/cases/{case_id}/events", RISK_TO_STAFF)
    assert flagged.status_code == 201, flagged.text
    assert (await housing.get(f"/v1/cases/{case_id}")).json()["flags"] == ["risk_to_staff"]

    retracted = await _retract(housing, case_id, flagged.json()["event_id"], "wrong tenant")
    assert retracted.status_code == 201, retracted.text
    case = (await housing.get(f"/v1/cases/{case_id}")).json()
    assert (case["flags"], case["version"]) == ([], 3)

    closed = await housing.post(f"/v1/cases/{case_id}/close", {"outcome": "Moved away"})
    assert closed.status_code == 200, closed.text
    [close_event] = await housing.pool.fetch(
        f"SELECT event_id FROM {housing.schema}.events WHERE stream_id = $1"  # noqa: S608
        " AND type = 'case.closed'",
        f"case-{case_id}",
    )
    reopened = await _retract(housing, case_id, str(close_event["event_id"]), "he did not move")
    assert reopened.status_code == 201, reopened.text
    assert (await housing.get(f"/v1/cases/{case_id}")).json()["status"] == "open"
    again = await housing.post(f"/v1/cases/{case_id}/events", at_risk(risk="rent_arrears"))
    assert again.status_code == 201, again.text

    async def listed_open() -> bool | None:  # the caseload follows the log, moments later
        page = (await housing.get("/v1/cases?status=open&limit=100")).json()
        return case_id in {item["case_id"] for item in page["items"]} or None

    assert await eventually(listed_open)


async def test_what_cannot_be_retracted_is_refused_naming_why(housing: RunningService) -> None:
    case_id = await open_case(housing)
    events = await housing.pool.fetch(
        f"SELECT event_id, type FROM {housing.schema}.events WHERE stream_id = $1",  # noqa: S608
        f"case-{case_id}",
    )
    [opening] = [str(row["event_id"]) for row in events if row["type"] == "case.opened"]
    flagged = (
        await housing.post(f"/v1/cases/{case_id}/events", at_risk(risk="rent_arrears"))
    ).json()["event_id"]
    retraction = (await _retract(housing, case_id, flagged)).json()["event_id"]

    for event_id in (opening, flagged, retraction):  # the opening, twice, a retraction
        refused = await _retract(housing, case_id, event_id)
        assert refused.status_code == 409, refused.text
        assert refused.json()["error"]["code"] == "not_retractable"
    unknown = await _retract(housing, case_id, str(uuid.uuid4()))
    assert unknown.status_code == 404
    no_reason = await housing.post(f"/v1/cases/{case_id}/events/{flagged}/entered-in-error", {})
    assert field_rules(no_reason) == {("body.reason", "missing")}


async def test_a_key_worker_assigned_in_error_hands_the_caseload_back(
    voluntary: RunningService,
) -> None:
    """Assigned to the wrong worker, then retracted: the case is in the first worker's
    caseload again, not the other's (the list follows the log, moments later)."""
    case_id = await open_case(voluntary)
    other = {"name": f"Wrong Worker {uuid.uuid4().hex[:6]}", "email": "wrong@example.org"}
    assigned = await voluntary.post(
        f"/v1/cases/{case_id}/events", event("voluntary.key_worker_assigned", key_worker=other)
    )
    assert assigned.status_code == 201, assigned.text

    async def led_by(name: str) -> bool | None:
        query = urllib.parse.urlencode({"key_worker": name, "limit": 100})
        page = (await voluntary.get(f"/v1/cases?{query}")).json()
        return case_id in {item["case_id"] for item in page["items"]} or None

    assert await eventually(lambda: led_by(other["name"]))
    retracted = await _retract(voluntary, case_id, assigned.json()["event_id"], "wrong case")
    assert retracted.status_code == 201, retracted.text
    assert await eventually(lambda: led_by(KEY_WORKER["name"]))
    assert not await led_by(other["name"])
    assert (await voluntary.get(f"/v1/cases/{case_id}")).json()["key_worker"]["name"] == (
        KEY_WORKER["name"]
    )


async def test_a_note_retracted_with_its_values_is_erased_where_it_is_stored(
    housing: RunningService,
) -> None:
    """Raised on the wrong person with a note about someone else: retracted with
    `erase_values`, the note is erased in place in the store; the case goes on (its
    versions count the event still), and the retraction cannot be repeated."""
    case_id = await open_case(housing)
    note = "the neighbour's dog bit the officer"
    flagged = await housing.post(
        f"/v1/cases/{case_id}/events", event("flag.raised", flag="risk_to_staff", note=note)
    )
    assert flagged.status_code == 201, flagged.text
    kept = await housing.post(
        f"/v1/cases/{case_id}/events", event("flag.raised", flag="interpreter_needed", note="x")
    )
    flag_id = flagged.json()["event_id"]
    loose = await housing.post(
        f"/v1/cases/{case_id}/events/{flag_id}/entered-in-error",
        {"reason": "wrong person", "erase_values": "yes"},
    )  # erasing is not undone: only a JSON true asks for it
    assert field_rules(loose) == {("body.erase_values", "bool_type")}, loose.text
    retracted = await housing.post(
        f"/v1/cases/{case_id}/events/{flag_id}/entered-in-error",
        {"reason": "wrong person", "erase_values": True},
    )
    assert retracted.status_code == 201, retracted.text

    stored = await housing.pool.fetch(
        f"SELECT event_id::text, type, data FROM {housing.schema}.events"  # noqa: S608
        " WHERE stream_id = $1",
        f"case-{case_id}",
    )
    data = {row["event_id"]: row["data"] for row in stored}
    assert data[flag_id]["note"] == {"$erased": True}
    assert data[kept.json()["event_id"]]["note"] == "x"  # only that one (unsealed here)
    [retraction] = [row["data"] for row in stored if row["type"] == "event.entered_in_error"]
    assert retraction["values_erased"] is True

    case = (await housing.get(f"/v1/cases/{case_id}")).json()
    assert (case["flags"], case["version"]) == (["interpreter_needed"], 4)
    again = await _retract(housing, case_id, flag_id)
    assert again.status_code == 409, again.text
    later = await housing.post(f"/v1/cases/{case_id}/events", at_risk(risk="rent_arrears"))
    assert later.status_code == 201, later.text
