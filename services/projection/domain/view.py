"""The single view of a citizen: who they are, who works with them, risks, referrals.

Frozen pydantic models without behaviour; `fold` builds them from events. Lists are
tuples kept in a stable order, so the same events give the same view (and the same JSON)
whatever order organisations' events arrive in.
"""

from datetime import date, datetime
from typing import Literal
from uuid import UUID

from pydantic import BaseModel, ConfigDict, Field

from events.consent import Purpose
from events.envelope import OrgId
from events.shared import Urgency

ReferralStatus = Literal["made", "received", "accepted", "declined", "withdrawn"]


class ViewModel(BaseModel):
    """Base of every part of the view: frozen, unknown fields rejected."""

    model_config = ConfigDict(frozen=True, extra="forbid")


class Sourced(ViewModel):
    """Where a value of the best-known identity came from."""

    org: OrgId = Field(description="the organisation whose registration gave this value")
    as_of: datetime = Field(description="when that registration happened")


class SourcedText(Sourced):
    """A text value of the best-known identity, with the registration it came from."""

    value: str


class SourcedDate(Sourced):
    """A date of the best-known identity, with the registration it came from."""

    value: date


class Identity(ViewModel):
    """The best-known identity: each value from the most recent registration that has it."""

    given_name: SourcedText | None = None
    family_name: SourcedText | None = None
    date_of_birth: SourcedDate | None = None
    nhs_number: SourcedText | None = None
    postcode: SourcedText | None = None
    address: SourcedText | None = None
    place: SourcedText | None = None


class KnownAs(ViewModel):
    """The details one organisation registered the person with."""

    local_id: str | None = None
    nhs_number: str | None = None
    given_name: str
    family_name: str
    date_of_birth: date
    postcode: str | None = None
    address: str | None = None


class Registration(ViewModel):
    """An organisation's registration of the person: when, where, and as whom."""

    occurred_at: datetime
    place: str
    known_as: KnownAs
    from_referral: bool = Field(
        default=False,
        description="made by the organisation's referral inbox from a referral's copy of the"
        " sender's details: it attests nothing of its own",
    )
    changed_at: datetime | None = Field(
        default=None,
        description="when the organisation last changed how it knows the person"
        " (`person.details_changed`); null: as registered",
    )

    @property
    def known_since(self) -> datetime:
        """Return since when the organisation knows the person as `known_as` says."""
        return self.changed_at or self.occurred_at


class KeyWorkerContact(ViewModel):
    """Who leads an organisation's work on a case, and how to reach them."""

    name: str
    role: str | None = None
    team: str | None = None
    phone: str | None = None
    email: str | None = None


class CaseView(ViewModel):
    """One case an organisation has (or had) open with the person."""

    case_id: UUID
    status: Literal["open", "closed"] = "open"
    reason: str | None = None
    outcome: str | None = None
    key_worker: KeyWorkerContact | None = None
    opened_at: datetime | None = None
    closed_at: datetime | None = None
    last_contact_at: datetime | None = Field(
        default=None,
        description="when the latest event on this case happened (not shown to a viewer "
        "who sees only whom to contact)",
    )


class Involvement(ViewModel):
    """One organisation's involvement: its own person id for them and its cases."""

    org: OrgId
    person_id: str = Field(description="the organisation's own person reference")
    registration: Registration | None = None
    cases: tuple[CaseView, ...] = ()


class Flag(ViewModel):
    """A flag or risk that is raised now, by one organisation."""

    org: OrgId
    flag: str
    raised_at: datetime
    raised_by: str = Field(description="the actor who recorded the raising event")
    raised_by_event: str = Field(description="the event type that raised it")
    case_id: UUID | None = None
    note: str | None = None


class ReferralChange(ViewModel):
    """One step in a referral's life, recorded by one organisation."""

    status: ReferralStatus
    org: OrgId
    occurred_at: datetime


class Referral(ViewModel):
    """A referral between two organisations and how far it has got."""

    referral_id: UUID
    from_org: OrgId
    to_org: OrgId
    reason: str | None = None
    urgency: Urgency | None = None
    status: ReferralStatus
    made_at: datetime | None = None
    decline_reason: str | None = None
    case_id: UUID | None = Field(default=None, description="the receiver's case, once accepted")
    history: tuple[ReferralChange, ...] = ()


class ConsentState(ViewModel):
    """The person's standing decision about one kind of sharing: whose records (`source`;
    null: every organisation's), shown to whom (`recipient`), for what (`purpose`)."""

    source: OrgId | None
    recipient: OrgId
    purpose: Purpose
    decision: Literal["given", "withdrawn"]
    recorded_by: OrgId
    decided_at: datetime = Field(description="when the person decided (the event occurred)")
    recorded_at: datetime
    event_id: UUID

    @property
    def rank(self) -> tuple[datetime, datetime, UUID]:
        """Return what orders decisions: the latest stands."""
        return self.decided_at, self.recorded_at, self.event_id


class RecentEvent(ViewModel):
    """One of the latest things that happened with the citizen, in any organisation."""

    event_id: UUID
    org: OrgId
    type: str
    category: str
    occurred_at: datetime
    recorded_at: datetime

    @property
    def sort_key(self) -> tuple[datetime, datetime, UUID]:
        """Return what ranks events by recency: occurred, then recorded, then id."""
        return self.occurred_at, self.recorded_at, self.event_id


RECENT_EVENTS = 10


class CitizenView(ViewModel):
    """Everything Caseweave's organisations record about one citizen, joined."""

    citizen_id: UUID
    identity: Identity = Identity()
    involvements: tuple[Involvement, ...] = ()
    flags: tuple[Flag, ...] = ()
    referrals: tuple[Referral, ...] = ()
    consents: tuple[ConsentState, ...] = Field(
        default=(), description="the person's standing decisions about sharing their records"
    )
    recent: tuple[RecentEvent, ...] = Field(
        default=(),
        description=f"what happened recently: the latest {RECENT_EVENTS} events, newest first",
    )
