"""New relationships: an organisation starts working with a person others hold records of.

Opening a case is what lets an organisation read a person's full single view, so a case
opened on a person another organisation already held records of, without a referral
inviting it, is an alert for the IG leads of every organisation that held them (as a
break-glass grant is): who opened it (the recording actor and organisation), when, and on
what basis (the case opened on its own initiative; whether the registration it rests on is
disputed: `domain/identity_conflicts.py`). Derived from the events (the timeline), so a
replay rebuilds the alerts with the view. Nothing personal: no reason, no names.
"""

from dataclasses import asdict
from datetime import datetime
from typing import Annotated, Literal
from uuid import UUID

from fastapi import APIRouter, Depends, Query, Request
from pydantic import BaseModel, ConfigDict, Field

from events.envelope import OrgId
from services.projection.adapters.relationship_starts import RelationshipStarts
from services.projection.entrypoints.http.governance import GovernanceDep
from services.projection.entrypoints.http.roles import allowed_to, forbidden_roles_description
from services.runtime.api_keys import Caller

router = APIRouter(tags=["governance"])


class RelationshipStarted(BaseModel):
    """An organisation opened a case, without a referral, on a person the reviewing
    organisation already held records of."""

    model_config = ConfigDict(frozen=True)

    citizen_id: UUID
    org: OrgId = Field(description="the organisation that opened the case")
    actor: str = Field(description="who recorded it: organisation/role/key id")
    case_id: UUID
    opened_at: datetime = Field(description="when the case says it was opened")
    recorded_at: datetime = Field(description="when the organisation recorded it")
    basis: Literal["case_opened_without_referral"] = "case_opened_without_referral"
    disputed: bool = Field(
        description="the record the case rests on claims the person's NHS number under a "
        "name or birth date that agrees with no earlier registration: no relationship until "
        "a data steward confirms it"
    )
    relationship: bool = Field(description="the organisation works with the person now")


class RelationshipAlerts(BaseModel):
    """A page of new relationships for an IG lead to review, newest first."""

    org: OrgId
    limit: int
    offset: int
    alerts: list[RelationshipStarted]


@router.get(
    "/v1/ig/new-relationships",
    summary="New relationships to review: cases other organisations opened, without a "
    "referral, on people the caller's organisation holds records of; newest first",
    responses={403: {"description": forbidden_roles_description("review_alerts")}},
)
async def new_relationships(
    lead: Annotated[Caller, Depends(allowed_to("review_alerts"))],
    governance: GovernanceDep,
    request: Request,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
    offset: Annotated[int, Query(ge=0, le=1_000_000)] = 0,
) -> RelationshipAlerts:
    """Return a page of the organisation's new-relationship alerts. One opened by an
    organisation the person's decisions withhold from the caller's is left out, and so is
    every one about a person the caller's organisation holds only a disputed record of (the
    page may then be shorter than `limit`). Each person shown is a read in their access log."""
    starts: RelationshipStarts = request.app.state.relationship_starts
    found = await governance.new_relationships(starts, lead, limit=limit, offset=offset)
    alerts = [RelationshipStarted(**asdict(alert)) for alert in found]
    return RelationshipAlerts(org=lead.org, limit=limit, offset=offset, alerts=alerts)
