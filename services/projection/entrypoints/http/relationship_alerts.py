"""New relationships: an organisation starts working with a person others hold records of.

Opening a case is what lets an organisation read a person's full single view, so a case
opened on a person another organisation already held records of, without a referral
inviting it, is an alert for the IG leads of every organisation that held them (as a
break-glass grant is): who opened it (the recording actor and organisation), when, and on
what basis (the case opened on its own initiative; whether the registration it rests on is
disputed: `domain/identity_conflicts.py`). Derived from the events (the timeline), so a
replay rebuilds the alerts with the view. Nothing personal: no reason, no names.
"""

from datetime import datetime
from typing import Annotated, Literal
from uuid import UUID

from fastapi import APIRouter, Depends, Query, Request
from pydantic import BaseModel, ConfigDict, Field

from events.envelope import OrgId
from services.projection.adapters.identity_confirmations import IdentityConfirmations
from services.projection.adapters.queries import CitizenQueries
from services.projection.adapters.relationship_starts import RelationshipStarts
from services.projection.domain.identity_conflicts import disputed_records
from services.projection.domain.sharing import Viewer, has_relationship
from services.projection.entrypoints.http.governance import log_alert_review
from services.projection.entrypoints.http.roles import allowed_to, forbidden_roles_description
from services.projection.service_layer.reading import links_of
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
    request: Request,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
    offset: Annotated[int, Query(ge=0, le=1_000_000)] = 0,
) -> RelationshipAlerts:
    """Return a page of the organisation's new-relationship alerts. One opened by an
    organisation the person's decisions withhold from the caller's is left out, and so is
    every one about a person the caller's organisation holds only a disputed record of (the
    page may then be shorter than `limit`). Each person shown is a read in their access log."""
    starts: RelationshipStarts = request.app.state.relationship_starts
    queries: CitizenQueries = request.app.state.citizens
    found = await starts.seen_by(lead.org, limit=limit, offset=offset)
    views = await queries.citizen_views(list({citizen for citizen, _ in found}))
    reader = Viewer(org=lead.org, role=lead.role, policy=request.app.state.sharing, purpose="audit")
    confirmations: IdentityConfirmations = request.app.state.identity_confirmations
    alerts = []
    for citizen, opened in found:
        view = views.get(citizen)
        if view is None or opened.org in reader.about(view).withheld:
            continue
        links = await links_of(view, confirmations)
        disputed = disputed_records(view.involvements, links=links)
        if not any(
            i.org == lead.org and (i.org, i.person_id) not in disputed for i in view.involvements
        ):
            continue  # a claimant to the person's NHS number is told nothing of them
        alerts.append(
            RelationshipStarted(
                citizen_id=citizen, org=opened.org, actor=opened.actor,
                case_id=opened.data["case_id"], opened_at=opened.occurred_at,
                recorded_at=opened.recorded_at,
                disputed=(opened.org, opened.subject) in disputed,
                relationship=has_relationship(view, opened.org, links=links),
            )
        )  # fmt: skip
    citizens = (a.citizen_id for a in alerts)
    await log_alert_review(
        request, lead, citizens, kind="relationship_alerts", categories=["case.involvement"]
    )
    return RelationshipAlerts(org=lead.org, limit=limit, offset=offset, alerts=alerts)
