"""Registering people: one person per NHS number or local id; no personal data in logs."""

import asyncio
from typing import Any

import pytest
from structlog.testing import capture_logs

from tests.integration.organisation.running_services import (
    RunningService,
    a_fresh_nhs_number,
)
from tests.integration.organisation.sample_requests import (
    a_person,
    field_rules,
    registered,
)


async def test_a_registered_person_reads_back_as_registered(housing: RunningService) -> None:
    """Registration answers the new id at version 1; the person reads back normalised."""
    person = await housing.post("/v1/people", a_person(nhs_number="943 476 5919"))
    person_id = person.json()["person_id"]
    assert (person.status_code, person.json()) == (201, {"person_id": person_id, "version": 1})
    read = (await housing.get(f"/v1/people/{person_id}")).json()
    assert (read["nhs_number"], read["postcode"], read["place"], read["version"]) == (
        "9434765919",
        "BS5 6XX",
        "E05010892",
        1,
    )


@pytest.mark.parametrize(
    ("fields", "field", "rule"),
    [
        ({"nhs_number": "9434765918"}, "body.nhs_number", "nhs_number_check_digit"),
        ({"nhs_number": "12345"}, "body.nhs_number", "nhs_number_format"),
        ({"family_name": None}, "body.family_name", "string_type"),
        ({"date_of_birth": "14/05/1987"}, "body.date_of_birth", "date_from_datetime_parsing"),
        ({"postcode": "nowhere"}, "body.postcode", "postcode_format"),
        ({"place": "Bristol"}, "body.place", "place_code_format"),
        ({"given_name": "   "}, "body.given_name", "not_blank"),
        ({"given_name": "Da\u0000vid"}, "body.given_name", "no_nul_character"),
        ({"local_id": "x\u0000"}, "body.local_id", "no_nul_character"),
        ({"date_of_birth": "2999-01-01"}, "body.date_of_birth", "date_of_birth_in_future"),
        ({"date_of_birth": "0001-01-01"}, "body.date_of_birth", "date_of_birth_too_early"),
    ],
)
async def test_a_bad_registration_names_the_field_and_rule_and_writes_nothing(
    housing: RunningService, fields: dict[str, Any], field: str, rule: str
) -> None:
    """An invalid NHS number, name, date, postcode or place: 422 naming it, nobody registered."""
    before = await housing.count_events()
    response = await housing.post("/v1/people", a_person(**fields))
    assert response.status_code == 422, response.text
    assert (field, rule) in field_rules(response)
    assert await housing.count_events() == before


async def test_a_missing_field_is_named(housing: RunningService) -> None:
    """Leaving out a required detail names it as missing."""
    body = {k: v for k, v in a_person().items() if k != "given_name"}
    response = await housing.post("/v1/people", body)
    assert ("body.given_name", "missing") in field_rules(response)


async def test_concurrent_registrations_of_one_nhs_number_register_one_person(
    housing: RunningService,
) -> None:
    """Two registrations racing with one NHS number: one 201, one 409 naming the first person."""
    nhs_number = a_fresh_nhs_number()
    bodies = [a_person(nhs_number=nhs_number), a_person(nhs_number=nhs_number)]
    answers = await asyncio.gather(*(housing.post("/v1/people", body) for body in bodies))
    assert sorted(a.status_code for a in answers) == [201, 409]
    created = next(a for a in answers if a.status_code == 201).json()["person_id"]
    refused = next(a for a in answers if a.status_code == 409).json()["error"]
    assert refused["code"] == "already_registered"
    assert created in refused["message"]
    assert refused["fields"][0]["field"] == "body.nhs_number"


async def test_a_local_id_belongs_to_one_person(housing: RunningService) -> None:
    """Registering a second person under a local id already used is a 409 naming local_id."""
    body = a_person()
    first = await registered(housing, **body)
    again = await housing.post("/v1/people", {**body, "given_name": "Sam"})
    assert again.status_code == 409
    assert first in again.json()["error"]["message"]
    assert ("body.local_id", "already_registered") in field_rules(again)


async def test_command_logs_carry_ids_but_no_personal_data(housing: RunningService) -> None:
    """One line per command outcome, with ids; never a name, NHS number, birth date or postcode."""
    nhs_number = a_fresh_nhs_number()
    with capture_logs() as logs:
        person_id = await registered(housing, nhs_number=nhs_number, given_name="Zebedee")
        await housing.post("/v1/people", a_person(nhs_number=nhs_number))
    outcomes = [line for line in logs if line["event"].startswith("command_")]
    assert [line["event"] for line in outcomes] == ["command_done", "command_rejected"]
    assert outcomes[0]["person_id"] == person_id
    text = repr(logs)
    for personal in ("Zebedee", "Morgan", nhs_number, "1987-05-14", "BS5 6XX"):
        assert personal not in text
