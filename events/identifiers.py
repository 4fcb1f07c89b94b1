"""Validated identifiers shared by every organisation: NHS number, postcode, place code, names."""

import re
from datetime import date
from typing import Annotated

from pydantic import AfterValidator, BeforeValidator, Field
from pydantic_core import PydanticCustomError

from events.recording_rules import FreeText

_NHS_WEIGHTS = range(10, 1, -1)
_POSTCODE = re.compile(r"^[A-Z]{1,2}[0-9][A-Z0-9]? ?[0-9][A-Z]{2}$")
_PLACE_CODE = re.compile(r"^[EWSN][0-9]{8}$")


def nhs_number_check_digit(first_nine: str) -> int | None:
    """Return the modulus-11 check digit for nine NHS number digits, or None if none is valid."""
    total = sum(int(digit) * weight for digit, weight in zip(first_nine, _NHS_WEIGHTS, strict=True))
    check = 11 - total % 11
    if check == 11:
        return 0
    return None if check == 10 else check


def is_valid_nhs_number(value: str) -> bool:
    """Tell whether ten digits form an NHS number that passes the modulus-11 test."""
    if len(value) != 10 or not value.isdigit():
        return False
    return nhs_number_check_digit(value[:9]) == int(value[9])


def _normalise_nhs_number(value: object) -> object:
    return value.replace(" ", "").replace("-", "") if isinstance(value, str) else value


def _check_nhs_number(value: str) -> str:
    if not value.isdigit() or len(value) != 10:
        raise PydanticCustomError("nhs_number_format", "an NHS number is ten digits")
    if not is_valid_nhs_number(value):
        raise PydanticCustomError(
            "nhs_number_check_digit", "the NHS number fails the modulus-11 check digit test"
        )
    return value


def _normalise_postcode(value: object) -> object:
    if not isinstance(value, str):
        return value
    compact = value.upper().replace(" ", "")
    return f"{compact[:-3]} {compact[-3:]}" if len(compact) > 3 else compact


def _check_postcode(value: str) -> str:
    if not _POSTCODE.match(value):
        raise PydanticCustomError("postcode_format", "not a UK postcode (e.g. BS5 6XX)")
    return value


def _check_place_code(value: str) -> str:
    if not _PLACE_CODE.match(value):
        raise PydanticCustomError(
            "place_code_format",
            "a place is a GSS geography code: a letter E, W, S or N and eight digits (E05001234)",
        )
    return value


EARLIEST_DATE_OF_BIRTH = date(1880, 1, 1)


def _check_date_of_birth(value: date) -> date:
    if value < EARLIEST_DATE_OF_BIRTH:
        raise PydanticCustomError("date_of_birth_too_early", "a date of birth is after 1880")
    if value > date.today():
        raise PydanticCustomError("date_of_birth_in_future", "a date of birth is not in the future")
    return value


NhsNumber = Annotated[
    str, BeforeValidator(_normalise_nhs_number), AfterValidator(_check_nhs_number)
]
Postcode = Annotated[str, BeforeValidator(_normalise_postcode), AfterValidator(_check_postcode)]
PlaceCode = Annotated[str, AfterValidator(_check_place_code)]
DateOfBirth = Annotated[date, AfterValidator(_check_date_of_birth)]
PersonName = Annotated[FreeText, Field(min_length=1, max_length=100)]
ShortText = Annotated[FreeText, Field(min_length=1)]
