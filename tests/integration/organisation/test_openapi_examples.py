"""Each organisation service's published examples are requests it takes: a partner who
copies them from `/docs` into a client sees them work, in order (register the person, open
a case, record an event, record consent, refer, retract, close)."""

from typing import Any

import pytest

from events.envelope import OrgId
from events.organisations import DEFAULT_ORGANISATIONS
from tests.integration.organisation.running_services import RunningService


def _example(document: dict[str, Any], component: str) -> dict[str, Any]:
    example: dict[str, Any] = document["components"]["schemas"][component]["examples"][0]
    return example


async def _taken(service: RunningService, path: str, body: dict[str, Any]) -> dict[str, Any]:
    answer = await service.post(path, body)
    assert answer.status_code in (200, 201), (path, body, answer.text)
    taken: dict[str, Any] = answer.json()
    return taken


@pytest.mark.parametrize("org", DEFAULT_ORGANISATIONS.ids)
async def test_every_example_a_service_publishes_is_a_request_it_takes(
    org: OrgId, services: dict[OrgId, RunningService]
) -> None:
    service = services[org]
    document = (await service.get("/openapi.json")).json()
    person = await _taken(service, "/v1/people", _example(document, "PersonCreate"))
    person_id = person["person_id"]
    case = await _taken(service, f"/v1/people/{person_id}/cases", _example(document, "CaseCreate"))
    case_id = case["case_id"]
    event = await _taken(
        service, f"/v1/cases/{case_id}/events", _example(document, "CaseEventCreate")
    )
    await _taken(service, f"/v1/people/{person_id}/consent", _example(document, "ConsentCreate"))
    referral = {**_example(document, "ReferralCreate"), "person_id": person_id}
    await _taken(service, "/v1/referrals", referral)
    await _taken(
        service,
        f"/v1/cases/{case_id}/events/{event['event_id']}/entered-in-error",
        _example(document, "CaseEventRetract"),
    )
    await _taken(service, f"/v1/cases/{case_id}/close", _example(document, "CaseClose"))
