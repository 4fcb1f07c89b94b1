"""Validated identifiers shared by every organisation: NHS number, postcode, place code, names."""

import functools
import re
from datetime import date
from typing import Annotated, Any

from pydantic import (
    AfterValidator,
    BeforeValidator,
    Field,
    GetCoreSchemaHandler,
    GetJsonSchemaHandler,
)
from pydantic.json_schema import JsonSchemaValue
from pydantic.networks import import_email_validator, validate_email
from pydantic_core import CoreSchema, PydanticCustomError, core_schema

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


_EMAIL_CACHE = 4096  # distinct addresses remembered: a crowd's key workers repeat


@functools.lru_cache(maxsize=_EMAIL_CACHE)
def normalised_email(value: str) -> str:
    """Return an email address as pydantic's `EmailStr` validates and normalises it.

    The same key worker's address comes with many events, and email_validator's checks are
    costly, so valid addresses are remembered; an invalid one is never cached (lru_cache
    keeps no exceptions): it raises the same `value_error` every time.
    """
    return validate_email(value)[1]


class _CachedEmail:
    """Annotation marker of `EmailAddress`: EmailStr's schema, with `normalised_email`."""

    def __get_pydantic_core_schema__(
        self, _source: type[Any], _handler: GetCoreSchemaHandler
    ) -> CoreSchema:
        import_email_validator()
        return core_schema.no_info_after_validator_function(
            normalised_email, core_schema.str_schema()
        )

    def __get_pydantic_json_schema__(
        self, schema: CoreSchema, handler: GetJsonSchemaHandler
    ) -> JsonSchemaValue:
        field_schema = handler(schema)
        field_schema.update(type="string", format="email")
        return field_schema


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
EmailAddress = Annotated[str, _CachedEmail()]
"""An email address, validated and normalised exactly as pydantic's `EmailStr` (same errors,
same JSON schema), each distinct valid address checked once per process."""
DateOfBirth = Annotated[date, AfterValidator(_check_date_of_birth)]
PersonName = Annotated[FreeText, Field(min_length=1, max_length=100)]
AddressLine = Annotated[
    FreeText,
    Field(
        min_length=1,
        max_length=200,
        description="the first line of the address: house number or name, and street",
    ),
]
ShortText = Annotated[FreeText, Field(min_length=1)]
