"""A person's say over sharing: consent given, or withdrawn, or an objection, per recipient.

An organisation that knows the person records what the person told it, for some recipient
organisations and some purposes of use:
- consent given covers the recording organisation's own records only: each organisation
  answers for sharing what it holds, so no organisation can give itself another's records;
- a withdrawal or objection may name any organisations' records (`sources`; none named:
  every organisation's, now and later): it only ever hides.

What the decisions do to a read is the projection's and the place's business
(`services/projection/domain/consent.py`): the latest decision about each (source,
recipient, purpose) stands, a withdrawal always hides what it covers until the source
organisation records consent again, and where the place's rules need consent for a
purpose, only consent given shares.
"""

from typing import Literal, Self, get_args
from uuid import UUID

from pydantic import Field, model_validator
from pydantic_core import PydanticCustomError

from events.envelope import OrgId
from events.registry import EventPayload, event_type

CONSENT_CATEGORY = "person.consent"
Purpose = Literal["direct_care", "safeguarding", "care_coordination", "administration", "audit"]
PURPOSES: tuple[Purpose, ...] = get_args(Purpose)


class ConsentDecision(EventPayload):
    """What the person decided about sharing: with whom, for what."""

    person_id: UUID
    recipients: tuple[OrgId, ...] = Field(
        min_length=1, description="the organisations the records would be shown to"
    )
    purposes: tuple[Purpose, ...] = Field(min_length=1, description="the purposes of use")

    @model_validator(mode="after")
    def _no_repeats(self) -> Self:
        for name in ("recipients", "purposes", "sources"):
            values = getattr(self, name, None) or ()
            if len(set(values)) != len(values):
                raise PydanticCustomError("repeated", "{name} names a value twice", {"name": name})
        return self


@event_type("consent.given", category=CONSENT_CATEGORY)
class ConsentGiven(ConsentDecision):
    """The person agreed that the recording organisation's records are shown to the recipients.

    For the purposes named. It also lifts an earlier withdrawal or objection about those
    records, whoever recorded it.
    """


@event_type("consent.withdrawn", category=CONSENT_CATEGORY)
class ConsentWithdrawn(ConsentDecision):
    """The person withdrew consent, or objected: the named records are not shown to them.

    From then on the records are hidden from the recipients for the purposes, whatever the
    place's sharing rules say, until the organisation holding them records consent again.
    """

    sources: tuple[OrgId, ...] | None = Field(
        default=None,
        min_length=1,
        description="whose records; absent: every organisation's, including ones that join later",
    )
