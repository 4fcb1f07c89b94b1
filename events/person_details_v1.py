"""The person's details as the first version of each event type carrying them had them
(`person.registered`, `person.details_changed`, `referral.made`, `referral.held` v1): no
address line. Kept so those versions' schemas stay as published; each current version's
models extend these (`events.shared`).
"""

from typing import Any, Literal
from uuid import UUID

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    SerializerFunctionWrapHandler,
    field_validator,
    model_serializer,
    model_validator,
)
from pydantic_core import PydanticCustomError

from events.identifiers import DateOfBirth, NhsNumber, PersonName, Postcode


class PersonDetails(BaseModel):
    """How an organisation identifies a person: the details a registration or referral carries."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    local_id: str | None = Field(default=None, max_length=64)
    nhs_number: NhsNumber | None = None
    given_name: PersonName
    family_name: PersonName
    date_of_birth: DateOfBirth
    postcode: Postcode | None = None


_REQUIRED_DETAILS = ("given_name", "family_name", "date_of_birth")


class DetailsChange(BaseModel):
    """What changed in how an organisation identifies a person: only the fields given (a
    given `null` removes an NHS number, postcode or local id; names and the birth date are
    always known)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    local_id: str | None = Field(default=None, max_length=64)
    nhs_number: NhsNumber | None = None
    given_name: PersonName | None = None
    family_name: PersonName | None = None
    date_of_birth: DateOfBirth | None = None
    postcode: Postcode | None = None

    @field_validator(*_REQUIRED_DETAILS, mode="after")
    @classmethod
    def _always_known(cls, value: object) -> object:
        if value is None:
            raise PydanticCustomError("required_detail", "always known: it cannot be removed")
        return value

    @model_validator(mode="after")
    def _something_changes(self) -> "DetailsChange":
        if not self.model_fields_set:
            raise PydanticCustomError("no_change", "name at least one detail that changed")
        return self

    @model_serializer(mode="wrap")
    def _only_what_changed(self, handler: SerializerFunctionWrapHandler) -> dict[str, Any]:
        dumped: dict[str, Any] = handler(self)
        return {name: value for name, value in dumped.items() if name in self.model_fields_set}


MatchedField = Literal["given_name", "family_name", "date_of_birth", "postcode"]


class ReferralCandidate(BaseModel):
    """A record of the receiver's that may be the referred person, and how well it matches."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    person_id: UUID
    match_score: float = Field(description="bits of evidence that it is the same person")
    matched_on: list[MatchedField] = Field(description="the fields that agreed, more or less")
