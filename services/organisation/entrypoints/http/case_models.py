"""What the case endpoints accept and answer."""

from datetime import datetime
from typing import Any, Literal
from uuid import UUID

from pydantic import BaseModel, ConfigDict, Field, StrictBool
from pydantic.config import JsonDict

from events.identifiers import ShortText
from events.shared import FlagName, KeyWorker
from services.organisation.domain.cases import CaseState
from services.organisation.domain.worklists import CaseListStatus
from services.organisation.entrypoints.http.lists import ListedPerson, PageLinks
from services.organisation.entrypoints.http.request_fields import ExpectedVersion, OccurredAt
from services.organisation.entrypoints.http.writes import CommandReceipt

_KEY_WORKER: JsonDict = {
    "name": "Sam Okafor",
    "role": "Housing officer",
    "team": "Eastside housing",
}


class CaseCreate(BaseModel):
    """A case to open for a registered person."""

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={"examples": [{"reason": "Rent arrears", "key_worker": _KEY_WORKER}]},
    )

    reason: ShortText
    key_worker: KeyWorker
    occurred_at: OccurredAt | None = None


class CaseReceipt(CommandReceipt):
    """A case opened."""

    case_id: UUID
    version: int


class CaseEventCreate(BaseModel):
    """An event of this organisation's vocabulary to record on a case."""

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [{"type": "housing.tenancy_at_risk", "data": {"risk": "rent_arrears"}}]
        },
    )

    type: str = Field(description="an event type of this organisation, or flag.raised/lifted")
    data: dict[str, Any] = Field(
        default_factory=dict, description="the type's payload, without case_id (from the path)"
    )
    occurred_at: OccurredAt | None = None
    expected_version: ExpectedVersion | None = None
    event_id: UUID | None = Field(
        default=None, description="your id for the event: sending it again records it once"
    )


class CaseEventReceipt(CommandReceipt):
    """An event recorded on a case."""

    event_id: UUID
    version: int


class CaseEventRetract(BaseModel):
    """Why an event on a case was entered in error."""

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [{"reason": "recorded on the wrong person's case", "erase_values": True}]
        },
    )

    reason: ShortText
    erase_values: StrictBool = Field(
        default=False,
        description="also erase the retracted event's personal values (its note, its"
        " outcome) in place: in this organisation's store and the single view's timeline."
        " Copies already published to Kafka keep them, sealed, until the topic's retention",
    )


class CaseClose(BaseModel):
    """How a case ends."""

    model_config = ConfigDict(
        extra="forbid", json_schema_extra={"examples": [{"outcome": "Tenancy sustained"}]}
    )

    outcome: ShortText
    expected_version: ExpectedVersion | None = None


class CaseClosedReceipt(CommandReceipt):
    """A case closed."""

    case_id: UUID
    status: Literal["closed"] = "closed"
    version: int


class CasePublic(BaseModel):
    """A case: for whom, led by whom, open or closed, and its version."""

    case_id: UUID
    person_id: UUID
    status: Literal["open", "closed"]
    reason: str
    key_worker: KeyWorker
    place: str
    opened_at: datetime
    closed_at: datetime | None
    outcome: str | None
    referral_id: UUID | None
    flags: list[FlagName] = Field(description="flags raised on the case and not lifted")
    version: int

    @classmethod
    def from_state(cls, state: CaseState) -> "CasePublic":
        """Return the public view of a case's state."""
        return cls(
            case_id=state.case_id,
            person_id=state.person_id,
            status=state.status,
            reason=state.reason,
            key_worker=state.key_worker,
            place=state.place,
            opened_at=state.opened_at,
            closed_at=state.closed_at,
            outcome=state.outcome,
            referral_id=state.referral_id,
            flags=sorted(state.flags),
            version=state.version,
        )


class CaseListItem(BaseModel):
    """A case in a caseload: open or closed, who leads it, for whom."""

    case_id: UUID
    status: CaseListStatus
    key_worker: str = Field(description="the name of who leads the case")
    key_worker_email: str | None
    person: ListedPerson
    opened_at: datetime
    updated_at: datetime = Field(description="when it was closed or its lead changed, if since")


class CaseList(PageLinks):
    """A page of cases, newest first."""

    items: list[CaseListItem]
