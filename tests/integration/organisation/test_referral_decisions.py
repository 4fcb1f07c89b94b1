"""Deciding referrals: only the receiver, only once; accepting may open a case."""

import uuid

from services.organisation.service_layer.streams import referral_stream
from tests.integration.organisation.running_services import KEY_WORKER, RunningService
from tests.integration.organisation.sample_requests import (
    a_housing_referral,
    a_received_referral,
    field_rules,
)


async def test_accepting_with_a_key_worker_opens_a_case_for_the_referral(
    housing: RunningService, voluntary: RunningService
) -> None:
    """Acceptance names the case opened; the case names the referral and the key worker."""
    received = await a_received_referral(housing, voluntary)
    referral_id = received["referral_id"]
    accepted = await voluntary.post(
        f"/v1/referrals/{referral_id}/accept", {"key_worker": KEY_WORKER}
    )
    assert accepted.status_code == 200, accepted.text
    answer = accepted.json()
    assert (answer["status"], answer["person_id"]) == ("accepted", received["person_id"])
    case = (await voluntary.get(f"/v1/cases/{answer['case_id']}")).json()
    assert (case["referral_id"], case["person_id"], case["reason"]) == (
        referral_id,
        received["person_id"],
        "Food support",
    )
    assert case["key_worker"]["name"] == KEY_WORKER["name"]
    after = (await voluntary.get(f"/v1/referrals/{referral_id}")).json()
    assert (after["status"], after["case_id"]) == ("accepted", answer["case_id"])


async def test_accepting_without_a_key_worker_opens_no_case(
    housing: RunningService, voluntary: RunningService
) -> None:
    """An acceptance with no body records the decision only."""
    received = await a_received_referral(housing, voluntary)
    accepted = await voluntary.client.post(
        f"/v1/referrals/{received['referral_id']}/accept",
        headers={"Authorization": f"Bearer {voluntary.key}"},
    )
    assert accepted.status_code == 200, accepted.text
    assert accepted.json()["case_id"] is None


async def test_declining_records_the_reason(
    housing: RunningService, voluntary: RunningService
) -> None:
    """A declined referral shows its reason and both steps of its history."""
    received = await a_received_referral(housing, voluntary)
    referral_id = received["referral_id"]
    declined = await voluntary.post(
        f"/v1/referrals/{referral_id}/decline", {"reason": "Out of area"}
    )
    assert (declined.status_code, declined.json()["status"]) == (200, "declined")
    after = (await voluntary.get(f"/v1/referrals/{referral_id}")).json()
    assert (after["status"], after["decline_reason"]) == ("declined", "Out of area")
    assert [step["type"] for step in after["history"]] == ["referral.received", "referral.declined"]


async def test_a_referral_is_decided_once(
    housing: RunningService, voluntary: RunningService
) -> None:
    """Accepting or declining a decided referral is a 409 and writes nothing."""
    referral_id = (await a_received_referral(housing, voluntary))["referral_id"]
    await voluntary.post(f"/v1/referrals/{referral_id}/accept", {})
    again = await voluntary.post(f"/v1/referrals/{referral_id}/accept", {})
    declined = await voluntary.post(f"/v1/referrals/{referral_id}/decline", {"reason": "x"})
    assert (again.status_code, declined.status_code) == (409, 409)
    assert again.json()["error"]["code"] == "referral_already_decided"
    assert await voluntary.count_events(referral_stream(uuid.UUID(referral_id))) == 2


async def test_a_blank_referral_or_decline_reason_is_refused_and_nothing_is_written(
    housing: RunningService, voluntary: RunningService
) -> None:
    """A referral made or declined with only spaces for a reason: 422 not_blank, no event."""
    person_id, _ = await a_housing_referral(housing)
    # Only referrals made are counted: housing takes in steps of earlier referrals as they come.
    before = await housing.count_events(of_type="referral.made")
    made = await housing.post(
        "/v1/referrals", {"person_id": person_id, "to_org": "voluntary", "reason": "  "}
    )
    assert (made.status_code, field_rules(made)) == (422, {("body.reason", "not_blank")})
    assert await housing.count_events(of_type="referral.made") == before
    referral_id = (await a_received_referral(housing, voluntary))["referral_id"]
    declined = await voluntary.post(f"/v1/referrals/{referral_id}/decline", {"reason": "\t"})
    assert (declined.status_code, field_rules(declined)) == (422, {("body.reason", "not_blank")})
    assert await voluntary.count_events(referral_stream(uuid.UUID(referral_id))) == 1


async def test_the_sending_organisation_cannot_decide_its_referral(
    housing: RunningService, voluntary: RunningService
) -> None:
    """Housing's key on the voluntary service is 403; on its own service it is not in the inbox."""
    referral_id = (await a_received_referral(housing, voluntary))["referral_id"]
    there = await voluntary.post(f"/v1/referrals/{referral_id}/accept", {}, key=housing.key)
    here = await housing.post(f"/v1/referrals/{referral_id}/accept", {})
    assert (there.status_code, here.status_code) == (403, 404)
    sent = (await housing.get(f"/v1/referrals/{referral_id}")).json()
    assert {step["type"] for step in sent["history"]} <= {"referral.made", "referral.answered"}


async def test_unknown_referrals_are_404(voluntary: RunningService) -> None:
    """Reading or deciding a referral nobody made here is a 404."""
    nobody = uuid.uuid4()
    answers = [
        await voluntary.get(f"/v1/referrals/{nobody}"),
        await voluntary.post(f"/v1/referrals/{nobody}/accept", {}),
        await voluntary.post(f"/v1/referrals/{nobody}/decline", {"reason": "x"}),
    ]
    assert [a.status_code for a in answers] == [404, 404, 404]


async def test_a_referral_goes_to_another_organisation_about_a_known_person(
    housing: RunningService,
) -> None:
    """Referring to oneself is a 422 naming to_org; an unknown person is a 404; nothing written."""
    before = await housing.count_events()
    _, to_self = await a_housing_referral(housing, to_org="housing")
    unknown = await housing.post(
        "/v1/referrals", {"person_id": str(uuid.uuid4()), "to_org": "voluntary", "reason": "x"}
    )
    assert to_self.status_code == 422
    assert to_self.json()["error"]["fields"][0]["field"] == "body.to_org"
    assert unknown.status_code == 404
    assert await housing.count_events() == before + 1  # the registration only
