"""Who a referral is about, on the receiver's side, over HTTP on the running services: the
receiver's own record with the referred NHS number, else the one record whose details match
well enough; a referral that matches only middling well is held until a worker says which
record it is about (or that none is); nothing matching, the person gets a record of their own.
"""

import itertools
import uuid
from datetime import date, timedelta
from typing import Any

from tests.integration.organisation.running_services import (
    KEY_WORKER,
    RunningService,
    a_fresh_nhs_number,
    eventually,
    referral_once,
)
from tests.integration.organisation.sample_requests import field_rules, received_by

_BIRTH_DATES = itertools.count()  # each person of this module born on a day of their own
UNKNOWN_PERSON = "0196a3f2-9c1e-7d4b-8a51-3f0e2b7c9d10"


def _someone(**fields: Any) -> dict[str, Any]:
    """Return a person's details no other test of this module shares: matching reads the
    receiver's search by family name or date of birth, so another test's people stay apart."""
    born = date(1950, 1, 1) + timedelta(days=next(_BIRTH_DATES) * 97)
    return {
        "given_name": "Alex",
        "family_name": f"Morgan-{uuid.uuid4().hex[:6]}",
        "date_of_birth": born.isoformat(),
        "place": "E05010892",
        **fields,
    }


async def _registered(service: RunningService, details: dict[str, Any]) -> str:
    """Register a person with the service and return their id."""
    body = {key: value for key, value in details.items() if value is not None}
    answer = await service.post("/v1/people", body)
    assert answer.status_code == 201, answer.text
    person_id: str = answer.json()["person_id"]
    return person_id


async def _searchable(service: RunningService, family_name: str, count: int) -> dict[str, Any]:
    """Wait until the service's people search lists `count` people of this family name (the
    search follows the log; the inbox matches referrals against it)."""

    async def read() -> dict[str, Any] | None:
        answer = await service.get(f"/v1/people?family_name={family_name}&limit=100")
        assert answer.status_code == 200, answer.text
        body: dict[str, Any] = answer.json()
        return body if body["total"] == count else None

    return await eventually(read)


async def _referred(
    housing: RunningService, voluntary: RunningService, details: dict[str, Any]
) -> dict[str, Any]:
    """Housing registers the person with `details` and refers them to the charity; return the
    charity's side of the referral once its inbox took it in."""
    person_id = await _registered(housing, {**details, "local_id": f"H-{uuid.uuid4().hex[:6]}"})
    referral = {
        "person_id": person_id, "to_org": "voluntary", "reason": "Food support",
        "urgency": "urgent",
    }  # fmt: skip
    made = await housing.post("/v1/referrals", referral)
    assert made.status_code == 201, made.text
    return await received_by(voluntary, made.json()["referral_id"])


async def _listed_as(service: RunningService, referral_id: str, status: str) -> dict[str, Any]:
    """Return the referral's row in the incoming worklist of `status`, once it is there."""

    async def read() -> dict[str, Any] | None:
        answer = await service.get(f"/v1/referrals?direction=incoming&status={status}&limit=100")
        assert answer.status_code == 200, answer.text
        rows = [i for i in answer.json()["items"] if i["referral_id"] == referral_id]
        return rows[0] if rows else None

    return await eventually(read)


def _code(answer: Any) -> tuple[int, str]:
    return answer.status_code, answer.json()["error"]["code"]


def _two_nhs_numbers() -> tuple[str, str]:
    """Return two different fresh NHS numbers: two people's."""
    first, second = a_fresh_nhs_number(), a_fresh_nhs_number()
    while second == first:
        second = a_fresh_nhs_number()
    return first, second


async def test_a_person_the_receiver_holds_by_nhs_number_is_joined_not_registered_again(
    housing: RunningService, voluntary: RunningService
) -> None:
    nhs_number = a_fresh_nhs_number()
    details = _someone(nhs_number=nhs_number, postcode="bs5 6xx")
    known = await _registered(voluntary, {**details, "given_name": "Alexandra"})
    await _searchable(voluntary, details["family_name"], 1)

    received = await _referred(housing, voluntary, details)

    assert (received["status"], received["person_id"]) == ("received", known)
    assert (received["found_by"], received["match_score"]) == ("nhs_number", None)
    assert (received["referred_person"], received["candidates"]) == (None, [])
    listed = (await voluntary.get(f"/v1/people?family_name={details['family_name']}")).json()
    assert listed["total"] == 1


async def test_one_record_matching_every_detail_is_joined_by_its_details(
    housing: RunningService, voluntary: RunningService
) -> None:
    details = _someone(postcode="BS5 6XX")  # no NHS number on either side
    known = await _registered(voluntary, details)
    await _searchable(voluntary, details["family_name"], 1)

    received = await _referred(housing, voluntary, details)

    assert (received["status"], received["person_id"]) == ("received", known)
    assert (received["found_by"], received["match_score"]) == ("details", 18.0)
    assert (received["referred_person"], received["candidates"]) == (None, [])
    accepted = await voluntary.post(f"/v1/referrals/{received['referral_id']}/accept", {})
    assert accepted.status_code == 200, accepted.text
    listed = (await voluntary.get(f"/v1/people?family_name={details['family_name']}")).json()
    assert listed["total"] == 1


async def test_a_middling_match_is_held_until_a_worker_chooses_the_record(
    housing: RunningService, voluntary: RunningService
) -> None:
    details = _someone()
    known = await _registered(voluntary, details)  # no postcode here: 3.5 + 4.5 + 6 = 14
    await _searchable(voluntary, details["family_name"], 1)

    held = await _referred(housing, voluntary, {**details, "postcode": "BS5 6XX"})
    referral_id = held["referral_id"]

    assert held["status"] == "held"
    assert held["person_id"] != known  # the id a new record would have
    assert [(c["person_id"], c["match_score"]) for c in held["candidates"]] == [(known, 14.0)]
    assert set(held["candidates"][0]["matched_on"]) == {
        "given_name", "family_name", "date_of_birth",
    }  # fmt: skip
    referred = held["referred_person"]
    assert (referred["family_name"], referred["date_of_birth"], referred["local_id"]) == (
        details["family_name"], details["date_of_birth"], None,
    )  # fmt: skip
    assert held["found_by"] is None
    row = await _listed_as(voluntary, referral_id, "held")
    assert (row["status"], row["other_org"], row["person"]["given_name"]) == (
        "held", "housing", None,
    )  # fmt: skip
    # the sender learns the referral is in the inbox, not that it is held (nor, by waiting,
    # that the receiver holds someone like the person)
    await referral_once(housing, referral_id, lambda sent: sent["status"] == "received")

    for decision, body in (("accept", {"key_worker": KEY_WORKER}), ("decline", {"reason": "x"})):
        refused = await voluntary.post(f"/v1/referrals/{referral_id}/{decision}", body)
        assert _code(refused) == (409, "person_not_chosen"), (decision, refused.text)

    chosen = await voluntary.post(f"/v1/referrals/{referral_id}/person", {"person_id": known})
    assert chosen.status_code == 200, chosen.text
    assert (chosen.json()["referral_id"], chosen.json()["status"], chosen.json()["person_id"]) == (
        referral_id, "received", known,
    )  # fmt: skip

    received = (await voluntary.get(f"/v1/referrals/{referral_id}")).json()  # details shredded
    assert (received["status"], received["person_id"], received["found_by"]) == (
        "received", known, "receiver",
    )  # fmt: skip
    assert (received["referred_person"], received["candidates"]) == (None, [])
    assert received["version"] > held["version"]
    row = await _listed_as(voluntary, referral_id, "received")
    assert (row["person"]["person_id"], row["person"]["family_name"]) == (
        known, details["family_name"],
    )  # fmt: skip
    held_now = await voluntary.get("/v1/referrals?direction=incoming&status=held&limit=100")
    assert referral_id not in {i["referral_id"] for i in held_now.json()["items"]}
    await referral_once(housing, referral_id, lambda sent: sent["status"] == "received")

    accepted = await voluntary.post(
        f"/v1/referrals/{referral_id}/accept", {"key_worker": KEY_WORKER}
    )
    assert accepted.status_code == 200, accepted.text
    assert (accepted.json()["status"], accepted.json()["person_id"]) == ("accepted", known)
    sent = await referral_once(housing, referral_id, lambda sent: sent["status"] == "accepted")
    assert sent["key_worker"]["name"] == KEY_WORKER["name"]
    answers = [step["type"] for step in sent["history"] if step["type"] == "referral.answered"]
    assert len(answers) == 2  # received (once: held, then chosen, is one answer), accepted
    listed = (await voluntary.get(f"/v1/people?family_name={details['family_name']}")).json()
    assert listed["total"] == 1


async def test_a_held_referral_whose_person_is_none_of_the_records_registers_them(
    housing: RunningService, voluntary: RunningService
) -> None:
    details = _someone(postcode="BS5 6XX")
    known = await _registered(
        voluntary, {key: v for key, v in details.items() if key != "postcode"}
    )
    await _searchable(voluntary, details["family_name"], 1)
    held = await _referred(housing, voluntary, details)
    referral_id = held["referral_id"]
    assert held["status"] == "held", held

    chosen = await voluntary.post(f"/v1/referrals/{referral_id}/person", {"new_record": True})
    assert chosen.status_code == 200, chosen.text
    person_id = chosen.json()["person_id"]
    assert (chosen.json()["status"], person_id) == ("received", held["person_id"])
    assert person_id != known

    person = await voluntary.get(f"/v1/people/{person_id}")
    assert person.status_code == 200, person.text
    assert (person.json()["family_name"], person.json()["postcode"], person.json()["local_id"]) == (
        details["family_name"], "BS5 6XX", None,
    )  # fmt: skip
    received = (await voluntary.get(f"/v1/referrals/{referral_id}")).json()
    assert (received["status"], received["person_id"], received["found_by"]) == (
        "received", person_id, "new_record",
    )  # fmt: skip
    assert (received["referred_person"], received["candidates"]) == (None, [])
    await _searchable(voluntary, details["family_name"], 2)
    await referral_once(housing, referral_id, lambda sent: sent["status"] == "received")
    accepted = await voluntary.post(f"/v1/referrals/{referral_id}/accept", {})
    assert accepted.status_code == 200, accepted.text


async def test_a_choice_that_cannot_be_the_referred_person_is_refused(
    housing: RunningService, voluntary: RunningService
) -> None:
    nhs_number, other_nhs_number = _two_nhs_numbers()
    details = _someone(nhs_number=nhs_number, postcode="BS5 6XX")
    twin = await _registered(voluntary, {**details, "nhs_number": other_nhs_number})
    no_nhs_number = {**details, "nhs_number": None, "postcode": None}
    candidate = await _registered(voluntary, no_nhs_number)  # 14: held
    await _searchable(voluntary, details["family_name"], 2)
    held = await _referred(housing, voluntary, details)
    referral_id = held["referral_id"]
    assert held["status"] == "held", held
    assert [c["person_id"] for c in held["candidates"]] == [candidate]  # never the twin
    choose = f"/v1/referrals/{referral_id}/person"

    both = await voluntary.post(choose, {"person_id": candidate, "new_record": True})
    neither = await voluntary.post(choose, {})
    no_new_record = await voluntary.post(choose, {"new_record": False})
    for answer in (both, neither, no_new_record):
        assert answer.status_code == 422, answer.text
        assert field_rules(answer) == {("body", "value_error")}, answer.text
        message = answer.json()["error"]["fields"][0]["message"]
        assert "person_id" in message, message
        assert "new_record" in message, message
    unknown = await voluntary.post(choose, {"person_id": UNKNOWN_PERSON})
    assert unknown.status_code == 404, unknown.text
    other_person = await voluntary.post(choose, {"person_id": twin})
    assert _code(other_person) == (409, "nhs_number_differs"), other_person.text
    assert (await voluntary.get(f"/v1/referrals/{referral_id}")).json()["status"] == "held"

    chosen = await voluntary.post(choose, {"person_id": candidate})
    assert chosen.status_code == 200, chosen.text
    for again in ({"person_id": candidate}, {"new_record": True}):
        refused = await voluntary.post(choose, again)
        assert _code(refused) == (409, "person_already_chosen"), refused.text
    unknown_referral = await voluntary.post(
        f"/v1/referrals/{UNKNOWN_PERSON}/person", {"new_record": True}
    )
    assert unknown_referral.status_code == 404, unknown_referral.text
    received = (await voluntary.get(f"/v1/referrals/{referral_id}")).json()
    assert (received["status"], received["person_id"]) == ("received", candidate)


async def test_a_record_with_another_nhs_number_is_never_joined(
    housing: RunningService, voluntary: RunningService
) -> None:
    nhs_number, other_nhs_number = _two_nhs_numbers()
    details = _someone(nhs_number=nhs_number, postcode="BS5 6XX")
    twin = await _registered(voluntary, {**details, "nhs_number": other_nhs_number})
    await _searchable(voluntary, details["family_name"], 1)

    received = await _referred(housing, voluntary, details)

    assert received["status"] == "received", received
    assert received["found_by"] == "new_record"
    assert received["person_id"] != twin
    assert received["candidates"] == []
    person = (await voluntary.get(f"/v1/people/{received['person_id']}")).json()
    assert person["nhs_number"] == details["nhs_number"]
    await _searchable(voluntary, details["family_name"], 2)


async def _held(housing: RunningService, voluntary: RunningService) -> dict[str, Any]:
    """Return the charity's side of a referral held on a record matching names and birth date
    (14: the postcode only on the referral's side)."""
    details = _someone(postcode="BS5 6XX")
    await _registered(voluntary, {**details, "postcode": None})
    await _searchable(voluntary, details["family_name"], 1)
    held = await _referred(housing, voluntary, details)
    assert held["status"] == "held", held
    return held


async def test_a_held_referral_withdrawn_by_the_sender_is_withdrawn_at_the_receiver(
    housing: RunningService, voluntary: RunningService
) -> None:
    referral_id = (await _held(housing, voluntary))["referral_id"]
    withdrawn = await housing.post(
        f"/v1/referrals/{referral_id}/withdraw", {"reason": "Housed by the council meanwhile"}
    )
    assert withdrawn.status_code == 200, withdrawn.text

    await _referred(housing, voluntary, _someone())  # the inbox reads housing's log in order:
    inbox = (await voluntary.get(f"/v1/referrals/{referral_id}")).json()  # withdrawal read by now
    assert inbox["status"] == "withdrawn", inbox
    assert inbox["withdrawn_at"] is not None
    chosen = await voluntary.post(f"/v1/referrals/{referral_id}/person", {"new_record": True})
    assert _code(chosen) == (409, "referral_withdrawn"), chosen.text
