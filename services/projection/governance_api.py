"""Break-glass over HTTP: open a record in an emergency, and the alerts IG leads review."""

from datetime import UTC, datetime
from typing import Annotated
from uuid import UUID

import structlog
from fastapi import APIRouter, Depends, Query, Request
from pydantic import BaseModel, ConfigDict, Field

from services.projection.break_glass import BreakGlass, BreakGlassAlerts, BreakGlassGrant
from services.projection.queries import CitizenQueries
from services.runtime.api_keys import Caller
from services.runtime.http.auth import CallerDep
from services.runtime.http.errors import ApiError, not_found

logger = structlog.get_logger(__name__)
_ERRORS: dict[int | str, dict[str, str]] = {
    401: {"description": "no API key, or an unknown or revoked one"},
    422: {"description": "the request breaks a rule; the body names the field and the rule"},
}
router = APIRouter(tags=["governance"], responses=_ERRORS)


class EmergencyReason(BaseModel):
    """Why the record must be opened now, in words an IG lead can check afterwards."""

    model_config = ConfigDict(extra="forbid")

    reason: str = Field(min_length=10, max_length=500)


def _break_glass(request: Request) -> BreakGlass:
    glass: BreakGlass = request.app.state.break_glass
    return glass


BreakGlassDep = Annotated[BreakGlass, Depends(_break_glass)]


@router.post(
    "/v1/citizens/{citizen_id}/break-glass",
    status_code=201,
    summary="Open a person's full record in an emergency, with a stated reason",
    description="For a caller whose organisation does not work with the person. The caller's "
    "key may then read the full single view, timeline and FHIR export for a short time; "
    "every read is marked `break_glass` in the access log, and the grant is an alert for "
    "the information governance leads of the caller's organisation.",
    responses={404: {"description": "no such citizen"}},
)
async def break_the_glass(
    citizen_id: UUID,
    body: EmergencyReason,
    caller: CallerDep,
    glass: BreakGlassDep,
    request: Request,
) -> BreakGlassGrant:
    """Grant the caller's key emergency access to the citizen's record."""
    if caller.role != "frontline":
        raise ApiError(403, "frontline_only", "only a frontline key may break the glass")
    queries: CitizenQueries = request.app.state.citizens
    if await queries.citizen_view(citizen_id) is None:
        raise not_found("citizen")
    grant = await glass.grant(
        citizen_id,
        caller=caller,
        reason=body.reason,
        correlation_id=request.state.correlation_id,
        now=datetime.now(UTC),
    )
    logger.warning(  # the reason may name people: it stays in the audit schema, not the logs
        "break_glass_granted", citizen_id=str(citizen_id), expires_at=str(grant.expires_at)
    )
    return grant


async def ig_lead(caller: CallerDep) -> Caller:
    """Return the caller if their key is an information governance lead's, else 403."""
    if caller.role != "ig_lead":
        raise ApiError(403, "ig_lead_only", "break-glass alerts need an ig_lead key")
    return caller


@router.get(
    "/v1/ig/break-glass",
    summary="Break-glass grants of the caller's organisation, newest first (alerts to review)",
    responses={403: {"description": "the key is not an ig_lead key"}},
)
async def break_glass_alerts(
    lead: Annotated[Caller, Depends(ig_lead)],
    glass: BreakGlassDep,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
    offset: Annotated[int, Query(ge=0, le=1_000_000)] = 0,
) -> BreakGlassAlerts:
    """Return a page of the organisation's break-glass grants."""
    grants = await glass.of_org(lead.org, limit=limit, offset=offset)
    return BreakGlassAlerts(org=lead.org, limit=limit, offset=offset, grants=grants)
