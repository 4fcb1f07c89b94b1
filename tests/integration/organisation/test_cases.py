"""Cases over HTTP: opened, written to and closed; bad input named and never written."""

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from tests.integration.organisation.running_services import KEY_WORKER, RunningService
from tests.integration.organisation.sample_requests import (
    at_risk,
    event,
    field_rules,
    open_case,
    registered,
    with_fields,
)


async def test_a_case_is_opened_written_to_and_closed(housing: RunningService) -> None:
    """The story of a case: each step answers with ids and versions, and reads back."""
    person_id = await registered(housing)
    opening = {"reason": "Rent arrears", "key_worker": KEY_WORKER}
    opened = await housing.post(f"/v1/people/{person_id}/cases", opening)
    case_id = opened.json()["case_id"]
    assert (opened.status_code, opened.json()) == (201, {"case_id": case_id, "version": 1})
    events = [
        at_risk(risk="rent_arrears", arrears_amount="412.50"),
        event("housing.eviction_notice_served", notice="section_21", served_on="2025-03-01"),
        with_fields(event("flag.raised", flag="risk_to_staff"), occurred_at="2025-03-02T09:00Z"),
    ]
    answers = [await housing.post(f"/v1/cases/{case_id}/events", body) for body in events]
    assert [(a.status_code, a.json()["version"]) for a in answers] == [(201, 2), (201, 3), (201, 4)]
    case = (await housing.get(f"/v1/cases/{case_id}")).json()
    assert (case["status"], case["version"], case["flags"]) == ("open", 4, ["risk_to_staff"])
    assert (case["person_id"], case["key_worker"]["name"]) == (person_id, "Sam Okafor")

    closed = await housing.post(f"/v1/cases/{case_id}/close", {"outcome": "Tenancy sustained"})
    assert closed.json() == {"case_id": case_id, "status": "closed", "version": 5}
    case = (await housing.get(f"/v1/cases/{case_id}")).json()
    assert (case["status"], case["outcome"], bool(case["closed_at"])) == (
        "closed",
        "Tenancy sustained",
        True,
    )


async def test_a_closed_case_takes_no_more_events(housing: RunningService) -> None:
    """Recording on or closing a closed case is a 409, and writes nothing."""
    case_id = await open_case(housing)
    await housing.post(f"/v1/cases/{case_id}/close", {"outcome": "Done"})
    event = {"type": "flag.raised", "data": {"flag": "risk_to_staff"}}
    recorded = await housing.post(f"/v1/cases/{case_id}/events", event)
    again = await housing.post(f"/v1/cases/{case_id}/close", {"outcome": "Done"})
    assert (recorded.status_code, recorded.json()["error"]["code"]) == (409, "case_closed")
    assert again.status_code == 409
    assert await housing.count_events(f"case-{case_id}") == 2


IN_SIX_HOURS = (datetime.now(UTC) + timedelta(hours=6)).isoformat()  # far enough for a slow run


OTHER_RISK = at_risk(risk="other")
PLACED_ON_2_MARCH = event(
    "housing.temporary_accommodation_placed", accommodation="hostel", placed_on="2025-03-02"
)


@pytest.mark.parametrize(
    ("body", "field", "rule"),
    [
        (event("housing.nope"), "body.type", "unknown_event_type"),
        (
            event("mental_health.discharged", destination="gp_care"),
            "body.type",
            "unknown_event_type",
        ),
        (event("case.closed", outcome="x"), "body.type", "unknown_event_type"),
        ({"data": {}}, "body.type", "missing"),
        (
            at_risk(risk="other", arrears_amount="lots"),
            "body.data.arrears_amount",
            "decimal_parsing",
        ),
        (at_risk(risk=7), "body.data.risk", "literal_error"),
        (at_risk(), "body.data.risk", "missing"),
        (at_risk(risk="other", colour="red"), "body.data.colour", "extra_forbidden"),
        (
            event("housing.relief_duty_accepted", duty_start="2025-02-30"),
            "body.data.duty_start",
            "date_from_datetime_parsing",
        ),
        (
            at_risk(risk="other", case_id=str(uuid.uuid4())),
            "body.data.case_id",
            "case_id_from_path",
        ),
        ({"type": "housing.tenancy_at_risk", "data": ["risk"]}, "body.data", "dict_type"),
        (
            with_fields(OTHER_RISK, occurred_at="2025-03-01T10:00:00"),
            "body.occurred_at",
            "timezone_aware",
        ),
        (
            with_fields(OTHER_RISK, occurred_at="yesterday"),
            "body.occurred_at",
            "datetime_from_date_parsing",
        ),
        (
            with_fields(OTHER_RISK, occurred_at=IN_SIX_HOURS),
            "body.occurred_at",
            "occurred_at_in_future",
        ),
        (
            with_fields(OTHER_RISK, expected_version=-1),
            "body.expected_version",
            "greater_than_equal",
        ),
        (with_fields(OTHER_RISK, colour="red"), "body.colour", "extra_forbidden"),
        (
            with_fields(OTHER_RISK, occurred_at="0001-01-01T00:00:00+14:00"),
            "body.occurred_at",
            "occurred_at_too_early",
        ),
        (
            {"type": "flag.raised", "data": {"flag": "risk_to_staff", "note": "a\u0000b"}},
            "body.data.note",
            "no_nul_character",
        ),
        (event("flag.raised", flag="risk_to_staff", note=" \t "), "body.data.note", "not_blank"),
        (
            event("housing.eviction_notice_served", notice="section_21", served_on="2099-11-01"),
            "body.data.served_on",
            "not_in_future",
        ),
        (
            with_fields(PLACED_ON_2_MARCH, occurred_at="2025-03-01T12:00:00Z"),
            "body.data.placed_on",
            "not_in_future",
        ),
    ],
)
async def test_a_bad_case_event_names_the_field_and_rule_and_writes_nothing(
    housing: RunningService, body: dict[str, Any], field: str, rule: str
) -> None:
    """Every broken rule in a case event is a 422 naming it; the case's stream is untouched."""
    case_id = await open_case(housing)
    response = await housing.post(f"/v1/cases/{case_id}/events", body)
    assert response.status_code == 422, response.text
    assert response.json()["error"]["code"] == "validation_failed"
    assert (field, rule) in field_rules(response)
    assert await housing.count_events(f"case-{case_id}") == 1


async def test_unknown_people_and_cases_are_404_and_nothing_is_written(
    housing: RunningService,
) -> None:
    """Reading, opening a case for, or writing to something that does not exist: 404."""
    before, nobody = await housing.count_events(), uuid.uuid4()
    event = {"type": "flag.raised", "data": {"flag": "risk_to_staff"}}
    answers = [
        await housing.get(f"/v1/people/{nobody}"),
        await housing.post(f"/v1/people/{nobody}/cases", {"reason": "x", "key_worker": KEY_WORKER}),
        await housing.get(f"/v1/cases/{nobody}"),
        await housing.post(f"/v1/cases/{nobody}/events", event),
        await housing.post(f"/v1/cases/{nobody}/close", {"outcome": "x"}),
    ]
    assert [a.status_code for a in answers] == [404] * 5
    assert {a.json()["error"]["code"] for a in answers} == {"not_found"}
    assert await housing.count_events() == before


async def test_a_stale_expected_version_is_a_conflict_naming_the_current_version(
    housing: RunningService,
) -> None:
    """A client who read version 1 after someone wrote version 2 gets 409, and writes nothing."""
    case_id = await open_case(housing)
    event = {"type": "flag.raised", "data": {"flag": "risk_to_staff"}, "expected_version": 1}
    assert (await housing.post(f"/v1/cases/{case_id}/events", event)).status_code == 201
    stale = await housing.post(f"/v1/cases/{case_id}/events", event)
    closing = await housing.post(
        f"/v1/cases/{case_id}/close", {"outcome": "x", "expected_version": 1}
    )
    assert (stale.status_code, stale.json()["error"]["code"]) == (409, "version_conflict")
    assert "current version is 2" in stale.json()["error"]["message"]
    assert closing.status_code == 409
    assert await housing.count_events(f"case-{case_id}") == 2


@pytest.mark.parametrize(
    ("path", "body", "field"),
    [
        ("cases", {"reason": "   ", "key_worker": KEY_WORKER}, "body.reason"),
        ("cases", {"reason": "Arrears", "key_worker": {"name": "\u00a0"}}, "body.key_worker.name"),
        (
            "cases",
            {"reason": "x", "key_worker": {**KEY_WORKER, "role": " "}},
            "body.key_worker.role",
        ),
        ("close", {"outcome": " \n "}, "body.outcome"),
    ],
)
async def test_blank_reasons_and_outcomes_are_refused_and_nothing_is_written(
    housing: RunningService, path: str, body: dict[str, Any], field: str
) -> None:
    """A case opened or closed with only spaces for its reason or outcome: 422 not_blank."""
    case_id = await open_case(housing)
    case = await housing.get(f"/v1/cases/{case_id}")
    target = f"/v1/people/{case.json()['person_id']}/cases" if path == "cases" else None
    before = await housing.count_events()
    response = await housing.post(target or f"/v1/cases/{case_id}/close", body)
    assert response.status_code == 422, response.text
    assert (field, "not_blank") in field_rules(response)
    assert await housing.count_events() == before


async def test_lifting_a_flag_never_raised_is_refused_and_nothing_is_written(
    housing: RunningService,
) -> None:
    """A lift with nothing raised on this case is a 409 flag_not_raised naming the flag."""
    case_id = await open_case(housing)
    lifted = await housing.post(
        f"/v1/cases/{case_id}/events", event("flag.lifted", flag="risk_to_staff")
    )
    assert (lifted.status_code, lifted.json()["error"]["code"]) == (409, "flag_not_raised")
    assert ("body.data.flag", "flag_not_raised") in field_rules(lifted)
    assert await housing.count_events(f"case-{case_id}") == 1


async def test_ending_a_crisis_that_never_started_is_refused(
    mental_health: RunningService,
) -> None:
    """mental_health.crisis_episode_ended needs a crisis episode started on the case."""
    case_id = await open_case(mental_health)
    ended = event("mental_health.crisis_episode_ended", outcome="resolved_at_home")
    refused = await mental_health.post(f"/v1/cases/{case_id}/events", ended)
    assert (refused.status_code, refused.json()["error"]["code"]) == (
        409,
        "crisis_episode_not_started",
    )
    started = event("mental_health.crisis_episode_started", setting="home_treatment")
    assert (await mental_health.post(f"/v1/cases/{case_id}/events", started)).status_code == 201
    assert (await mental_health.post(f"/v1/cases/{case_id}/events", ended)).status_code == 201
    assert await mental_health.count_events(f"case-{case_id}") == 3
