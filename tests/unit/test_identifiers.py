"""Identifiers every organisation shares: NHS number, postcode, place code, event id."""

import time
from uuid import RFC_4122, UUID

import pytest
from pydantic import TypeAdapter, ValidationError

from events.envelope import new_event_id
from events.identifiers import NhsNumber, PlaceCode, Postcode, nhs_number_check_digit

NHS_NUMBER = TypeAdapter[str](NhsNumber)
POSTCODE = TypeAdapter[str](Postcode)
PLACE_CODE = TypeAdapter[str](PlaceCode)


def _error_type(adapter: TypeAdapter[str], value: str) -> str:
    with pytest.raises(ValidationError) as caught:
        adapter.validate_python(value)
    return caught.value.errors()[0]["type"]


@pytest.mark.parametrize("typed", ["9434765919", "943 476 5919", "943-476-5919"])
def test_nhs_number_is_accepted_as_written_and_stored_as_ten_digits(typed: str) -> None:
    """A worker may type the NHS number with spaces or dashes; it is stored as ten digits."""
    assert NHS_NUMBER.validate_python(typed) == "9434765919"


def test_nhs_number_with_a_wrong_check_digit_is_rejected() -> None:
    """A mistyped digit is caught by the modulus-11 check digit."""
    assert _error_type(NHS_NUMBER, "9434765918") == "nhs_number_check_digit"


@pytest.mark.parametrize("last", "0123456789")
def test_nhs_number_whose_check_digit_would_be_ten_is_never_valid(last: str) -> None:
    """Nine digits whose check digit comes out as 10 are never issued as an NHS number."""
    assert nhs_number_check_digit("123456789") is None
    assert _error_type(NHS_NUMBER, f"123456789{last}") == "nhs_number_check_digit"


@pytest.mark.parametrize("typed", ["94347659AB", "943476591", "94347659190", ""])
def test_nhs_number_that_is_not_ten_digits_is_rejected(typed: str) -> None:
    """Letters or the wrong number of digits are a format error, not a check-digit one."""
    assert _error_type(NHS_NUMBER, typed) == "nhs_number_format"


@pytest.mark.parametrize(
    ("typed", "stored"), [("bs56xx", "BS5 6XX"), ("BS5 6XX", "BS5 6XX"), ("sw1a1aa", "SW1A 1AA")]
)
def test_postcode_is_stored_in_capitals_with_one_space(typed: str, stored: str) -> None:
    """However a postcode is typed, it is stored the way Royal Mail writes it."""
    assert POSTCODE.validate_python(typed) == stored


@pytest.mark.parametrize("typed", ["not a postcode", "12345", "BS5"])
def test_text_that_is_not_a_postcode_is_rejected(typed: str) -> None:
    """Something that cannot be a UK postcode is refused."""
    assert _error_type(POSTCODE, typed) == "postcode_format"


def test_ward_code_is_a_place() -> None:
    """An ONS geography code such as a ward (E05…) names a place."""
    assert PLACE_CODE.validate_python("E05001234") == "E05001234"


@pytest.mark.parametrize("typed", ["BS5", "E0500123", "X05001234"])
def test_a_postcode_district_or_malformed_code_is_not_a_place(typed: str) -> None:
    """Places are geography codes, so a postcode district like BS5 is refused."""
    assert _error_type(PLACE_CODE, typed) == "place_code_format"


def test_event_id_is_a_version_7_uuid() -> None:
    """Event ids are RFC 9562 version 7 UUIDs, which any UUID library understands."""
    event_id = new_event_id()
    assert event_id.version == 7
    assert event_id.variant == RFC_4122


def _id_in_next_millisecond() -> UUID:
    start = time.time_ns() // 1_000_000
    while time.time_ns() // 1_000_000 == start:
        pass
    return new_event_id()


def test_event_ids_made_in_later_milliseconds_sort_later() -> None:
    """Ordering event ids orders events by when they were made, across milliseconds."""
    made = [_id_in_next_millisecond() for _ in range(5)]
    assert sorted(made) == made
    assert made[0].int >> 80 == pytest.approx(time.time_ns() // 1_000_000, abs=1_000)
