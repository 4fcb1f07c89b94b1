"""Every charity its own organisation: a place of a council and two charities, the charities
served by the one voluntary sector service, each key on its own organisation's records."""

import uuid

import pytest

from events.envelope import OrgId
from events.organisations import Organisations
from tests.integration.organisation.running_services import (
    KEY_WORKER,
    RunningService,
    a_fresh_nhs_number,
    eventually,
    referral_once,
)
from tests.integration.organisation.sample_requests import (
    a_person,
    field_rules,
    received_by,
    registered,
)

PLACE = Organisations.model_validate({"organisations": [
    {"id": "northtown_council", "name": "Northtown Council housing", "sector": "housing"},
    {"id": "eastside_food_bank", "name": "Eastside Food Bank", "sector": "voluntary"},
    {"id": "riverside_day_centre", "name": "Riverside Day Centre", "sector": "voluntary"},
]})  # fmt: skip


@pytest.fixture(scope="module")
def organisations() -> Organisations:
    return PLACE


@pytest.fixture(scope="module")
def council(services: dict[OrgId, RunningService]) -> RunningService:
    return services["northtown_council"]


@pytest.fixture(scope="module")
def food_bank(services: dict[OrgId, RunningService]) -> RunningService:
    return services["eastside_food_bank"]


@pytest.fixture(scope="module")
def day_centre(services: dict[OrgId, RunningService]) -> RunningService:
    return services["riverside_day_centre"]


def test_one_service_serves_both_charities_each_in_its_own_schema(
    food_bank: RunningService, day_centre: RunningService, council: RunningService
) -> None:
    assert food_bank.app is day_centre.app  # the voluntary sector's service
    assert food_bank.schema != day_centre.schema
    assert council.app is not food_bank.app
    assert food_bank.app.state.orgs == ("eastside_food_bank", "riverside_day_centre")


async def test_a_charity_never_sees_the_other_charitys_records(
    food_bank: RunningService, day_centre: RunningService
) -> None:
    family, nhs_number = f"Kept{uuid.uuid4().hex[:6]}", a_fresh_nhs_number()
    person = await registered(food_bank, family_name=family, nhs_number=nhs_number)
    opened = await food_bank.post(
        f"/v1/people/{person}/cases", {"reason": "food parcels", "key_worker": KEY_WORKER}
    )
    case_id = opened.json()["case_id"]

    for path in (f"/v1/people/{person}", f"/v1/cases/{case_id}"):
        assert (await day_centre.get(path)).status_code == 404, path
        assert (await food_bank.get(path)).status_code == 200, path
    written = await day_centre.post(
        f"/v1/cases/{case_id}/events",
        {"type": "voluntary.engagement_recorded", "data": {"channel": "drop_in"}},
    )
    assert written.status_code == 404
    found = await day_centre.get(f"/v1/people?family_name={family}")
    assert found.json()["items"] == []
    # the same person registered at the day centre is the day centre's own record
    own = await registered(day_centre, family_name=family, nhs_number=nhs_number)
    assert own != person
    assert await food_bank.count_events(f"person-{own}") == 0
    assert await day_centre.count_events(f"person-{own}") == 1


async def test_a_referral_to_one_charity_reaches_that_charity_and_no_other(
    council: RunningService, food_bank: RunningService, day_centre: RunningService
) -> None:
    person = await registered(  # nobody the day centre knows: received, not held
        council, family_name=f"Sent{uuid.uuid4().hex[:6]}", given_name="Tamsin",
        date_of_birth="1961-02-03",
    )  # fmt: skip
    made = await council.post("/v1/referrals", {
        "person_id": person, "to_org": "riverside_day_centre", "reason": "daytime support",
    })  # fmt: skip
    assert made.status_code == 201, made.text
    referral_id = made.json()["referral_id"]

    received = await received_by(day_centre, referral_id)
    assert received["from_org"] == "northtown_council"
    assert (await food_bank.get(f"/v1/referrals/{referral_id}")).status_code == 404
    taken = await food_bank.post(f"/v1/referrals/{referral_id}/accept", {"key_worker": KEY_WORKER})
    assert taken.status_code == 404
    accepted = await day_centre.post(
        f"/v1/referrals/{referral_id}/accept", {"key_worker": KEY_WORKER}
    )
    assert accepted.status_code == 200, accepted.text
    sent = await referral_once(council, referral_id, lambda r: r["status"] == "accepted")
    assert sent["to_org"] == "riverside_day_centre"

    async def incoming(service: RunningService) -> list[str]:
        answer = await service.get("/v1/referrals?direction=incoming")
        return [item["referral_id"] for item in answer.json()["items"]]

    async def listed() -> bool | None:
        return referral_id in await incoming(day_centre) or None

    await eventually(listed)
    assert referral_id not in await incoming(food_bank)


async def test_a_charity_refers_to_the_other_charity_of_its_sector(
    food_bank: RunningService, day_centre: RunningService
) -> None:
    person = await registered(food_bank, family_name=f"Peer{uuid.uuid4().hex[:6]}")
    made = await food_bank.post("/v1/referrals", {
        "person_id": person, "to_org": "riverside_day_centre", "reason": "somewhere warm by day",
    })  # fmt: skip
    assert made.status_code == 201, made.text
    received = await received_by(day_centre, made.json()["referral_id"])
    assert received["from_org"] == "eastside_food_bank"


async def test_naming_an_organisation_the_place_does_not_have_is_refused_writing_nothing(
    council: RunningService,
) -> None:
    person = await registered(council)
    before = await council.count_events()
    refused = await council.post("/v1/referrals", {
        "person_id": person, "to_org": "voluntary", "reason": "support",
    })  # fmt: skip
    assert refused.status_code == 422
    assert field_rules(refused) == {("body.to_org", "known_organisation")}
    consent = await council.post(f"/v1/people/{person}/consent", {
        "decision": "withdrawn", "recipients": ["eastside_food_bank", "police"],
        "purposes": ["direct_care"],
    })  # fmt: skip
    assert consent.status_code == 422
    assert field_rules(consent) == {("body.recipients.1", "known_organisation")}
    assert await council.count_events() == before


async def test_a_key_of_another_sector_is_refused_by_the_voluntary_service(
    council: RunningService, food_bank: RunningService
) -> None:
    answer = await food_bank.post("/v1/people", a_person(), key=council.key)
    assert answer.status_code == 403
    assert answer.json()["error"]["code"] == "wrong_organisation"
    assert "voluntary" in answer.json()["error"]["message"]
