"""Changing how a person is known over HTTP: only what differs is recorded, identifiers stay
one person's, bad changes name the field, and the lists find the person by the new name."""

import uuid

from tests.integration.organisation.running_services import (
    RunningService,
    a_fresh_nhs_number,
    eventually,
)
from tests.integration.organisation.sample_requests import a_person, field_rules, registered


async def test_a_move_is_recorded_once_and_read_back(housing: RunningService) -> None:
    person_id = await registered(housing, postcode="BS5 6XX")

    moved = await housing.patch(f"/v1/people/{person_id}", {"postcode": "bs1 4dj"})
    again = await housing.patch(f"/v1/people/{person_id}", {"postcode": "BS1 4DJ"})

    assert moved.status_code == 200, moved.text
    assert (moved.json()["changed"], moved.json()["version"]) == (["postcode"], 2)
    assert (again.json()["changed"], again.json()["version"]) == ([], 2)  # already so
    person = (await housing.get(f"/v1/people/{person_id}")).json()
    assert (person["postcode"], person["given_name"], person["version"]) == ("BS1 4DJ", "Alex", 2)
    events = await housing.pool.fetch(
        f"SELECT type FROM {housing.schema}.events WHERE stream_id = $1"  # noqa: S608
        " ORDER BY stream_version",
        f"person-{person_id}",
    )
    assert [row["type"] for row in events] == ["person.registered", "person.details_changed"]


async def test_an_nhs_number_stays_one_persons(housing: RunningService) -> None:
    taken = a_fresh_nhs_number()
    holder = await registered(housing, nhs_number=taken)
    person_id = await registered(housing)

    clash = await housing.patch(f"/v1/people/{person_id}", {"nhs_number": taken})

    assert clash.status_code == 409, clash.text
    assert clash.json()["error"]["code"] == "already_registered"
    assert holder in clash.json()["error"]["message"]
    freed = await housing.patch(f"/v1/people/{holder}", {"nhs_number": None})
    assert freed.json()["changed"] == ["nhs_number"]
    taken_over = await housing.patch(f"/v1/people/{person_id}", {"nhs_number": taken})
    assert taken_over.status_code == 200, taken_over.text


async def test_a_change_that_breaks_a_rule_names_the_field(housing: RunningService) -> None:
    person_id = await registered(housing)
    cases = [
        ({}, {("body", "no_change")}),
        ({"given_name": None}, {("body.given_name", "required_detail")}),
        ({"postcode": "nope"}, {("body.postcode", "postcode_format")}),
        ({"shoe_size": 9}, {("body.shoe_size", "extra_forbidden")}),
    ]
    for body, rules in cases:
        answer = await housing.patch(f"/v1/people/{person_id}", body)
        assert answer.status_code == 422, (body, answer.text)
        assert field_rules(answer) == rules, body
    unknown = await housing.patch(f"/v1/people/{uuid.uuid4()}", {"postcode": "BS1 4DJ"})
    assert unknown.status_code == 404


async def test_a_new_family_name_finds_the_person_and_the_old_one_does_not(
    voluntary: RunningService,
) -> None:
    old, new = f"Morgan-{uuid.uuid4().hex[:6]}", f"Reid-{uuid.uuid4().hex[:6]}"
    person_id = await registered(voluntary, family_name=old)
    changed = await voluntary.patch(f"/v1/people/{person_id}", {"family_name": new})
    assert changed.status_code == 200, changed.text

    async def found_by_new() -> list[str] | None:
        items = (await voluntary.get(f"/v1/people?family_name={new}")).json()["items"]
        return [item["person"]["person_id"] for item in items] or None

    assert await eventually(found_by_new) == [person_id]
    by_old = (await voluntary.get(f"/v1/people?family_name={old}")).json()
    assert by_old["items"] == []


async def test_an_address_line_is_registered_changed_and_removed(housing: RunningService) -> None:
    """The first line of the address is optional: registered, read back, changed on a move,
    removed with null; blank or overlong lines are refused naming the field and rule."""
    person_id = await registered(housing, address="12 Mill Road")
    assert (await housing.get(f"/v1/people/{person_id}")).json()["address"] == "12 Mill Road"

    moved = await housing.patch(f"/v1/people/{person_id}", {"address": "Flat 2, 7 Quay St"})
    assert moved.json()["changed"] == ["address"], moved.text
    removed = await housing.patch(f"/v1/people/{person_id}", {"address": None})
    assert removed.json()["changed"] == ["address"], removed.text
    person = (await housing.get(f"/v1/people/{person_id}")).json()
    assert (person["address"], person["version"]) == (None, 3)

    for bad, rule in (("  ", "not_blank"), ("x" * 201, "too_long")):
        refused = await housing.post("/v1/people", a_person(address=bad))
        assert refused.status_code == 422, refused.text
        assert field_rules(refused) == {("body.address", rule)}
        changed = await housing.patch(f"/v1/people/{person_id}", {"address": bad})
        assert field_rules(changed) == {("body.address", rule)}
