"""Retried and concurrent writes: recorded once, or each exactly once, never lost."""

import asyncio
import uuid

from tests.integration.organisation.running_services import (
    RunningService,
    a_fresh_nhs_number,
)
from tests.integration.organisation.sample_requests import (
    a_person,
    event,
    field_rules,
    open_case,
    with_fields,
)


async def test_writers_without_expected_version_all_get_recorded(housing: RunningService) -> None:
    """Four concurrent events on one case without expected_version are retried, none lost."""
    case_id = await open_case(housing)
    event = {"type": "housing.tenancy_at_risk", "data": {"risk": "other"}}
    answers = await asyncio.gather(
        *(housing.post(f"/v1/cases/{case_id}/events", event) for _ in range(4))
    )
    assert [a.status_code for a in answers] == [201] * 4
    assert sorted(a.json()["version"] for a in answers) == [2, 3, 4, 5]


async def test_an_idempotency_key_retry_gets_the_first_answer_and_writes_once(
    housing: RunningService,
) -> None:
    """The same key and body again: the same status and body, marked replayed; one event."""
    case_id = await open_case(housing)
    event, key = {"type": "flag.raised", "data": {"flag": "risk_to_self"}}, str(uuid.uuid4())
    first = await housing.post(f"/v1/cases/{case_id}/events", event, **{"Idempotency-Key": key})
    retry = await housing.post(f"/v1/cases/{case_id}/events", event, **{"Idempotency-Key": key})
    assert (retry.status_code, retry.json()) == (first.status_code, first.json())
    assert retry.headers["Idempotent-Replayed"] == "true"
    assert await housing.count_events(f"case-{case_id}") == 2

    other = {"type": "flag.raised", "data": {"flag": "risk_to_others"}}
    reused = await housing.post(f"/v1/cases/{case_id}/events", other, **{"Idempotency-Key": key})
    assert (reused.status_code, reused.json()["error"]["code"]) == (422, "idempotency_key_reused")
    assert await housing.count_events(f"case-{case_id}") == 2


async def test_an_idempotency_key_makes_any_write_safe_to_retry(housing: RunningService) -> None:
    """Registering twice with one key registers one person: the retry gets the same id, no 409."""
    body, key = a_person(nhs_number=a_fresh_nhs_number()), str(uuid.uuid4())
    first = await housing.post("/v1/people", body, **{"Idempotency-Key": key})
    retry = await housing.post("/v1/people", body, **{"Idempotency-Key": key})
    assert (first.status_code, retry.status_code) == (201, 201)
    assert retry.json() == first.json()


async def test_a_client_chosen_event_id_is_recorded_once(housing: RunningService) -> None:
    """Sending an event with the same event_id again gets the same answer and no new event."""
    case_id = await open_case(housing)
    event = {"type": "flag.raised", "data": {"flag": "risk_to_self"}, "event_id": str(uuid.uuid4())}
    first = await housing.post(f"/v1/cases/{case_id}/events", event)
    await housing.post(f"/v1/cases/{case_id}/events", {**event, "event_id": str(uuid.uuid4())})
    retry = await housing.post(f"/v1/cases/{case_id}/events", event)
    assert (first.status_code, retry.status_code) == (201, 201)
    assert retry.json() == first.json() == {"event_id": event["event_id"], "version": 2}
    assert await housing.count_events(f"case-{case_id}") == 3


async def test_a_reused_event_id_with_another_body_is_refused_and_writes_nothing(
    housing: RunningService,
) -> None:
    """An event id already naming one event on the case cannot name another: 409, not a no-op."""
    case_id, event_id = await open_case(housing), str(uuid.uuid4())
    first = with_fields(event("housing.tenancy_at_risk", risk="rent_arrears"), event_id=event_id)
    assert (await housing.post(f"/v1/cases/{case_id}/events", first)).status_code == 201
    others = [
        with_fields(
            event("housing.eviction_notice_served", notice="section_21", served_on="2025-03-01"),
            event_id=event_id,
        ),
        with_fields(event("housing.tenancy_at_risk", risk="other"), event_id=event_id),
        with_fields(first, occurred_at="2025-03-01T09:00:00Z"),
    ]
    answers = [await housing.post(f"/v1/cases/{case_id}/events", body) for body in others]
    assert [(a.status_code, a.json()["error"]["code"]) for a in answers] == [
        (409, "event_id_reused")
    ] * 3
    assert ("body.event_id", "event_id_reused") in field_rules(answers[0])
    assert await housing.count_events(f"case-{case_id}") == 2
    retry = await housing.post(f"/v1/cases/{case_id}/events", first)
    assert (retry.status_code, retry.json()) == (201, {"event_id": event_id, "version": 2})


async def test_concurrent_requests_with_one_idempotency_key_write_once(
    housing: RunningService,
) -> None:
    """Three copies of a request sent at once with one key: one event, three identical answers."""
    case_id = await open_case(housing)
    body, key = event("flag.raised", flag="lone_working_only"), str(uuid.uuid4())
    answers = await asyncio.gather(
        *(
            housing.post(f"/v1/cases/{case_id}/events", body, **{"Idempotency-Key": key})
            for _ in range(3)
        )
    )
    assert {(a.status_code, a.json()["event_id"]) for a in answers} == {
        (201, answers[0].json()["event_id"])
    }
    assert await housing.count_events(f"case-{case_id}") == 2
