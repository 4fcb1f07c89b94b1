"""The projection's HTTP API: find citizens, read a single view (also as FHIR), read a timeline.

Any valid API key may read. Thin routes: parse, call `CitizenQueries`, map "not found".
"""

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Annotated
from uuid import UUID

from fastapi import APIRouter, Depends, Header, Query, Request
from fastapi.responses import JSONResponse
from pydantic import AwareDatetime

from events.envelope import ORGANISATIONS, OrgId
from events.identifiers import NhsNumber, PersonName
from events.registry import registered_types
from services.projection.access_log import (
    Access,
    AccessLog,
    AccessLogPage,
    Purpose,
    ReadKind,
)
from services.projection.break_glass import BreakGlass
from services.projection.domain.fhir_bundle import citizen_bundle
from services.projection.domain.sharing import (
    IDENTITY,
    SharedView,
    SharingPolicy,
    Viewer,
    categories_shown,
    has_relationship,
    identity_for,
    may_find,
    shared_view,
    visible_categories,
)
from services.projection.domain.view import RECENT_EVENTS, CitizenView, RecentEvent
from services.projection.queries import (
    CitizenList,
    CitizenQueries,
    CitizenSummary,
    Timeline,
    TimelineEvent,
    TimelineFilter,
)
from services.runtime.api_keys import Caller
from services.runtime.http.auth import CallerDep
from services.runtime.http.errors import ApiError, FieldError, not_found

_ERRORS: dict[int | str, dict[str, str]] = {
    401: {"description": "no API key, or an unknown or revoked one"},
    422: {"description": "the request breaks a rule; the body names the field and the rule"},
}
FHIR_JSON = "application/fhir+json"
router = APIRouter(prefix="/v1/citizens", tags=["citizens"], responses=_ERRORS)


def viewer_of(request: Request, caller: CallerDep) -> Viewer:
    """Return who is looking, with the place's sharing rules."""
    policy: SharingPolicy = request.app.state.sharing
    return Viewer(org=caller.org, role=caller.role, policy=policy)


ViewerDep = Annotated[Viewer, Depends(viewer_of)]
EVENT_CATEGORIES = {model.event_type: model.category for model in registered_types()}


@dataclass(frozen=True)
class Reads:
    """Records each read of a citizen's data in the access log, before it is answered."""

    log: AccessLog
    glass: BreakGlass
    caller: Caller
    purpose: Purpose
    correlation_id: str

    async def related(self, view: CitizenView) -> tuple[bool, bool]:
        """Tell whether the caller may open the full record, and whether only by break-glass."""
        if has_relationship(view, self.caller.org):
            return True, False
        now = datetime.now(UTC)
        glass = await self.glass.is_open(view.citizen_id, key_id=self.caller.key_id, now=now)
        return glass, glass

    async def record(
        self,
        kind: ReadKind,
        citizen_categories: Sequence[tuple[UUID, Sequence[str]]],
        *,
        break_glass: bool = False,
    ) -> None:
        """Log that these citizens' data of these categories is about to be returned."""
        now = datetime.now(UTC)
        await self.log.record(
            [
                Access(
                    read_at=now, citizen_id=citizen, viewer_org=self.caller.org,
                    viewer_role=self.caller.role, key_id=self.caller.key_id, read_kind=kind,
                    categories=list(categories), purpose=self.purpose, break_glass=break_glass,
                    correlation_id=self.correlation_id,
                )
                for citizen, categories in citizen_categories
            ]
        )  # fmt: skip


def reads_of(
    request: Request,
    caller: CallerDep,
    purpose: Annotated[
        Purpose,
        Header(
            alias="X-Purpose-Of-Use",
            description="why the data is read; recorded in the access log",
        ),
    ] = "direct_care",
) -> Reads:
    """Return the access log recorder of this request."""
    log: AccessLog = request.app.state.access_log
    glass: BreakGlass = request.app.state.break_glass
    return Reads(log, glass, caller, purpose, request.state.correlation_id)


ReadsDep = Annotated[Reads, Depends(reads_of)]


def citizen_queries(request: Request) -> CitizenQueries:
    """Return the app's read-model queries."""
    queries: CitizenQueries = request.app.state.citizens
    return queries


QueriesDep = Annotated[CitizenQueries, Depends(citizen_queries)]


@router.get(
    "",
    summary="Find citizens by NHS number, or by family name and date of birth",
    description="An NHS number search ignores the other criteria. Names match exactly, "
    "ignoring case.",
)
async def find_citizens(
    viewer: ViewerDep,
    reads: ReadsDep,
    queries: QueriesDep,
    *,
    nhs_number: Annotated[NhsNumber | None, Query(description="ten digits, spaces allowed")] = None,
    family_name: Annotated[PersonName | None, Query()] = None,
    date_of_birth: Annotated[date | None, Query(description="YYYY-MM-DD")] = None,
    given_name: Annotated[PersonName | None, Query(description="narrows a name search")] = None,
) -> CitizenList:
    """Return the citizens matching the search."""
    if nhs_number is not None:
        found = await queries.by_nhs_number(nhs_number)
    elif family_name is None or date_of_birth is None:
        raise _missing_criteria(family_name=family_name, date_of_birth=date_of_birth)
    else:
        found = await queries.by_name_and_birth(
            family_name=family_name, date_of_birth=date_of_birth, given_name=given_name
        )
    used = ("nhs_number",) if nhs_number is not None else ("family_name", "date_of_birth")
    if nhs_number is None and given_name is not None:
        used = (*used, "given_name")
    shown = await _findable(queries, found, viewer, used=used)
    await reads.record("search", [(hit.citizen_id, [IDENTITY]) for hit in shown])
    return CitizenList(citizens=shown)


async def _findable(
    queries: CitizenQueries,
    found: list[CitizenSummary],
    viewer: Viewer,
    *,
    used: tuple[str, ...],
) -> list[CitizenSummary]:
    """Keep the hits the viewer may know of, each with the identity values they may see.

    A hit is kept only if every value the search compared (`used`) is one the viewer may
    see: otherwise the hit, or its score, would tell them a value the rules hide.
    """
    views = await queries.citizen_views([hit.citizen_id for hit in found])
    shown = []
    for hit in found:
        view = views.get(hit.citizen_id)
        if view is None or not may_find(view, viewer):
            continue
        identity = identity_for(view, viewer)
        visible = {
            "nhs_number": identity.nhs_number,
            "given_name": identity.given_name,
            "family_name": identity.family_name,
            "date_of_birth": identity.date_of_birth,
        }
        values = {name: value.value if value else None for name, value in visible.items()}
        if any(values[name] is None for name in used):
            continue
        matched_on = [name for name in hit.matched_on if values.get(name) is not None]
        shown.append(hit.model_copy(update={**values, "matched_on": matched_on}))
    return shown


@router.get(
    "/{citizen_id}",
    summary="The single view of a citizen, as the caller may see it",
    description="Identity, each organisation's involvement (cases, key workers), raised flags "
    "and risks, referrals with their status, and what happened recently: what the place's "
    "sharing rules let the caller's organisation and role see. A caller whose organisation "
    "has no open case and no accepted referral for the person gets `access: contacts`: only "
    "the organisations involved and how to reach their key workers.",
    responses={404: {"description": "no such citizen"}},
)
async def single_view(
    citizen_id: UUID, viewer: ViewerDep, reads: ReadsDep, queries: QueriesDep
) -> SharedView:
    """Return the citizen's single view, filtered for the caller."""
    view = await _citizen_or_404(queries, citizen_id)
    related, glass = await reads.related(view)
    shared, access = shared_view(view, viewer, flag_categories=EVENT_CATEGORIES, related=related)
    recent: tuple[RecentEvent, ...] = ()
    if access == "full":
        recent = await _recent(queries, citizen_id, viewer)
    answer = SharedView(**{**dict(shared), "recent": recent}, access=access)
    await reads.record(
        "view",
        [(citizen_id, categories_shown(answer, flag_categories=EVENT_CATEGORIES))],
        break_glass=glass,
    )
    return answer


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
async def single_view_as_fhir(
    citizen_id: UUID, viewer: ViewerDep, reads: ReadsDep, queries: QueriesDep
) -> JSONResponse:
    """Return the citizen's single view as a FHIR Bundle."""
    view = await _citizen_or_404(queries, citizen_id)
    glass = await _full_record_open(view, viewer, reads)
    shared, _ = shared_view(view, viewer, flag_categories=EVENT_CATEGORIES, related=True)
    bundle = citizen_bundle(shared, generated_at=datetime.now(UTC))
    await reads.record(
        "fhir",
        [(citizen_id, categories_shown(shared, flag_categories=EVENT_CATEGORIES))],
        break_glass=glass,
    )
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
    viewer: ViewerDep,
    reads: ReadsDep,
    queries: QueriesDep,
    *,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
    offset: Annotated[int, Query(ge=0, le=1_000_000)] = 0,
    org: OrgId | None = None,
    category: Annotated[str | None, Query(pattern=r"^[a-z_]+(\.[a-z_]+)*$", max_length=64)] = None,
    occurred_from: Annotated[AwareDatetime | None, Query(alias="from")] = None,
    occurred_before: Annotated[AwareDatetime | None, Query(alias="to")] = None,
) -> Timeline:
    """Return a page of the citizen's timeline."""
    if occurred_from and occurred_before and occurred_before <= occurred_from:
        message = "`to` must be after `from`"
        fields = [FieldError(field="query.to", rule="after_from", message=message)]
        raise ApiError(422, "validation_failed", message, fields=fields)
    view = await _citizen_or_404(queries, citizen_id)
    glass = await _full_record_open(view, viewer, reads)
    only = TimelineFilter(
        org=org,
        category=category,
        occurred_from=occurred_from,
        occurred_before=occurred_before,
        visible=tuple(visible_categories(viewer, ORGANISATIONS)),
    )
    page = await queries.timeline(citizen_id, limit=limit, offset=offset, only=only)
    if page is None:
        raise not_found("citizen")
    page = page.model_copy(
        update={"events": [_without_hidden_details(e, viewer) for e in page.events]}
    )
    categories = sorted({e.category for e in page.events})
    await reads.record("timeline", [(citizen_id, categories)], break_glass=glass)
    return page


@router.get(
    "/{citizen_id}/access-log",
    summary="Who read this citizen's data: when, which organisation and role, what, and why",
    description="For the person's key workers (an organisation with an open case or an "
    'accepted referral): answers "who looked at my record" without an admin credential. '
    "Newest first.",
    responses={
        403: {"description": "the caller's organisation does not work with the person"},
        404: {"description": "no such citizen"},
    },
)
async def access_log(
    citizen_id: UUID,
    viewer: ViewerDep,
    request: Request,
    queries: QueriesDep,
    *,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
    offset: Annotated[int, Query(ge=0, le=1_000_000)] = 0,
) -> AccessLogPage:
    """Return a page of the citizen's access log."""
    view = await _citizen_or_404(queries, citizen_id)
    if viewer.role not in ("frontline", "ig_lead"):
        raise ApiError(403, "role_not_allowed", "the access log is for key workers and IG leads")
    if not has_relationship(view, viewer.org):
        raise _relationship_required() if may_find(view, viewer) else not_found("citizen")
    log: AccessLog = request.app.state.access_log
    accesses = [
        access.model_copy(update={"categories": _seen_by(viewer, access.categories)})
        for access in await log.of_citizen(citizen_id, limit=limit, offset=offset)
    ]
    return AccessLogPage(citizen_id=citizen_id, limit=limit, offset=offset, accesses=accesses)


def _seen_by(viewer: Viewer, categories: list[str]) -> list[str]:
    """Keep the categories the viewer could see of some organisation: the log does not tell
    them which kinds of information exist that the rules hide from them."""
    return [c for c in categories if any(viewer.may_see(org, c) for org in ORGANISATIONS)]


async def _recent(
    queries: CitizenQueries, citizen_id: UUID, viewer: Viewer
) -> tuple[RecentEvent, ...]:
    only = TimelineFilter(visible=tuple(visible_categories(viewer, ORGANISATIONS)))
    page = await queries.timeline(
        citizen_id, limit=RECENT_EVENTS, offset=0, only=only, newest_first=True
    )
    events = page.events if page else []
    return tuple(
        RecentEvent(
            event_id=e.event_id,
            org=e.org,
            type=e.type,
            category=e.category,
            occurred_at=e.occurred_at,
            recorded_at=e.recorded_at,
        )
        for e in events
    )


def _without_hidden_details(event: TimelineEvent, viewer: Viewer) -> TimelineEvent:
    """Drop a referral's copy of the person's details unless the rules share the sender's
    `person.identity` (a referral carries who the person is)."""
    if "person" in event.data and not viewer.may_see(event.org, IDENTITY):
        data = {key: value for key, value in event.data.items() if key != "person"}
        return event.model_copy(update={"data": data})
    return event


async def _citizen_or_404(queries: CitizenQueries, citizen_id: UUID) -> CitizenView:
    view = await queries.citizen_view(citizen_id)
    if view is None:
        raise not_found("citizen")
    return view


async def _full_record_open(view: CitizenView, viewer: Viewer, reads: Reads) -> bool:
    """Return whether the caller opens the full record only by break-glass; if they may not
    open it, answer 403, or 404 when the rules hide the person from them altogether."""
    related, glass = await reads.related(view)
    if not related:
        raise _relationship_required() if may_find(view, viewer) else not_found("citizen")
    return glass


def _relationship_required() -> ApiError:
    return ApiError(
        403,
        "relationship_required",
        "only an organisation working with the person (an open case or an accepted "
        "referral) may read this; GET /v1/citizens/{id} shows who to contact",
    )


def _missing_criteria(*, family_name: str | None, date_of_birth: date | None) -> ApiError:
    message = "search by nhs_number, or by family_name and date_of_birth"
    missing = [
        name
        for name, value in (("family_name", family_name), ("date_of_birth", date_of_birth))
        if value is None
    ]
    if len(missing) == 2:
        missing.insert(0, "nhs_number")
    fields = [
        FieldError(field=f"query.{name}", rule="missing", message=message) for name in missing
    ]
    return ApiError(422, "validation_failed", message, fields=fields)
