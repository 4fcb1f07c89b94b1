"""Break-glass over HTTP: open a record in an emergency, and the alerts IG leads review
(decided in `service_layer/governance.py`)."""

from typing import Annotated
from uuid import UUID

from fastapi import APIRouter, Depends, Query, Request
from pydantic import BaseModel, ConfigDict

from events.governance import EmergencyReasonText
from services.projection.adapters.break_glass import BreakGlass, BreakGlassAlerts, BreakGlassGrant
from services.projection.domain.sharing import Viewer
from services.projection.entrypoints.http.purpose_of_use import PurposeDep
from services.projection.entrypoints.http.roles import allowed_to, forbidden_roles_description
from services.projection.service_layer.governance import Governance
from services.runtime.api_keys import Caller
from services.runtime.http.errors import ApiError

_ERRORS: dict[int | str, dict[str, str]] = {
    401: {"description": "no API key, or an unknown or revoked one"},
    422: {"description": "the request breaks a rule; the body names the field and the rule"},
}
router = APIRouter(tags=["governance"], responses=_ERRORS)


class EmergencyReason(BaseModel):
    """Why the record must be opened now, in words an IG lead can check afterwards."""

    model_config = ConfigDict(extra="forbid")

    reason: EmergencyReasonText


async def _break_glass(request: Request) -> BreakGlass:
    glass: BreakGlass = request.app.state.break_glass
    return glass


BreakGlassDep = Annotated[BreakGlass, Depends(_break_glass)]


async def governance_of(request: Request) -> Governance:
    """Return this request's governance reads and decisions."""
    state = request.app.state
    return Governance(
        policy=state.sharing,
        queries=state.citizens,
        confirmations=state.identity_confirmations,
        access_log=state.access_log,
        correlation_id=request.state.correlation_id,
    )


GovernanceDep = Annotated[Governance, Depends(governance_of)]


@router.post(
    "/v1/citizens/{citizen_id}/break-glass",
    status_code=201,
    summary="Open a person's full record in an emergency, with a stated reason",
    description="For a caller whose organisation does not work with the person. The caller's "
    "key may then read the full single view, timeline and FHIR export for a short time; "
    "every read is marked `break_glass` in the access log, and the grant is an alert for "
    "the information governance leads of the caller's organisation and of every "
    "organisation holding records of the person.",
    responses={
        403: {"description": forbidden_roles_description("break_the_glass")},
        404: {"description": "no such citizen"},
        409: {"description": "the caller's organisation already works with the person"},
    },
)
async def break_the_glass(
    citizen_id: UUID,
    body: EmergencyReason,
    *,
    caller: Annotated[Caller, Depends(allowed_to("break_the_glass"))],
    purpose: PurposeDep,
    glass: BreakGlassDep,
    governance: GovernanceDep,
) -> BreakGlassGrant:
    """Grant the caller's key emergency access to the citizen's record."""
    viewer = Viewer(org=caller.org, role=caller.role, policy=governance.policy, purpose=purpose)
    return await governance.break_the_glass(glass, caller, viewer, citizen_id, body.reason)


@router.get(
    "/v1/ig/break-glass",
    summary="Break-glass alerts to review: grants to the caller's organisation's keys, and "
    "grants opening a person whose records it holds; newest first",
    responses={403: {"description": forbidden_roles_description("review_alerts")}},
)
async def break_glass_alerts(
    lead: Annotated[Caller, Depends(allowed_to("review_alerts"))],
    glass: BreakGlassDep,
    governance: GovernanceDep,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
    offset: Annotated[int, Query(ge=0, le=1_000_000)] = 0,
) -> BreakGlassAlerts:
    """Return a page of the organisation's break-glass alerts: another organisation's grant
    is left out when the person's decisions withhold that organisation from this one, or
    when this one's only record of the person is disputed (the page may then be shorter
    than `limit`). Each person shown is a read in their access log."""
    shown = await governance.break_glass_alerts(glass, lead, limit=limit, offset=offset)
    return BreakGlassAlerts(org=lead.org, limit=limit, offset=offset, grants=shown)


def relationship_exists() -> ApiError:
    """The 409 of a caller whose organisation already works with the person."""
    return ApiError(
        409,
        "relationship_exists",
        "your organisation works with the person: read the record without breaking the glass",
    )
