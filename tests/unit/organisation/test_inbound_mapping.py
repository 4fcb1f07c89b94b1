"""A charity's messages in our terms, by a mapping that is configuration: kinds, dotted
paths, codes, dates the charity's way; and what cannot be mapped, said precisely."""

from datetime import date
from typing import Any

import pytest
from pydantic import ValidationError

from services.organisation.domain.inbound_mapping import (
    MappedCommand,
    SourceMapping,
    Unmappable,
    map_message,
    source_case_id,
)

MAPPING = SourceMapping.model_validate(
    {
        "kind_field": "event",
        "person_id_field": "client.id",
        "case_id_field": "case.id",
        "date_format": "%d/%m/%Y",
        "place": "E05010892",
        "kinds": {
            "client.created": {
                "command": "register_person",
                "values": {
                    "given_name": "client.first_name",
                    "family_name": "client.last_name",
                    "date_of_birth": "client.dob",
                    "postcode": "client.postcode",
                    "local_id": "client.id",
                },
            },
            "case.opened": {
                "command": "open_case",
                "values": {"reason": "case.reason", "key_worker.name": "case.worker"},
            },
            "session.logged": {
                "command": "record_event",
                "event_type": "voluntary.support_session_held",
                "values": {"session": "session.type", "duration_minutes": "session.minutes"},
                "codes": {"session": {"1-1": "key_work", "GRP": "group"}},
            },
        },
    }
)


def _session(kind: str = "1-1", **more: Any) -> dict[str, Any]:
    return {
        "event": "session.logged",
        "client": {"id": "C-17"},
        "case": {"id": "K-9"},
        "session": {"type": kind, "minutes": 45, **more},
    }


def test_a_message_becomes_the_command_its_kind_says_with_the_charitys_codes_translated() -> None:
    assert map_message(MAPPING, _session()) == MappedCommand(
        "record_event",
        "C-17",
        "K-9",
        "voluntary.support_session_held",
        {"session": "key_work", "duration_minutes": 45},
    )


def test_dates_are_read_the_charitys_way_and_nested_values_are_built() -> None:
    created = {
        "event": "client.created",
        "client": {"id": "C-17", "first_name": " Jo ", "last_name": "Bloggs",
                   "dob": "03/04/1990", "postcode": ""},
    }  # fmt: skip
    mapped = map_message(MAPPING, created)
    assert isinstance(mapped, MappedCommand)
    assert mapped.values == {
        "given_name": "Jo",
        "family_name": "Bloggs",
        "date_of_birth": date(1990, 4, 3),  # 3 April: day first, as the charity writes it
        "local_id": "C-17",
    }  # a blank postcode is not given
    opened = {"event": "case.opened", "client": {"id": "C-17"},
              "case": {"id": "K-9", "reason": "food", "worker": "Jo Reid"}}  # fmt: skip
    assert map_message(MAPPING, opened) == MappedCommand(
        "open_case", "C-17", "K-9", None, {"reason": "food", "key_worker": {"name": "Jo Reid"}}
    )


def test_a_flat_row_holds_whole_paths_as_its_keys() -> None:
    """A CSV row is flat: `client.id` is one column."""
    row = {"event": "session.logged", "client.id": "C-17", "case.id": "K-9",
           "session.type": "GRP", "session.minutes": "30"}  # fmt: skip
    mapped = map_message(MAPPING, row)
    assert isinstance(mapped, MappedCommand)
    assert mapped.values == {"session": "group", "duration_minutes": "30"}


@pytest.mark.parametrize(
    ("message", "why"),
    [
        (
            {"client": {"id": "C-1"}},
            Unmappable("event", "missing", "the message does not say its kind"),
        ),
        ({**_session(), "event": "invoice.paid"}, "unknown_kind"),
        (_session(kind="walk"), "unknown_code"),
        ({**_session(), "client": {}}, "missing"),
        ({**_session(), "case": {}}, "missing"),
    ],
)
def test_what_cannot_be_mapped_says_which_field_and_rule(message: dict[str, Any], why: Any) -> None:
    refused = map_message(MAPPING, message)
    assert isinstance(refused, Unmappable)
    if isinstance(why, Unmappable):
        assert refused == why
    else:
        assert refused.rule == why


def test_a_date_not_written_the_charitys_way_is_unmappable_naming_the_field() -> None:
    client = {"id": "C-1", "first_name": "Jo", "last_name": "B", "dob": "1990-04-03"}
    created = {"event": "client.created", "client": client}
    assert map_message(MAPPING, created) == Unmappable(
        "client.dob", "date_format", "'1990-04-03' is not a date written as %d/%m/%Y"
    )


@pytest.mark.parametrize(
    ("kinds", "says"),
    [
        ({"x": {"command": "record_event"}}, "event_type"),
        ({"x": {"command": "open_case", "event_type": "voluntary.disengaged"}}, "event_type"),
        ({"x": {"command": "record_event", "event_type": "no.such_type"}}, "no.such_type"),
        ({"x": {"command": "record_event", "event_type": "person.registered"}}, "case"),
        ({"x": {"command": "delete_everything"}}, "command"),
        ({"x": {"command": "open_case", "codes": {"reason": {"a": "b"}}}}, "codes"),
        (
            {
                "x": {
                    "command": "record_event",
                    "event_type": "voluntary.food_support_given",
                    "values": {"food": "f"},
                }
            },
            "has no ['food']",
        ),
        (
            {
                "x": {
                    "command": "record_event",
                    "event_type": "voluntary.food_support_given",
                    "values": {"kind": "f"},
                    "codes": {"kind": {"P": "pizza"}},
                }
            },
            "['pizza'] not among",
        ),
    ],
)
def test_a_broken_mapping_is_refused_at_start_up_saying_why(
    kinds: dict[str, Any], says: str
) -> None:
    with pytest.raises((ValidationError, ValueError)) as refused:
        SourceMapping.model_validate(
            {"kind_field": "k", "person_id_field": "p", "case_id_field": "c", "place": "E1",
             "kinds": kinds}
        )  # fmt: skip
    assert says in str(refused.value)


def test_our_case_id_is_the_same_for_the_same_source_and_case_and_differs_otherwise() -> None:
    assert source_case_id("eastside", "K-9") == source_case_id("eastside", "K-9")
    assert source_case_id("eastside", "K-9") != source_case_id("westside", "K-9")
