"""What a caller asks the organisation to do: one frozen record per command."""

from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal
from uuid import UUID

from events.consent import Purpose
from events.envelope import OrgId
from events.shared import DetailsChange, KeyWorker, PersonDetails, Urgency


@dataclass(frozen=True)
class RegisterPerson:
    """Start keeping a record of a person known by these details, at this place."""

    details: PersonDetails
    place: str


@dataclass(frozen=True)
class ChangePersonDetails:
    """Record what changed in how the person is known (a move, a new name, a correction)."""

    person_id: UUID
    changes: DetailsChange


@dataclass(frozen=True)
class RetractCaseEvent:
    """Say an event on a case was entered in error, and why (erasing its personal values
    with it, if asked)."""

    case_id: UUID
    event_id: UUID
    reason: str
    erase_values: bool = False


@dataclass(frozen=True)
class OpenCase:
    """Open a case for a registered person, led by a key worker."""

    person_id: UUID
    reason: str
    key_worker: KeyWorker
    occurred_at: datetime | None = None
    referral_id: UUID | None = None


@dataclass(frozen=True)
class RecordCaseEvent:
    """Record one event of the organisation's vocabulary on an open case."""

    case_id: UUID
    type: str
    data: dict[str, Any]
    occurred_at: datetime | None = None
    expected_version: int | None = None
    event_id: UUID | None = None


@dataclass(frozen=True)
class CloseCase:
    """Close a case with its outcome."""

    case_id: UUID
    outcome: str
    expected_version: int | None = None


@dataclass(frozen=True)
class MakeReferral:
    """Ask another organisation to work with a person."""

    person_id: UUID
    to_org: OrgId
    reason: str
    urgency: Urgency


@dataclass(frozen=True)
class AcceptReferral:
    """Agree to work with a referred person, opening a case when a key worker is named."""

    referral_id: UUID
    key_worker: KeyWorker | None = None
    case_id: UUID | None = None  # the case it opens (a new id when not given)


@dataclass(frozen=True)
class DeclineReferral:
    """Decline a referral, saying why."""

    referral_id: UUID
    reason: str


@dataclass(frozen=True)
class WithdrawReferral:
    """Withdraw a referral this organisation made, before the receiver decides it."""

    referral_id: UUID
    reason: str


@dataclass(frozen=True)
class ChooseReferredPerson:
    """Say which of this organisation's records a held referral is about (None: none of
    them; register the person from the referral)."""

    referral_id: UUID
    person_id: UUID | None


@dataclass(frozen=True)
class RecordConsent:
    """Record what a person decided about sharing: whose records, shown to whom, for what."""

    person_id: UUID
    decision: Literal["given", "withdrawn"]
    recipients: tuple[OrgId, ...]
    purposes: tuple[Purpose, ...]
    sources: tuple[OrgId, ...] | None = None
    occurred_at: datetime | None = None
