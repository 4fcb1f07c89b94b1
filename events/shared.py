"""Event types every organisation uses: people, cases, flags and referrals."""

from typing import Annotated, Literal
from uuid import UUID

from pydantic import BaseModel, ConfigDict, Field

from events.envelope import OrgId
from events.identifiers import (
    DateOfBirth,
    EmailAddress,
    NhsNumber,
    PersonName,
    Postcode,
    ShortText,
)
from events.recording_rules import FreeText
from events.registry import EventPayload, event_type

FlagName = Literal[
    "risk_to_staff",
    "risk_to_self",
    "risk_to_others",
    "safeguarding_concern",
    "lone_working_only",
    "interpreter_needed",
]
Urgency = Literal["routine", "urgent", "emergency"]


class KeyWorker(BaseModel):
    """Who leads the work with the person, and how colleagues in other organisations reach them."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    name: PersonName
    role: Annotated[FreeText, Field(max_length=100)] | None = None
    team: Annotated[FreeText, Field(max_length=100)] | None = None
    phone: str | None = Field(default=None, max_length=40)
    email: EmailAddress | None = None


class PersonDetails(BaseModel):
    """How an organisation identifies a person: the details a registration or referral carries."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    local_id: str | None = Field(default=None, max_length=64)
    nhs_number: NhsNumber | None = None
    given_name: PersonName
    family_name: PersonName
    date_of_birth: DateOfBirth
    postcode: Postcode | None = None


@event_type("person.registered", category="person.identity")
class PersonRegistered(EventPayload):
    """An organisation started keeping a record of a person, with the details it knows them by."""

    personal_fields = frozenset({"details"})

    person_id: UUID
    details: PersonDetails


class CaseEvent(EventPayload):
    """Base of every event recorded on a case: it names the case it belongs to."""

    case_id: UUID


@event_type("case.opened", category="case.involvement")
class CaseOpened(CaseEvent):
    """An organisation opened a case to work with a person, led by a key worker."""

    personal_fields = frozenset({"reason"})

    person_id: UUID
    reason: ShortText
    key_worker: KeyWorker
    referral_id: UUID | None = None


@event_type("case.closed", category="case.involvement")
class CaseClosed(CaseEvent):
    """An organisation finished its work with the person on this case, with the outcome."""

    personal_fields = frozenset({"outcome"})

    outcome: ShortText


@event_type("flag.raised", category="safeguarding.risk")
class FlagRaised(CaseEvent):
    """A worker raised a flag every colleague should know before contact (e.g. risk to staff)."""

    personal_fields = frozenset({"note"})

    flag: FlagName
    note: FreeText | None = None


@event_type("flag.lifted", category="safeguarding.risk")
class FlagLifted(CaseEvent):
    """A worker lifted a flag their organisation raised earlier: it no longer applies."""

    personal_fields = frozenset({"note"})

    flag: FlagName
    note: FreeText | None = None


@event_type("referral.made", category="referral")
class ReferralMade(EventPayload):
    """An organisation asked another to work with a person, sharing who they are and why."""

    personal_fields = frozenset({"person", "reason"})

    referral_id: UUID
    person_id: UUID
    to_org: OrgId
    reason: ShortText
    urgency: Urgency = "routine"
    person: PersonDetails


@event_type("referral.received", category="referral")
class ReferralReceived(EventPayload):
    """The receiving organisation has the referral in its inbox, recorded against its own person."""

    personal_fields = frozenset({"reason"})

    referral_id: UUID
    person_id: UUID
    from_org: OrgId
    reason: ShortText
    urgency: Urgency


@event_type("referral.accepted", category="referral")
class ReferralAccepted(EventPayload):
    """The receiving organisation agreed to work with the person it was referred."""

    referral_id: UUID
    person_id: UUID
    from_org: OrgId
    case_id: UUID | None = None


@event_type("referral.declined", category="referral")
class ReferralDeclined(EventPayload):
    """The receiving organisation declined the referral, and said why."""

    personal_fields = frozenset({"reason"})

    referral_id: UUID
    person_id: UUID
    from_org: OrgId
    reason: ShortText
