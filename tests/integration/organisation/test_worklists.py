"""A frontline worker's lists over HTTP, on the running services and real PostgreSQL: the
referrals waiting on either side, a caseload, and people found by name and birth date."""

import uuid
from collections.abc import Callable
from typing import Any

from tests.integration.organisation.running_services import (
    KEY_WORKER,
    RunningService,
    eventually,
)
from tests.integration.organisation.sample_requests import (
    a_housing_referral,
    field_rules,
    received_by,
    registered,
)


async def _listed(
    service: RunningService, path: str, wanted: Callable[[list[dict[str, Any]]], bool]
) -> dict[str, Any]:
    """Return the list at `path` once `wanted` holds of its items (lists follow the log)."""

    async def read() -> dict[str, Any] | None:
        answer = await service.get(path)
        assert answer.status_code == 200, answer.text
        body: dict[str, Any] = answer.json()
        return body if wanted(body["items"]) else None

    return await eventually(read)


def _with(key: str, value: str) -> Callable[[list[dict[str, Any]]], bool]:
    return lambda items: any(item[key] == value for item in items)


def _unique_family_name() -> str:
    return f"Morgan-{uuid.uuid4().hex[:6]}"


async def test_a_referral_waits_in_the_receivers_incoming_list_and_shows_in_the_senders(
    housing: RunningService, voluntary: RunningService
) -> None:
    _, made = await a_housing_referral(housing)
    referral_id = made.json()["referral_id"]
    await received_by(voluntary, referral_id)

    incoming = await _listed(
        voluntary, "/v1/referrals?status=received", _with("referral_id", referral_id)
    )
    [item] = [i for i in incoming["items"] if i["referral_id"] == referral_id]
    assert (item["direction"], item["status"], item["other_org"], item["urgency"]) == (
        "incoming", "received", "housing", "urgent",
    )  # fmt: skip
    assert (item["person"]["given_name"], item["person"]["family_name"]) == ("Alex", "Morgan")
    outgoing = await _listed(  # housing's inbox learns it was received
        housing,
        "/v1/referrals?direction=outgoing&status=received",
        _with("referral_id", referral_id),
    )
    [sent] = [i for i in outgoing["items"] if i["referral_id"] == referral_id]
    assert (sent["direction"], sent["other_org"]) == ("outgoing", "voluntary")

    accepted = await voluntary.post(
        f"/v1/referrals/{referral_id}/accept", {"key_worker": KEY_WORKER}
    )
    assert accepted.status_code == 200, accepted.text
    await _listed(voluntary, "/v1/referrals?status=accepted", _with("referral_id", referral_id))
    waiting = await voluntary.get("/v1/referrals?status=received&limit=100")
    assert referral_id not in {i["referral_id"] for i in waiting.json()["items"]}


async def test_a_caseload_lists_a_key_workers_open_cases(housing: RunningService) -> None:
    worker = {"name": f"Jo {uuid.uuid4().hex[:6]}", "email": f"{uuid.uuid4().hex[:6]}@example.org"}
    person_id = await registered(housing, family_name=_unique_family_name())
    opened = [
        (await housing.post(
            f"/v1/people/{person_id}/cases", {"reason": reason, "key_worker": worker}
        )).json()["case_id"]
        for reason in ("Rent arrears", "Repairs")
    ]  # fmt: skip
    closed = await housing.post(f"/v1/cases/{opened[0]}/close", {"outcome": "Arrears cleared"})
    assert closed.status_code == 200, closed.text

    by_name = f"/v1/cases?status=open&key_worker={worker['name'].upper()}"
    caseload = await _listed(  # the close follows the openings in the lists, moments later
        housing, by_name, lambda items: [item["case_id"] for item in items] == [opened[1]]
    )
    assert caseload["items"][0]["person"]["person_id"] == person_id
    assert caseload["total"] == 1
    by_email = await housing.get(f"/v1/cases?key_worker={worker['email']}")
    assert [item["case_id"] for item in by_email.json()["items"]] == opened[::-1]  # newest first
    assert [item["status"] for item in by_email.json()["items"]] == ["open", "closed"]


async def test_people_are_found_by_family_name_however_it_is_typed_and_by_birth_date(
    mental_health: RunningService,
) -> None:
    name = f"O'Neil-Smith {uuid.uuid4().hex[:4]}"
    typed = name.replace("O'Neil-Smith", "oneil smith")
    same_name = await registered(mental_health, family_name=name, date_of_birth="1990-01-02")
    other_birth = await registered(mental_health, family_name=name, date_of_birth="1971-07-30")
    await registered(mental_health, family_name=f"{name}x", date_of_birth="1990-01-02")

    found = await _listed(
        mental_health, f"/v1/people?family_name={typed}", lambda items: len(items) == 2
    )
    assert {item["person"]["person_id"] for item in found["items"]} == {same_name, other_birth}
    assert found["items"][0]["person"]["family_name"] == name  # as registered
    both = await mental_health.get(f"/v1/people?family_name={typed}&date_of_birth=1990-01-02")
    assert [item["person"]["person_id"] for item in both.json()["items"]] == [same_name]


async def test_paging_walks_every_row_once_with_the_total_and_next_links(
    voluntary: RunningService,
) -> None:
    name = _unique_family_name()
    people = {await registered(voluntary, family_name=name) for _ in range(5)}
    await _listed(voluntary, f"/v1/people?family_name={name}", lambda items: len(items) == 5)

    seen: list[str] = []
    path: str | None = f"/v1/people?family_name={name}&limit=2"
    sizes = []
    while path is not None:
        page = (await voluntary.get(path)).json()
        assert page["total"] == 5
        sizes.append(len(page["items"]))
        seen += [item["person"]["person_id"] for item in page["items"]]
        path = page["next"]
    assert sizes == [2, 2, 1]
    assert sorted(seen) == sorted(people)


async def test_a_list_request_that_breaks_a_rule_names_the_field(housing: RunningService) -> None:
    cases: list[tuple[str, set[tuple[str, str]]]] = [
        ("/v1/referrals?status=lost", {("query.status.0", "literal_error")}),
        ("/v1/referrals?direction=sideways", {("query.direction", "literal_error")}),
        ("/v1/cases?limit=0", {("query.limit", "greater_than_equal")}),
        ("/v1/cases?limit=101", {("query.limit", "less_than_equal")}),
        ("/v1/cases?cursor=not-a-cursor", {("query.cursor", "bad_cursor")}),
        ("/v1/people?date_of_birth=14/05/1987",
         {("query.date_of_birth", "date_from_datetime_parsing")}),
        ("/v1/people",
         {("query.family_name", "one_required"), ("query.date_of_birth", "one_required")}),
    ]  # fmt: skip
    for path, rules in cases:
        answer = await housing.get(path)
        assert answer.status_code == 422, (path, answer.text)
        assert field_rules(answer) == rules, path

    person_id = await registered(housing)
    for reason in ("Rent arrears", "Repairs"):
        await housing.post(
            f"/v1/people/{person_id}/cases", {"reason": reason, "key_worker": KEY_WORKER}
        )
    page = await _listed(housing, "/v1/cases?limit=1", lambda items: len(items) == 1)
    cursor = page["next"].split("cursor=")[1].split("&")[0]
    answer = await housing.get(f"/v1/referrals?cursor={cursor}")  # another list's: refused
    assert field_rules(answer) == {("query.cursor", "bad_cursor")}


async def test_another_organisations_key_cannot_read_the_lists(
    housing: RunningService, voluntary: RunningService
) -> None:
    for path in ("/v1/referrals", "/v1/cases", "/v1/people?family_name=Morgan"):
        answer = await housing.get(path, key=voluntary.key)
        assert answer.status_code == 403, answer.text


async def test_lists_are_rebuilt_from_the_log_when_started_afresh(
    housing: RunningService,
) -> None:
    """What was recorded before the lists existed (or before they were emptied) is listed:
    the consumer reads the organisation's log from its start."""
    name = _unique_family_name()
    person_id = await registered(housing, family_name=name)
    await _listed(housing, f"/v1/people?family_name={name}", _with_person(person_id))

    await _forget_the_lists(housing)

    again = await _listed(housing, f"/v1/people?family_name={name}", _with_person(person_id))
    assert again["total"] == 1


def _with_person(person_id: str) -> Callable[[list[dict[str, Any]]], bool]:
    return lambda items: any(item["person"]["person_id"] == person_id for item in items)


async def _forget_the_lists(service: RunningService) -> None:
    s = service.schema
    async with service.pool.acquire() as conn, conn.transaction():
        for table in ("referral_list", "case_list", "person_search"):
            await conn.execute(f"DELETE FROM {s}.{table}")  # noqa: S608 - schema made by the test
        await conn.execute(
            f"DELETE FROM {s}.checkpoints WHERE consumer = 'worklists'"  # noqa: S608 - schema made by the test
        )
