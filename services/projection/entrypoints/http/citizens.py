"""The projection's HTTP API for one citizen: single view (also as FHIR), timeline, access log.

Thin routes: parse, read through the service layer (`service_layer/citizen_reads.py`
decides what the caller sees and logs the read), answer. Search is in `search.py`.
"""

from datetime import UTC, datetime
from typing import Annotated
from uuid import UUID

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import JSONResponse
from pydantic import AwareDatetime

from events.envelope import OrgId
from events.organisations import Organisations
from services.projection.adapters.access_log import AccessLog, AccessLogPage
from services.projection.adapters.queries import Timeline
from services.projection.domain.sharing import SharedView
from services.projection.entrypoints.http.reading import READ_ERRORS, ReadingDep
from services.projection.entrypoints.http.roles import allowed_to, forbidden_roles_description
from services.projection.service_layer.citizen_reads import TimelineNarrowing
from services.projection.service_layer.reading import EVENT_CATEGORIES
from services.runtime.http.errors import ApiError, FieldError

FHIR_JSON = "application/fhir+json"
CATEGORIES = frozenset(EVENT_CATEGORIES.values())
router = APIRouter(prefix="/v1/citizens", tags=["citizens"], responses=READ_ERRORS)


@router.get(
    "/{citizen_id}",
    summary="The single view of a citizen, as the caller may see it",
    description="Identity, each organisation's involvement (cases, key workers), raised flags "
    "and risks, referrals with their status, and what happened recently: what the place's "
    "sharing rules let the caller's organisation and role see. A caller whose organisation "
    "has no open case and no accepted referral for the person gets `access: contacts`: the "
    "other organisations involved and how to reach their key workers, and its own records.",
    responses={404: {"description": "no such citizen"}},
)
async def single_view(citizen_id: UUID, reading: ReadingDep) -> SharedView:
    """Return the citizen's single view, filtered for the caller."""
    return await reading.single_view(citizen_id)


@router.get(
    "/{citizen_id}/fhir",
    summary="The single view as a FHIR R4 Bundle",
    description="Patient (NHS number identifier, UK Core profile), Organization, EpisodeOfCare "
    "per case, CareTeam per organisation's key workers, Flag per flag or risk, and a "
    "ServiceRequest with its Task per referral, in one `collection` Bundle.",
    response_class=JSONResponse,
    responses={
        200: {"content": {FHIR_JSON: {}}, "description": "a FHIR R4 Bundle"},
        404: {"description": "no such citizen"},
    },
)
async def single_view_as_fhir(citizen_id: UUID, reading: ReadingDep) -> JSONResponse:
    """Return the citizen's single view as a FHIR Bundle."""
    bundle = await reading.fhir_bundle(citizen_id, generated_at=datetime.now(UTC))
    return JSONResponse(bundle, media_type=FHIR_JSON)


@router.get(
    "/{citizen_id}/timeline",
    summary="Everything that happened with a citizen, across organisations, in time order",
    description="Ordered by when each event occurred, then when it was recorded, then its id. "
    "Narrow it to one organisation (`org`), one category (`category`, e.g. `housing.tenancy`), "
    "and a period of occurrence (`from` inclusive, `to` exclusive, with a time zone).",
    responses={404: {"description": "no such citizen"}},
)
async def timeline(
    citizen_id: UUID,
    reading: ReadingDep,
    request: Request,
    *,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
    offset: Annotated[int, Query(ge=0, le=1_000_000)] = 0,
    org: OrgId | None = None,
    category: Annotated[str | None, Query(pattern=r"^[a-z_]+(\.[a-z_]+)*$", max_length=64)] = None,
    occurred_from: Annotated[AwareDatetime | None, Query(alias="from")] = None,
    occurred_before: Annotated[AwareDatetime | None, Query(alias="to")] = None,
) -> Timeline:
    """Return a page of the citizen's timeline."""
    occurred_from = _in_utc(occurred_from, "from")
    occurred_before = _in_utc(occurred_before, "to")
    if occurred_from and occurred_before and occurred_before <= occurred_from:
        message = "`to` must be after `from`"
        fields = [FieldError(field="query.to", rule="after_from", message=message)]
        raise ApiError(422, "validation_failed", message, fields=fields)
    place: Organisations = request.app.state.sharing.place
    if org is not None and org not in place:  # nor is an organisation the place lacks
        message = f"no such organisation here; one of: {', '.join(place.ids)}"
        fields = [FieldError(field="query.org", rule="known_organisation", message=message)]
        raise ApiError(422, "validation_failed", message, fields=fields)
    if category is not None and category not in CATEGORIES:  # a typo is not "no events"
        message = f"no event has this category; one of: {', '.join(sorted(CATEGORIES))}"
        fields = [FieldError(field="query.category", rule="known_category", message=message)]
        raise ApiError(422, "validation_failed", message, fields=fields)
    narrowing = TimelineNarrowing(org, category, occurred_from, occurred_before)
    return await reading.timeline(citizen_id, limit=limit, offset=offset, narrowing=narrowing)


@router.get(
    "/{citizen_id}/access-log",
    summary="Who read this citizen's data: when, which organisation and role, what, and why",
    description="For the person's key workers (an organisation with an open case or an "
    'accepted referral): answers "who looked at my record" without an admin credential. '
    "Newest first. Reading it is logged too (`read_kind: access_log`). Reads by an "
    "organisation the person's decisions withhold from the caller are left out.",
    responses={
        403: {
            "description": "the caller's organisation does not work with the person, or "
            + forbidden_roles_description("read_access_log")
        },
        404: {"description": "no such citizen"},
    },
    dependencies=[Depends(allowed_to("read_access_log"))],
)
async def access_log(
    citizen_id: UUID,
    reading: ReadingDep,
    request: Request,
    *,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
    offset: Annotated[int, Query(ge=0, le=1_000_000)] = 0,
) -> AccessLogPage:
    """Return a page of the citizen's access log."""
    log: AccessLog = request.app.state.access_log
    return await reading.access_log(log, citizen_id, limit=limit, offset=offset)


def _in_utc(moment: datetime | None, name: str) -> datetime | None:
    """Return `moment` in UTC, or answer 422 for one that lies outside the years 1-9999
    there (0001-01-01T00:00:00+14:00 is in year 0)."""
    if moment is None:
        return None
    try:
        return moment.astimezone(UTC)
    except OverflowError:
        message = "a moment between the years 1 and 9999 in UTC"
        fields = [FieldError(field=f"query.{name}", rule="in_range", message=message)]
        raise ApiError(422, "validation_failed", message, fields=fields) from None
