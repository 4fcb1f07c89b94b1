"""Identity decisions: what a data steward decided about which records are one person.

The projection records these as its own events (it never writes to an organisation's store).
A human decision always beats the matching algorithm and survives every replay. Each names
organisations' records by the organisation and that organisation's person id.
"""

from typing import Self
from uuid import UUID

from pydantic import BaseModel, ConfigDict, Field, model_validator
from pydantic_core import PydanticCustomError

from events.envelope import OrgId
from events.identifiers import ShortText
from events.registry import EventPayload, event_type

IDENTITY_CATEGORY = "person.identity"
MAX_RECORDS_SPLIT_FROM = 10_000  # a merged cluster of placeholder records can be large


class RecordRef(BaseModel):
    """One organisation's record of a person."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    org: OrgId
    person_id: UUID


class _PairDecision(EventPayload):
    a: RecordRef
    b: RecordRef
    reason: ShortText

    @model_validator(mode="after")
    def _two_records(self) -> Self:
        if self.a == self.b:
            raise PydanticCustomError("same_record", "a and b must be two different records")
        return self


@event_type("identity.linked", category=IDENTITY_CATEGORY)
class IdentityLinked(_PairDecision):
    """A data steward decided two organisations' records are the same person."""


@event_type("identity.not_same_person", category=IDENTITY_CATEGORY)
class IdentityNotSamePerson(_PairDecision):
    """A data steward decided two organisations' records are different people: never join them."""


@event_type("identity.unlinked", category=IDENTITY_CATEGORY)
class IdentityUnlinked(EventPayload):
    """A data steward split a record off a citizen it was wrongly joined to: a person apart."""

    record: RecordRef
    from_records: list[RecordRef] = Field(
        min_length=1,
        max_length=MAX_RECORDS_SPLIT_FROM,
        description="the records it was joined with",
    )
    reason: ShortText

    @model_validator(mode="after")
    def _record_not_among_others(self) -> Self:
        if self.record in self.from_records:
            raise PydanticCustomError(
                "same_record", "the record split off cannot be one it is split from"
            )
        return self
