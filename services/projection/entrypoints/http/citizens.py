"""The projection's HTTP API for one citizen: single view (also as FHIR), timeline, access log.

Thin routes: parse, read through `CitizenQueries`, filter for the viewer with the pure
sharing domain, log the read (`reading.Reads`), answer. Search is in `search.py`.
"""

from collections.abc import Collection, Mapping
from datetime import UTC, datetime
from typing import Annotated
from uuid import UUID

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import JSONResponse
from pydantic import AwareDatetime

from events.envelope import ORGANISATIONS, OrgId
from services.projection.adapters.access_log import AccessLog, AccessLogPage
from services.projection.adapters.queries import (
    CitizenQueries,
    Timeline,
    TimelineEvent,
    TimelineFilter,
)
from services.projection.domain.fhir_bundle import citizen_bundle
from services.projection.domain.free_text import without_hidden_text
from services.projection.domain.identity_conflicts import RecordKey
from services.projection.domain.sharing import (
    IDENTITY,
    SharedView,
    Viewer,
    categories_shown,
    may_find,
    may_read_text_of,
    shared_view,
    visible_categories,
    with_last_contacts,
)
from services.projection.domain.view import RECENT_EVENTS, CitizenView, RecentEvent
from services.projection.entrypoints.http.reading import (
    EVENT_CATEGORIES,
    READ_ERRORS,
    QueriesDep,
    ReadsDep,
    ViewerDep,
    citizen_or_404,
    full_record_open,
    recorders_of,
    relationship_required,
)
from services.projection.entrypoints.http.roles import allowed_to, forbidden_roles_description
from services.runtime.http.errors import ApiError, FieldError, not_found

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
async def single_view(
    citizen_id: UUID, viewer: ViewerDep, reads: ReadsDep, queries: QueriesDep
) -> SharedView:
    """Return the citizen's single view, filtered for the caller."""
    view = await citizen_or_404(queries, citizen_id)
    related, glass = await reads.related(view)
    if not related and not may_find(view, viewer):
        raise not_found("citizen")
    hidden = await reads.hidden(view)
    shared, access = shared_view(
        view, viewer, flag_categories=EVENT_CATEGORIES, related=related, hidden=hidden
    )
    recent: tuple[RecentEvent, ...] = ()
    if access == "full":
        only = _visible_to(viewer.about(view), hidden)
        recent = await _recent(queries, citizen_id, only)
        shared = with_last_contacts(shared, await queries.last_contacts(citizen_id, only=only))
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
    view = await citizen_or_404(queries, citizen_id)
    glass = await full_record_open(view, viewer, reads)
    hidden = await reads.hidden(view)
    shared, _ = shared_view(
        view, viewer, flag_categories=EVENT_CATEGORIES, related=True, hidden=hidden
    )
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
    occurred_from = _in_utc(occurred_from, "from")
    occurred_before = _in_utc(occurred_before, "to")
    if occurred_from and occurred_before and occurred_before <= occurred_from:
        message = "`to` must be after `from`"
        fields = [FieldError(field="query.to", rule="after_from", message=message)]
        raise ApiError(422, "validation_failed", message, fields=fields)
    if category is not None and category not in CATEGORIES:  # a typo is not "no events"
        message = f"no event has this category; one of: {', '.join(sorted(CATEGORIES))}"
        fields = [FieldError(field="query.category", rule="known_category", message=message)]
        raise ApiError(422, "validation_failed", message, fields=fields)
    view = await citizen_or_404(queries, citizen_id)
    glass = await full_record_open(view, viewer, reads)
    viewer = viewer.about(view)
    only = _visible_to(viewer, await reads.hidden(view)).model_copy(
        update={
            "org": org,
            "category": category,
            "occurred_from": occurred_from,
            "occurred_before": occurred_before,
        }
    )
    page = await queries.timeline(citizen_id, limit=limit, offset=offset, only=only)
    if page is None:
        raise not_found("citizen")
    senders = {str(r.referral_id): r.from_org for r in view.referrals}
    page = page.model_copy(
        update={"events": [_without_hidden_details(e, viewer, senders) for e in page.events]}
    )
    categories = sorted({e.category for e in page.events})
    await reads.record("timeline", [(citizen_id, categories)], break_glass=glass)
    return page


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
    viewer: ViewerDep,
    reads: ReadsDep,
    request: Request,
    queries: QueriesDep,
    *,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
    offset: Annotated[int, Query(ge=0, le=1_000_000)] = 0,
) -> AccessLogPage:
    """Return a page of the citizen's access log."""
    view = await citizen_or_404(queries, citizen_id)
    if not await reads.works_with(view):
        raise relationship_required() if may_find(view, viewer) else not_found("citizen")
    log: AccessLog = request.app.state.access_log
    viewer = viewer.about(view)
    accesses = [
        access.model_copy(update={"categories": _seen_by(viewer, access.categories)})
        for access in await log.of_citizen(
            citizen_id,
            limit=limit,
            offset=offset,
            not_by=viewer.withheld,
            read_since=_first_registered(view, viewer.org),
        )
    ]
    await reads.record("access_log", [(citizen_id, [])])  # reading the log is logged too
    return AccessLogPage(citizen_id=citizen_id, limit=limit, offset=offset, accesses=accesses)


def _first_registered(view: CitizenView, org: OrgId) -> datetime | None:
    """When `org` first registered the person: reads before then were of other
    organisations' records, which the person may since have kept from it (their existence
    alone would say so)."""
    return min(
        (i.registration.occurred_at for i in view.involvements if i.org == org and i.registration),
        default=None,
    )


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


def _seen_by(viewer: Viewer, categories: list[str]) -> list[str]:
    """Keep the categories the viewer may see of some organisation that records them: the
    log does not tell them which kinds of information exist that the rules hide from them
    (their own organisation's records being open to them does not open another's clinical
    categories)."""
    return [
        category
        for category in categories
        if any(viewer.may_see(org, category) for org in recorders_of(category))
    ]


def _visible_to(viewer: Viewer, hidden: Collection[RecordKey]) -> TimelineFilter:
    """Return the timeline filter of what the viewer (narrowed to one person) may see,
    without the events of `hidden` records."""
    return TimelineFilter(
        visible=tuple(visible_categories(viewer, ORGANISATIONS)),
        naming_none_of=tuple(viewer.withheld),
        own_org=viewer.org,
        hidden_records=tuple(sorted(hidden)),
    )


async def _recent(
    queries: CitizenQueries, citizen_id: UUID, only: TimelineFilter
) -> tuple[RecentEvent, ...]:
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


def _without_hidden_details(
    event: TimelineEvent, viewer: Viewer, senders: Mapping[str, str]
) -> TimelineEvent:
    """Drop what the event carries that the viewer may not see of it: a referral's copy of
    the person's details unless the rules share the sender's `person.identity` (a referral
    carries who the person is), the receiver's person id on another organisation's receipt,
    and free text unless the viewer may read its writer's (`domain/free_text.py`: a mental
    health case's reason is clinical)."""
    data = event.data
    if "person" in data and not viewer.may_see(event.org, IDENTITY):
        data = {key: value for key, value in data.items() if key != "person"}
    if event.org != viewer.org and event.type == "referral.received":
        # the receiver's own reference for the person: an existing record's or a new one's
        data = {key: value for key, value in data.items() if key != "person_id"}
    sides = {event.org, data.get("from_org"), data.get("to_org")}
    party = event.type.startswith("referral.") and viewer.org in sides
    data = without_hidden_text(
        event.type,
        event.org,
        data,
        may_read=lambda writer: writer == viewer.org or may_read_text_of(viewer, writer),
        party=party,
        senders=senders,
    )
    return event if data == event.data else event.model_copy(update={"data": data})
