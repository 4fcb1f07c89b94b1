"""Request bodies and short request sequences the organisation service tests share."""

import uuid
from typing import Any

import httpx

from tests.integration.organisation.running_services import (
    KEY_WORKER,
    RunningService,
    a_fresh_nhs_number,
    eventually,
)

PERSON = {
    "given_name": "Alex",
    "family_name": "Morgan",
    "date_of_birth": "1987-05-14",
    "postcode": "bs5 6xx",
    "place": "E05010892",
}


def a_person(**fields: Any) -> dict[str, Any]:
    """Return registration details; a random local id keeps tests from colliding."""
    return {**PERSON, "local_id": f"L-{uuid.uuid4().hex[:8]}", **fields}


async def registered(service: RunningService, **fields: Any) -> str:
    """Register a person and return their id."""
    response = await service.post("/v1/people", a_person(**fields))
    assert response.status_code == 201, response.text
    person_id: str = response.json()["person_id"]
    return person_id


async def open_case(service: RunningService) -> str:
    """Register a person, open a case for them, and return the case id."""
    person_id = await registered(service)
    response = await service.post(
        f"/v1/people/{person_id}/cases", {"reason": "Rent arrears", "key_worker": KEY_WORKER}
    )
    assert response.status_code == 201, response.text
    case_id: str = response.json()["case_id"]
    return case_id


def field_rules(response: Any) -> set[tuple[str, str]]:
    """Return the (field, rule) pairs an error answer names."""
    return {(f["field"], f["rule"]) for f in response.json()["error"].get("fields", [])}


def event(type_: str, **data: Any) -> dict[str, Any]:
    """Return a case event request body."""
    return {"type": type_, "data": data}


def at_risk(**data: Any) -> dict[str, Any]:
    """Return a housing.tenancy_at_risk request body."""
    return event("housing.tenancy_at_risk", **data)


def with_fields(body: dict[str, Any], **fields: Any) -> dict[str, Any]:
    """Return a request body with more top-level fields."""
    return {**body, **fields}


REFERRED_PERSON = {
    "given_name": "Alex",
    "family_name": "Morgan",
    "date_of_birth": "1987-05-14",
    "place": "E05010892",
}


async def a_housing_referral(
    housing: RunningService, *, to_org: str = "voluntary", **details: Any
) -> tuple[str, httpx.Response]:
    """Register a person with housing and refer them; return housing's person id and the answer."""
    person = {
        **REFERRED_PERSON,
        "nhs_number": a_fresh_nhs_number(),
        "local_id": f"H-{uuid.uuid4().hex[:6]}",
    }
    registered = await housing.post("/v1/people", {**person, **details})
    person_id = registered.json()["person_id"]
    referral = {
        "person_id": person_id,
        "to_org": to_org,
        "reason": "Food support",
        "urgency": "urgent",
    }
    return person_id, await housing.post(
        "/v1/referrals", referral, **{"X-Correlation-ID": "4242a0b1-0000-4000-8000-000000000042"}
    )


async def received_by(service: RunningService, referral_id: str) -> dict[str, Any]:
    """Wait until the service's inbox has the referral; return its side of it."""

    async def read() -> dict[str, Any] | None:
        answer = await service.get(f"/v1/referrals/{referral_id}")
        return answer.json() if answer.status_code == 200 else None

    return await eventually(read)


async def a_received_referral(housing: RunningService, voluntary: RunningService) -> dict[str, Any]:
    """Make a housing referral to the voluntary sector and wait until it is received."""
    _, made = await a_housing_referral(housing)
    return await received_by(voluntary, made.json()["referral_id"])
