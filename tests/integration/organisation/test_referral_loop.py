"""The loop closed, over HTTP on the running services: the sender sees the receiver's answers
(received, accepted with who leads the work, declined with why) on its own referral and in
its outgoing list, and may withdraw a referral the receiver has not decided."""

from collections.abc import Callable
from typing import Any

from tests.integration.organisation.running_services import (
    KEY_WORKER,
    RunningService,
    eventually,
    referral_once,
)
from tests.integration.organisation.sample_requests import (
    a_housing_referral,
    field_rules,
    received_by,
)


def _status(status: str) -> Callable[[dict[str, Any]], bool]:
    return lambda referral: referral["status"] == status


async def _referred(housing: RunningService, voluntary: RunningService) -> str:
    """Housing refers a person to the charity; return the referral once the charity has it."""
    _, made = await a_housing_referral(housing)
    assert made.status_code == 201, made.text
    referral_id: str = made.json()["referral_id"]
    await received_by(voluntary, referral_id)
    return referral_id


async def test_the_sender_sees_its_referral_received_then_accepted_with_the_key_worker(
    housing: RunningService, voluntary: RunningService
) -> None:
    referral_id = await _referred(housing, voluntary)
    received = await referral_once(housing, referral_id, _status("received"))
    assert received["answered_at"] is not None

    accepted = await voluntary.post(
        f"/v1/referrals/{referral_id}/accept", {"key_worker": KEY_WORKER}
    )
    assert accepted.status_code == 200, accepted.text

    sent = await referral_once(housing, referral_id, _status("accepted"))
    assert sent["key_worker"]["name"] == KEY_WORKER["name"]
    assert sent["key_worker"]["email"] == KEY_WORKER["email"]
    assert [step["type"] for step in sent["history"]] == [
        "referral.made", "referral.answered", "referral.answered",
    ]  # fmt: skip
    assert sent["case_id"] is None  # the receiver's case is the receiver's

    async def listed_accepted() -> bool | None:  # the lists follow the log, moments later
        listed = await housing.get("/v1/referrals?direction=outgoing&status=accepted&limit=100")
        return referral_id in {item["referral_id"] for item in listed.json()["items"]} or None

    assert await eventually(listed_accepted)


async def test_the_sender_sees_why_its_referral_was_declined(
    housing: RunningService, voluntary: RunningService
) -> None:
    referral_id = await _referred(housing, voluntary)
    declined = await voluntary.post(
        f"/v1/referrals/{referral_id}/decline", {"reason": "Outside our area"}
    )
    assert declined.status_code == 200, declined.text

    sent = await referral_once(housing, referral_id, _status("declined"))
    assert sent["decline_reason"] == "Outside our area"


async def test_a_withdrawn_referral_can_no_longer_be_decided_by_the_receiver(
    housing: RunningService, voluntary: RunningService
) -> None:
    referral_id = await _referred(housing, voluntary)
    withdrawn = await housing.post(
        f"/v1/referrals/{referral_id}/withdraw", {"reason": "Housed by the council meanwhile"}
    )
    assert (withdrawn.status_code, withdrawn.json()["status"]) == (200, "withdrawn")
    sent = (await housing.get(f"/v1/referrals/{referral_id}")).json()
    assert (sent["status"], sent["withdrawal_reason"]) == (
        "withdrawn", "Housed by the council meanwhile",
    )  # fmt: skip

    inbox = await referral_once(voluntary, referral_id, _status("withdrawn"))
    assert inbox["withdrawn_at"] is not None
    refused = await voluntary.post(f"/v1/referrals/{referral_id}/accept", {})
    assert (refused.status_code, refused.json()["error"]["code"]) == (409, "referral_withdrawn")
    again = await housing.post(f"/v1/referrals/{referral_id}/withdraw", {"reason": "again"})
    assert (again.status_code, again.json()["error"]["code"]) == (409, "referral_already_decided")

    async def listed_withdrawn() -> bool | None:  # the lists follow the log, moments later
        waiting = await voluntary.get("/v1/referrals?status=withdrawn&limit=100")
        return referral_id in {item["referral_id"] for item in waiting.json()["items"]} or None

    assert await eventually(listed_withdrawn)


async def test_a_decision_that_crosses_a_withdrawal_stands_on_both_sides(
    housing: RunningService, voluntary: RunningService
) -> None:
    """The charity accepts; housing withdraws at once, before or after its inbox took the
    acceptance in (refused then). Either way both sides end accepted."""
    referral_id = await _referred(housing, voluntary)
    accepted = await voluntary.post(
        f"/v1/referrals/{referral_id}/accept", {"key_worker": KEY_WORKER}
    )
    withdrawn = await housing.post(f"/v1/referrals/{referral_id}/withdraw", {"reason": "late"})
    assert accepted.status_code == 200, accepted.text
    assert withdrawn.status_code in (200, 409), withdrawn.text

    await referral_once(housing, referral_id, _status("accepted"))
    receiver = (await voluntary.get(f"/v1/referrals/{referral_id}")).json()
    assert receiver["status"] == "accepted"
    assert "referral.withdrawal_received" not in {step["type"] for step in receiver["history"]}


async def test_only_the_sender_withdraws_and_says_why(
    housing: RunningService, voluntary: RunningService
) -> None:
    referral_id = await _referred(housing, voluntary)
    by_receiver = await voluntary.post(f"/v1/referrals/{referral_id}/withdraw", {"reason": "x"})
    assert (by_receiver.status_code, by_receiver.json()["error"]["code"]) == (
        409, "not_the_sender",
    )  # fmt: skip
    no_reason = await housing.post(f"/v1/referrals/{referral_id}/withdraw", {})
    assert no_reason.status_code == 422
    assert field_rules(no_reason) == {("body.reason", "missing")}
    unknown = await housing.post(
        "/v1/referrals/0196a3f2-9c1e-7d4b-8a51-3f0e2b7c9d10/withdraw", {"reason": "x"}
    )
    assert unknown.status_code == 404


async def test_a_decision_the_persons_objection_keeps_from_the_sender_stays_received_there(
    housing: RunningService, voluntary: RunningService
) -> None:
    """The person told the charity its records are not for housing: housing's referral says
    received, never accepted nor who leads the work (as the single view shows it)."""
    referral_id = await _referred(housing, voluntary)
    receiver = (await voluntary.get(f"/v1/referrals/{referral_id}")).json()
    objection = {
        "decision": "withdrawn", "sources": ["voluntary"], "recipients": ["housing"],
        "purposes": ["direct_care", "care_coordination"],
    }  # fmt: skip
    recorded = await voluntary.post(f"/v1/people/{receiver['person_id']}/consent", objection)
    assert recorded.status_code == 201, recorded.text
    accepted = await voluntary.post(
        f"/v1/referrals/{referral_id}/accept", {"key_worker": KEY_WORKER}
    )
    assert accepted.status_code == 200, accepted.text

    later = await _referred(housing, voluntary)  # the inbox reads the charity's log in order:
    await referral_once(housing, later, _status("received"))  # the acceptance was taken in by now
    sent = (await housing.get(f"/v1/referrals/{referral_id}")).json()
    assert (sent["status"], sent["key_worker"]) == ("received", None)
    assert (await voluntary.get(f"/v1/referrals/{referral_id}")).json()["status"] == "accepted"
