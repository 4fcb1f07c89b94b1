"""What a housing partner app sends: registrations, cases opened, and events recorded on cases."""

import asyncio
from collections.abc import Iterator, Sequence
from datetime import UTC, datetime, timedelta
from itertools import islice
from typing import Any

import httpx

from bench.crowd import nhs_numbers

_GIVEN = ("Alex", "Sam", "Jo", "Priya", "Tomasz", "Aisha", "Liam", "Mei")
_FAMILY = ("Morgan", "Okafor", "Reid", "Shah", "Nowak", "Begum", "Walsh", "Chen")
_KEY_WORKER = {"name": "Sam Okafor", "role": "Housing officer", "team": "Eastside housing"}


def person(n: int, nhs_number: str) -> dict[str, Any]:
    """Return the registration of made-up person `n` with their (valid, distinct) NHS number."""
    return {
        "local_id": f"BENCH-{n:07d}",
        "nhs_number": nhs_number,
        "given_name": _GIVEN[n % len(_GIVEN)],
        "family_name": _FAMILY[n // len(_GIVEN) % len(_FAMILY)],
        "date_of_birth": f"{1950 + n % 50}-{n % 12 + 1:02d}-{n % 28 + 1:02d}",
        "postcode": f"BS{n % 16 + 1} {n % 9 + 1}XX",
        "place": "E05010892",
    }


def case_event(nth: int) -> dict[str, Any]:
    """Return the body recording a case's `nth` event (from 0): a tenancy at risk, a flag
    raised, an eviction notice, the flag lifted, and again; every one valid after the last."""
    served_on = (datetime.now(UTC) - timedelta(days=30)).date().isoformat()
    cycle: tuple[dict[str, Any], ...] = (
        {"type": "housing.tenancy_at_risk", "data": {"risk": "rent_arrears"}},
        {"type": "flag.raised", "data": {"flag": "risk_to_staff"}},
        {"type": "housing.eviction_notice_served",
         "data": {"notice": "section_21", "served_on": served_on}},
        {"type": "flag.lifted", "data": {"flag": "risk_to_staff"}},
    )  # fmt: skip
    return cycle[nth % len(cycle)]


async def open_cases(clients: Sequence[httpx.AsyncClient], count: int) -> list[str]:
    """Register `count` people and open a case for each, the clients sharing the work; return
    the case ids in order."""
    people = [person(n, nhs) for n, nhs in enumerate(islice(nhs_numbers(700_000_000), count))]
    case_ids: list[str] = [""] * count

    async def open_for(client: httpx.AsyncClient, ns: Iterator[int]) -> None:
        for n in ns:
            case_ids[n] = await _open_case(client, people[n])

    shares = [iter(range(i, count, len(clients))) for i in range(len(clients))]
    await asyncio.gather(*(open_for(c, share) for c, share in zip(clients, shares, strict=True)))
    return case_ids


async def _open_case(client: httpx.AsyncClient, details: dict[str, Any]) -> str:
    registered = _created(await client.post("/v1/people", json=details))
    body = {"reason": "Rent arrears", "key_worker": _KEY_WORKER}
    opened = _created(await client.post(f"/v1/people/{registered['person_id']}/cases", json=body))
    case_id: str = opened["case_id"]
    return case_id


def _created(response: httpx.Response) -> dict[str, Any]:
    """Return the answer's JSON; fail unless it is 201 Created."""
    if response.status_code != 201:
        raise RuntimeError(
            f"{response.request.method} {response.request.url.path} answered"
            f" {response.status_code}: {response.text[:300]}"
        )
    answer: dict[str, Any] = response.json()
    return answer
