"""What the referral endpoints accept and answer."""

from datetime import datetime
from typing import Literal
from uuid import UUID

from pydantic import BaseModel, ConfigDict, Field, StrictBool, model_validator

from events.envelope import OrgId
from events.identifiers import ShortText
from events.shared import FoundBy, KeyWorker, PersonDetails, ReferralCandidate, Urgency
from services.organisation.domain.referrals import ReferralState, ReferralStatus
from services.organisation.domain.worklists import Direction, ReferralListStatus
from services.organisation.entrypoints.http.lists import ListedPerson, PageLinks
from services.organisation.entrypoints.http.writes import CommandReceipt


class ReferralCreate(BaseModel):
    """A referral of a registered person to another organisation."""

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                {
                    "person_id": "0196a3f2-9c1e-7d4b-8a51-3f0e2b7c9d10",
                    "to_org": "voluntary",
                    "reason": "Needs food support while the tenancy is at risk",
                    "urgency": "urgent",
                }
            ]
        },
    )

    person_id: UUID
    to_org: OrgId
    reason: ShortText
    urgency: Urgency = "routine"


class ReferralReceipt(CommandReceipt):
    """A referral made; the receiving organisation finds it in its inbox."""

    referral_id: UUID


class ReferralAccept(BaseModel):
    """Accepting a referral; naming a key worker also opens a case."""

    model_config = ConfigDict(extra="forbid")

    key_worker: KeyWorker | None = None


class ReferralDecline(BaseModel):
    """Declining a referral, and why."""

    model_config = ConfigDict(
        extra="forbid", json_schema_extra={"examples": [{"reason": "Outside our area"}]}
    )

    reason: ShortText


class ReferralWithdraw(BaseModel):
    """Withdrawing a referral this organisation made, and why."""

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={"examples": [{"reason": "Housed by the council meanwhile"}]},
    )

    reason: ShortText


class ReferralPersonChoice(BaseModel):
    """Which of this organisation's records a held referral is about: `person_id`, or
    `new_record: true` when none is (the person is registered from the referral)."""

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                {"person_id": "0196a3f2-9c1e-7d4b-8a51-3f0e2b7c9d10"},
                {"new_record": True},
            ]
        },
    )

    person_id: UUID | None = None
    new_record: StrictBool = False

    @model_validator(mode="after")
    def _one_answer(self) -> "ReferralPersonChoice":
        if (self.person_id is None) == (not self.new_record):
            raise ValueError("give either person_id (one of your records) or new_record: true")
        return self


class ReferralDecisionReceipt(CommandReceipt):
    """A referral accepted, declined or withdrawn (or, held, taken in against a record),
    with this organisation's person and any case opened."""

    referral_id: UUID
    status: Literal["received", "accepted", "declined", "withdrawn"]
    person_id: UUID
    case_id: UUID | None = None


class ReferralStepPublic(BaseModel):
    """One event in the referral's life on this side."""

    type: str
    event_id: UUID
    occurred_at: datetime


class ReferralPublic(BaseModel):
    """This organisation's side of a referral; `person_id` is this organisation's person."""

    referral_id: UUID
    status: ReferralStatus
    from_org: OrgId
    to_org: OrgId
    person_id: UUID
    reason: str
    urgency: Urgency
    case_id: UUID | None
    decline_reason: str | None
    key_worker: KeyWorker | None = Field(
        description="who leads the work, once accepted with a key worker (on both sides)"
    )
    answered_at: datetime | None = Field(
        description="the sender's side: when the receiver last answered (received, accepted,"
        " declined); null before any answer, and on the receiver's side"
    )
    withdrawn_at: datetime | None = Field(
        description="when the sender withdrew it (a decision made before the withdrawal"
        " reached the receiver stands: the status says which)"
    )
    withdrawal_reason: str | None = Field(description="the sender's side: why it withdrew it")
    found_by: FoundBy | None = Field(
        description="the receiver's side: how its person was found (`nhs_number`; `details`"
        " matching one record above the place's link threshold, with `match_score`;"
        " `new_record` registered for the referral; `receiver`: chosen by a worker from a"
        " held referral); null on the sender's side and for referrals received before"
    )
    match_score: float | None = Field(description="found by details: the match score")
    referred_person: PersonDetails | None = Field(
        description="held: the sender's details of the person, to compare with `candidates`"
    )
    candidates: list[ReferralCandidate] = Field(
        description="held: this organisation's records that may be the person, best first;"
        " say which (or none) with POST /v1/referrals/{referral_id}/person"
    )
    history: list[ReferralStepPublic]
    version: int

    @classmethod
    def from_state(cls, state: ReferralState) -> "ReferralPublic":
        """Return the public view of this side of a referral."""
        return cls(
            referral_id=state.referral_id,
            status=state.status,
            from_org=state.from_org,
            to_org=state.to_org,
            person_id=state.person_id,
            reason=state.reason,
            urgency=state.urgency,
            case_id=state.case_id,
            decline_reason=state.decline_reason,
            key_worker=state.key_worker,
            answered_at=state.answered_at,
            withdrawn_at=state.withdrawn_at,
            withdrawal_reason=state.withdrawal_reason,
            found_by=state.found_by,
            match_score=state.match_score,
            referred_person=state.referred if state.status == "held" else None,
            candidates=list(state.candidates) if state.status == "held" else [],
            history=[ReferralStepPublic(**vars(step)) for step in state.history],
            version=state.version,
        )


class ReferralListItem(BaseModel):
    """A referral in a worklist: which way, where it stands, from or to whom, for whom."""

    referral_id: UUID
    direction: Direction
    status: ReferralListStatus
    other_org: OrgId = Field(
        description="the organisation it was made to (outgoing) or received from (incoming)"
    )
    urgency: Urgency
    person: ListedPerson
    listed_at: datetime = Field(description="when it was made (outgoing) or received (incoming)")
    updated_at: datetime = Field(description="when its status last changed")


class ReferralList(PageLinks):
    """A page of referrals, newest first."""

    items: list[ReferralListItem]
