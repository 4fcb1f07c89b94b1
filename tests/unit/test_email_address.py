"""`EmailAddress` validates exactly as pydantic's `EmailStr`, remembering valid addresses."""

from typing import Any

import pytest
from pydantic import BaseModel, EmailStr, ValidationError

from events.identifiers import EmailAddress, normalised_email

ADDRESSES = [
    "sam.okafor@example.org",
    "Sam.Okafor@EXAMPLE.ORG",
    "  padded@example.org  ",
    "Sam Okafor <sam.okafor@example.org>",
    '"Okafor, Sam" <sam@example.org>',
    "ünïcode@exämple.org",
    "no-at-sign",
    "two@@example.org",
    "sam@localhost",
    "sam@[192.168.0.1]",
    "line\nbreak@example.org",
    "a" * 300 + "@example.org",
    "",
]


class Cached(BaseModel):
    email: EmailAddress | None = None


class Pydantic(BaseModel):
    email: EmailStr | None = None


def _outcome(model: type[BaseModel], value: str) -> Any:
    try:
        return model.model_validate({"email": value}).model_dump()
    except ValidationError as error:
        return error.errors(include_url=False)


@pytest.mark.parametrize("value", ADDRESSES)
def test_validates_as_emailstr_does(value: str) -> None:
    for _ in range(2):  # the second time from the cache (for a valid one)
        assert _outcome(Cached, value) == _outcome(Pydantic, value)


def test_a_bad_address_is_not_remembered() -> None:
    normalised_email.cache_clear()
    for _ in range(3):
        with pytest.raises(ValidationError):
            Cached.model_validate({"email": "no-at-sign"})
    assert normalised_email.cache_info().currsize == 0


def test_a_good_address_is_checked_once() -> None:
    normalised_email.cache_clear()
    for _ in range(3):
        Cached.model_validate({"email": "sam.okafor@example.org"})
    assert normalised_email.cache_info().misses == 1


def test_same_json_schema_as_emailstr() -> None:
    assert Cached.model_json_schema()["properties"] == Pydantic.model_json_schema()["properties"]
