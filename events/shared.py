"""Event types every organisation uses: people, cases, flags and referrals."""

from typing import Annotated, Any, Literal
from uuid import UUID, uuid5

from pydantic import (
    AwareDatetime,
    BaseModel,
    ConfigDict,
    Field,
)

from events import person_details_v1 as v1
from events.envelope import OrgId
from events.identifiers import (
    AddressLine,
    EmailAddress,
    PersonName,
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


class PersonDetails(v1.PersonDetails):
    """How an organisation identifies a person: the details a registration or referral carries
    (v2 added the first line of their address)."""

    address: AddressLine | None = None


def _v1_had_no_address(data: dict[str, Any]) -> dict[str, Any]:
    """A v1 event carried no address line: it reads as one without an address."""
    return data


@event_type(
    "person.registered", version=1, category="person.identity", upcast_to_next=_v1_had_no_address
)
class PersonRegisteredV1(EventPayload):
    """An organisation started keeping a record of a person, with the details it knows them by."""

    personal_fields = frozenset({"details"})

    person_id: UUID
    details: v1.PersonDetails


@event_type("person.registered", version=2, category="person.identity")
class PersonRegistered(EventPayload):
    """An organisation started keeping a record of a person, with the details it knows them by."""

    personal_fields = frozenset({"details"})

    person_id: UUID
    details: PersonDetails


class DetailsChange(v1.DetailsChange):
    """What changed in how an organisation identifies a person: only the fields given (a
    given `null` removes an NHS number, postcode, address or local id; names and the birth
    date are always known)."""

    address: AddressLine | None = None

    def applied_to(self, details: PersonDetails) -> PersonDetails:
        """Return `details` with these changes."""
        return details.model_copy(
            update={name: getattr(self, name) for name in self.model_fields_set}
        )


@event_type(
    "person.details_changed",
    version=1,
    category="person.identity",
    upcast_to_next=_v1_had_no_address,
)
class PersonDetailsChangedV1(EventPayload):
    """An organisation changed how it identifies a person (moved, new name, corrected)."""

    personal_fields = frozenset({"changes"})

    person_id: UUID
    changes: v1.DetailsChange


@event_type("person.details_changed", version=2, category="person.identity")
class PersonDetailsChanged(EventPayload):
    """An organisation changed how it identifies a person (moved, new name, corrected)."""

    personal_fields = frozenset({"changes"})

    person_id: UUID
    changes: DetailsChange


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


def _entered_in_error_v1_to_v2(data: dict[str, Any]) -> dict[str, Any]:
    """A v1 retraction left the retracted event's values as they were."""
    return {**data, "values_erased": False}


@event_type(
    "event.entered_in_error",
    version=1,
    category="case.involvement",
    upcast_to_next=_entered_in_error_v1_to_v2,
)
class EnteredInErrorV1(CaseEvent):
    """An earlier event on the case was entered in error: the record reads as if it had not been.

    It stays in the history, marked retracted; a correction is this and the right event."""

    personal_fields = frozenset({"reason"})

    retracted_event_id: UUID
    retracted_type: str = Field(max_length=100, description="the type of the event retracted")
    reason: ShortText


@event_type("event.entered_in_error", version=2, category="case.involvement")
class EnteredInError(CaseEvent):
    """An earlier event on the case was entered in error: the record reads as if it had not been.

    It stays in the history, marked retracted; a correction is this and the right event.
    With `values_erased`, the retracted event's personal values (a note, an outcome) were
    erased in place where they are stored, with the retraction."""

    personal_fields = frozenset({"reason"})

    retracted_event_id: UUID
    retracted_type: str = Field(max_length=100, description="the type of the event retracted")
    reason: ShortText
    values_erased: bool = Field(
        default=False, description="whether the retracted event's personal values were erased"
    )


@event_type("referral.made", version=1, category="referral", upcast_to_next=_v1_had_no_address)
class ReferralMadeV1(EventPayload):
    """An organisation asked another to work with a person, sharing who they are and why."""

    personal_fields = frozenset({"person", "reason"})

    referral_id: UUID
    person_id: UUID
    to_org: OrgId
    reason: ShortText
    urgency: Urgency = "routine"
    person: v1.PersonDetails


@event_type("referral.made", version=2, category="referral")
class ReferralMade(EventPayload):
    """An organisation asked another to work with a person, sharing who they are and why."""

    personal_fields = frozenset({"person", "reason"})

    referral_id: UUID
    person_id: UUID
    to_org: OrgId
    reason: ShortText
    urgency: Urgency = "routine"
    person: PersonDetails


def referred_person_id(referral_id: UUID) -> UUID:
    """Return the id a receiver gives a referred person it did not know (the same on every
    replay): their record's id if registered anew, and the key of the referral's held copy
    of their details (`referral.held`) until then."""
    return uuid5(referral_id, "person")


def _received_v1_to_v2(data: dict[str, Any]) -> dict[str, Any]:
    """A v1 receipt did not say how the receiver knew the person (by NHS number, or a
    record registered for the referral)."""
    return {**data, "found_by": None, "match_score": None}


@event_type("referral.received", version=1, category="referral", upcast_to_next=_received_v1_to_v2)
class ReferralReceivedV1(EventPayload):
    """The receiving organisation has the referral in its inbox, recorded against its own person."""

    personal_fields = frozenset({"reason"})

    referral_id: UUID
    person_id: UUID
    from_org: OrgId
    reason: ShortText
    urgency: Urgency


FoundBy = Literal["nhs_number", "details", "new_record", "receiver"]


@event_type("referral.received", version=2, category="referral")
class ReferralReceived(EventPayload):
    """The receiving organisation has the referral in its inbox, recorded against its own person.

    `found_by` says how that person was found: by NHS number, by details matching one
    record above the place's link threshold (`match_score`), as a record registered for the
    referral, or chosen by a worker of the receiver from a held referral (v1 did not say)."""

    personal_fields = frozenset({"reason"})

    referral_id: UUID
    person_id: UUID
    from_org: OrgId
    reason: ShortText
    urgency: Urgency
    found_by: FoundBy | None = None
    match_score: float | None = Field(
        default=None, description="found by details: the match score (bits of evidence)"
    )


MatchedField = Literal["given_name", "family_name", "date_of_birth", "postcode", "address"]


class ReferralCandidate(BaseModel):
    """A record of the receiver's that may be the referred person, and how well it matches."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    person_id: UUID
    match_score: float = Field(description="bits of evidence that it is the same person")
    matched_on: list[MatchedField] = Field(description="the fields that agreed, more or less")


@event_type("referral.held", version=1, category="referral", upcast_to_next=_v1_had_no_address)
class ReferralHeldV1(EventPayload):
    """A referral the receiver holds until a worker says which of its records is the person.

    Held when the referred details match some of its records, but none clearly enough to
    decide (between the place's review and link thresholds, or several above link). It keeps
    the sender's details of the person (sealed under `person_id`: the id a record registered
    for the referral gets) until a worker chooses; choosing an existing record shreds them."""

    personal_fields = frozenset({"reason", "person"})

    referral_id: UUID
    person_id: UUID = Field(description="the id of the referral's own copy of the details")
    from_org: OrgId
    reason: ShortText
    urgency: Urgency
    person: v1.PersonDetails
    candidates: list[v1.ReferralCandidate] = Field(min_length=1)


@event_type("referral.held", version=2, category="referral")
class ReferralHeld(EventPayload):
    """A referral the receiver holds until a worker says which of its records is the person.

    Held when the referred details match some of its records, but none clearly enough to
    decide (between the place's review and link thresholds, or several above link). It keeps
    the sender's details of the person (sealed under `person_id`: the id a record registered
    for the referral gets) until a worker chooses; choosing an existing record shreds them."""

    personal_fields = frozenset({"reason", "person"})

    referral_id: UUID
    person_id: UUID = Field(description="the id of the referral's own copy of the details")
    from_org: OrgId
    reason: ShortText
    urgency: Urgency
    person: PersonDetails
    candidates: list[ReferralCandidate] = Field(min_length=1)


def _accepted_v1_to_v2(data: dict[str, Any]) -> dict[str, Any]:
    """A v1 acceptance named no key worker (the case it opened did), and was the sender's to
    know."""
    return {**data, "key_worker": None, "shared_with_sender": True}


def _declined_v1_to_v2(data: dict[str, Any]) -> dict[str, Any]:
    """A v1 decline was the sender's to know."""
    return {**data, "shared_with_sender": True}


SharedWithSender = Annotated[
    bool,
    Field(
        description="whether the sender may learn the decision: false where the person"
        " objected to the receiver's records being shown to the sender (the sender then"
        " knows only that the referral was received)"
    ),
]


@event_type("referral.accepted", version=1, category="referral", upcast_to_next=_accepted_v1_to_v2)
class ReferralAcceptedV1(EventPayload):
    """The receiving organisation agreed to work with the person it was referred."""

    referral_id: UUID
    person_id: UUID
    from_org: OrgId
    case_id: UUID | None = None


@event_type("referral.accepted", version=2, category="referral")
class ReferralAccepted(EventPayload):
    """The receiving organisation agreed to work with the person, naming who leads the work.

    `key_worker` is set when a case was opened for the referral (v1 named no one)."""

    referral_id: UUID
    person_id: UUID
    from_org: OrgId
    case_id: UUID | None = None
    key_worker: KeyWorker | None = None
    shared_with_sender: SharedWithSender = True


@event_type("referral.declined", version=1, category="referral", upcast_to_next=_declined_v1_to_v2)
class ReferralDeclinedV1(EventPayload):
    """The receiving organisation declined the referral, and said why."""

    personal_fields = frozenset({"reason"})

    referral_id: UUID
    person_id: UUID
    from_org: OrgId
    reason: ShortText


@event_type("referral.declined", version=2, category="referral")
class ReferralDeclined(EventPayload):
    """The receiving organisation declined the referral, and said why."""

    personal_fields = frozenset({"reason"})

    referral_id: UUID
    person_id: UUID
    from_org: OrgId
    reason: ShortText
    shared_with_sender: SharedWithSender = True


ReferralAnswer = Literal["received", "accepted", "declined"]


@event_type("referral.answered", category="referral")
class ReferralAnswered(EventPayload):
    """The sender's record that the receiver answered its referral: received, accepted, declined.

    With who leads the work (accepted) or why (declined)."""

    personal_fields = frozenset({"reason"})

    referral_id: UUID
    person_id: UUID = Field(description="the sender's own person")
    by_org: OrgId
    answer: ReferralAnswer
    answered_at: AwareDatetime = Field(description="when the receiver recorded its answer")
    key_worker: KeyWorker | None = None
    reason: ShortText | None = Field(default=None, description="why it was declined")


@event_type("referral.withdrawn", category="referral")
class ReferralWithdrawn(EventPayload):
    """The sender withdrew a referral the receiver had not yet decided, and said why."""

    personal_fields = frozenset({"reason"})

    referral_id: UUID
    person_id: UUID = Field(description="the sender's own person")
    to_org: OrgId
    reason: ShortText


@event_type("referral.withdrawal_received", category="referral")
class ReferralWithdrawalReceived(EventPayload):
    """The receiver learnt the sender withdrew a referral it had not decided: nothing is asked."""

    referral_id: UUID
    person_id: UUID = Field(description="the receiver's own person")
    from_org: OrgId
