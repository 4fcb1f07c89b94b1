"""Recording a person's decisions about sharing: one event on their stream; bad ones refused."""

from datetime import UTC, datetime, timedelta
from typing import Any
from uuid import uuid4

import pytest

from tests.integration.organisation.running_services import RunningService
from tests.integration.organisation.sample_requests import field_rules, registered

WITHDRAWAL = {
    "decision": "withdrawn",
    "sources": ["mental_health"],
    "recipients": ["housing", "voluntary"],
    "purposes": ["direct_care"],
}


async def test_a_decision_is_recorded_on_the_persons_stream(
    mental_health: RunningService,
) -> None:
    person_id = await registered(mental_health)
    recorded = await mental_health.post(f"/v1/people/{person_id}/consent", WITHDRAWAL)
    assert recorded.status_code == 201, recorded.text
    answer = recorded.json()
    assert (answer["person_id"], answer["decision"], answer["version"]) == (
        person_id,
        "withdrawn",
        2,
    )
    events = await mental_health.pool.fetch(
        f"SELECT type, data FROM {mental_health.schema}.events"  # noqa: S608 - test schema
        " WHERE stream_id = $1 ORDER BY stream_version",
        f"person-{person_id}",
    )
    assert [row["type"] for row in events] == ["person.registered", "consent.withdrawn"]
    again = await mental_health.post(
        f"/v1/people/{person_id}/consent", {**WITHDRAWAL, "decision": "given"}
    )
    assert again.json()["version"] == 3


@pytest.mark.parametrize(
    ("fields", "field", "rule"),
    [
        ({"decision": "maybe"}, "body.decision", "literal_error"),
        ({"recipients": []}, "body.recipients", "too_short"),
        ({"recipients": ["police"]}, "body.recipients.0", "known_organisation"),
        ({"recipients": ["housing", "housing"]}, "body.recipients", "repeated"),
        ({"purposes": ["marketing"]}, "body.purposes.0", "literal_error"),
        ({"sources": []}, "body.sources", "too_short"),
        ({"sources": ["housing"], "recipients": ["housing"]}, "body.recipients", "covers_nothing"),
        ({"occurred_at": "2999-01-01T00:00:00Z"}, "body.occurred_at", "occurred_at_in_future"),
        ({"person": "Dave"}, "body.person", "extra_forbidden"),
        ({"decision": "given", "sources": ["housing"]}, "body.sources", "own_records_only"),
        (
            {"decision": "given", "sources": None, "recipients": ["mental_health"]},
            "body.recipients",
            "covers_nothing",
        ),
    ],
)
async def test_a_bad_decision_names_the_field_and_rule_and_writes_nothing(
    mental_health: RunningService, fields: dict[str, Any], field: str, rule: str
) -> None:
    person_id = await registered(mental_health)
    before = await mental_health.count_events()
    response = await mental_health.post(f"/v1/people/{person_id}/consent", WITHDRAWAL | fields)
    assert response.status_code == 422, response.text
    assert (field, rule) in field_rules(response)
    assert await mental_health.count_events() == before


async def test_a_decision_about_someone_the_organisation_does_not_know_is_404(
    mental_health: RunningService, housing: RunningService
) -> None:
    housing_person = await registered(housing)  # known to housing, not to mental health
    for person_id in (housing_person, str(uuid4())):
        response = await mental_health.post(f"/v1/people/{person_id}/consent", WITHDRAWAL)
        assert response.status_code == 404
    unauthenticated = await mental_health.client.post(
        f"/v1/people/{housing_person}/consent", json=WITHDRAWAL
    )
    assert unauthenticated.status_code == 401


async def test_a_decision_cannot_be_dated_ahead_to_outrank_later_ones(
    mental_health: RunningService,
) -> None:
    """Clocks may differ by minutes elsewhere, but a decision dated even two minutes ahead
    would outrank every decision recorded in those minutes: refused."""
    person_id = await registered(mental_health)
    soon = (datetime.now(UTC) + timedelta(minutes=2)).isoformat()
    response = await mental_health.post(
        f"/v1/people/{person_id}/consent", WITHDRAWAL | {"occurred_at": soon}
    )
    assert response.status_code == 422, response.text
    assert ("body.occurred_at", "occurred_at_in_future") in field_rules(response)
