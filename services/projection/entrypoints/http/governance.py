"""Break-glass over HTTP: open a record in an emergency, and the alerts IG leads review."""

from collections.abc import Iterable
from datetime import UTC, datetime
from typing import Annotated
from uuid import UUID

import structlog
from fastapi import APIRouter, Depends, Query, Request
from pydantic import BaseModel, ConfigDict

from events.governance import BREAK_GLASS_CATEGORY, EmergencyReasonText
from services.projection.adapters.access_log import Access, AccessLog, ReadKind
from services.projection.adapters.break_glass import BreakGlass, BreakGlassAlerts, BreakGlassGrant
from services.projection.adapters.identity_confirmations import IdentityConfirmations
from services.projection.adapters.queries import CitizenQueries
from services.projection.domain.sharing import Viewer, may_find
from services.projection.entrypoints.http.purpose_of_use import PurposeDep
from services.projection.entrypoints.http.roles import allowed_to, forbidden_roles_description
from services.projection.service_layer.reading import holds_attested_record, works_with
from services.runtime.api_keys import Caller
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

    reason: EmergencyReasonText


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
    request: Request,
) -> BreakGlassGrant:
    """Grant the caller's key emergency access to the citizen's record."""
    queries: CitizenQueries = request.app.state.citizens
    view = await queries.citizen_view(citizen_id)
    policy = request.app.state.sharing
    viewer = Viewer(org=caller.org, role=caller.role, policy=policy, purpose=purpose)
    if view is None or not may_find(view, viewer):
        raise not_found("citizen")  # the same answer whether hidden or unknown
    confirmations: IdentityConfirmations = request.app.state.identity_confirmations
    if await works_with(view, caller.org, confirmations):  # an alert for nothing buries others
        raise ApiError(
            409,
            "relationship_exists",
            "your organisation works with the person: read the record without breaking the glass",
        )
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


@router.get(
    "/v1/ig/break-glass",
    summary="Break-glass alerts to review: grants to the caller's organisation's keys, and "
    "grants opening a person whose records it holds; newest first",
    responses={403: {"description": forbidden_roles_description("review_alerts")}},
)
async def break_glass_alerts(
    lead: Annotated[Caller, Depends(allowed_to("review_alerts"))],
    glass: BreakGlassDep,
    request: Request,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
    offset: Annotated[int, Query(ge=0, le=1_000_000)] = 0,
) -> BreakGlassAlerts:
    """Return a page of the organisation's break-glass alerts: another organisation's grant
    is left out when the person's decisions withhold that organisation from this one, or
    when this one's only record of the person is disputed (the page may then be shorter
    than `limit`). Each person shown is a read in their access log."""
    grants = await glass.of_org(lead.org, limit=limit, offset=offset)
    queries: CitizenQueries = request.app.state.citizens
    views = await queries.citizen_views(list({g.citizen_id for g in grants}))
    reader = Viewer(org=lead.org, role=lead.role, policy=request.app.state.sharing, purpose="audit")
    confirmations: IdentityConfirmations = request.app.state.identity_confirmations
    held = {
        citizen: await holds_attested_record(view, lead.org, confirmations)
        for citizen, view in views.items()
    }
    shown = [
        g
        for g in grants
        if g.viewer_org == lead.org
        or (
            held.get(g.citizen_id, False)
            and g.viewer_org not in reader.about(views[g.citizen_id]).withheld
        )
    ]
    await log_alert_review(
        request,
        lead,
        (g.citizen_id for g in shown),
        kind="break_glass_alerts",
        categories=[BREAK_GLASS_CATEGORY],
    )
    return BreakGlassAlerts(org=lead.org, limit=limit, offset=offset, grants=shown)


async def log_alert_review(
    request: Request,
    lead: Caller,
    citizens: Iterable[UUID],
    *,
    kind: ReadKind,
    categories: list[str],
) -> None:
    """Record in each person's access log that an IG lead read alerts about them."""
    log: AccessLog = request.app.state.access_log
    await log.record(
        [
            Access(
                read_at=datetime.now(UTC), citizen_id=citizen, viewer_org=lead.org,
                viewer_role=lead.role, key_id=lead.key_id, read_kind=kind,
                categories=categories, purpose="audit", break_glass=False,
                correlation_id=request.state.correlation_id,
            )
            for citizen in sorted(set(citizens))
        ]
    )  # fmt: skip
