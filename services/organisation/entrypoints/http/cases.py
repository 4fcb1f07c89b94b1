"""Cases: open one for a person, record events on it, close it, read it."""

from typing import Annotated
from uuid import UUID

from fastapi import APIRouter, Query, Request, Response

from services.organisation.domain.commands import (
    CloseCase,
    OpenCase,
    RecordCaseEvent,
    RetractCaseEvent,
)
from services.organisation.domain.recording import Recording
from services.organisation.domain.worklists import CaseListStatus
from services.organisation.entrypoints.http.case_models import (
    CaseClose,
    CaseClosedReceipt,
    CaseCreate,
    CaseEventCreate,
    CaseEventReceipt,
    CaseEventRetract,
    CaseList,
    CaseListItem,
    CasePublic,
    CaseReceipt,
)
from services.organisation.entrypoints.http.lists import (
    DEFAULT_LIMIT,
    Cursor,
    Limit,
    listed,
    listed_person,
    page_links,
)
from services.organisation.entrypoints.http.openapi import error_responses
from services.organisation.entrypoints.http.reads import ReaderDep
from services.organisation.entrypoints.http.writes import WriterDep
from services.organisation.service_layer import cases, worklists
from services.organisation.service_layer.unit_of_work import UnitOfWork

router = APIRouter(tags=["cases"])


@router.post(
    "/v1/people/{person_id}/cases",
    status_code=201,
    response_model=CaseReceipt,
    summary="Open a case for a person",
    responses=error_responses(401, 403, 404, 422),
)
async def open_case(person_id: UUID, body: CaseCreate, writer: WriterDep) -> Response:
    """Open a case for a registered person, led by a key worker."""
    command = OpenCase(person_id, body.reason, body.key_worker, occurred_at=body.occurred_at)

    async def run(uow: UnitOfWork, recording: Recording) -> CaseReceipt:
        opened = await cases.open_case(uow, recording=recording, command=command)
        return CaseReceipt(case_id=opened.case_id, version=opened.version)

    return await writer.answer("open_case", body=body, status=201, run=run)


@router.get(
    "/v1/cases",
    summary="List cases: a caseload",
    responses=error_responses(401, 403, 422),
)
async def list_cases(
    *,
    request: Request,
    reader: ReaderDep,
    status: Annotated[
        list[CaseListStatus] | None,
        Query(description="only these statuses (repeat the parameter for both)"),
    ] = None,
    key_worker: Annotated[
        str | None,
        Query(min_length=1, max_length=200, description="led by this key worker (name or email)"),
    ] = None,
    limit: Limit = DEFAULT_LIMIT,
    cursor: Cursor = None,
) -> CaseList:
    """A caseload: this organisation's cases, newest first, each with who leads it and the
    person as registered; a page at a time, with the total and a `next` link. Lists follow
    the organisation's log within moments of a change."""
    page = await listed(
        reader,
        lambda uow: worklists.caseload_page(
            uow, statuses=status or [], key_worker=key_worker, limit=limit, cursor=cursor
        ),
    )
    items = [
        CaseListItem(
            case_id=item.row.case_id,
            status=item.row.status,
            key_worker=item.row.key_worker,
            key_worker_email=item.row.key_worker_email,
            person=listed_person(item.row.person_id, page, index),
            opened_at=item.row.opened_at,
            updated_at=item.row.updated_at,
        )
        for index, item in enumerate(page.items)
    ]
    return CaseList(items=items, **page_links(request, page, limit).model_dump())


@router.get("/v1/cases/{case_id}", summary="Read a case", responses=error_responses(401, 403, 404))
async def read_case(case_id: UUID, reader: ReaderDep) -> CasePublic:
    """Return a case: for whom, led by whom, open or closed, and its version."""
    state = await reader.query(lambda uow: cases.get_case(uow, case_id))
    return CasePublic.from_state(state)


@router.post(
    "/v1/cases/{case_id}/events",
    status_code=201,
    response_model=CaseEventReceipt,
    summary="Record an event on a case",
    responses=error_responses(401, 403, 404, 409, 422),
)
async def record_case_event(case_id: UUID, body: CaseEventCreate, writer: WriterDep) -> Response:
    """Record an event of this organisation's vocabulary (or a flag) on an open case.

    `data` follows the type's JSON Schema (see /schemas), without `case_id`. Send `event_id`
    or an `Idempotency-Key` header to make a retry safe; send `expected_version` to get 409
    instead of writing after someone else did.
    """
    command = RecordCaseEvent(
        case_id, body.type, body.data, body.occurred_at, body.expected_version, body.event_id
    )

    async def run(uow: UnitOfWork, recording: Recording) -> CaseEventReceipt:
        written = await cases.record_case_event(uow, recording=recording, command=command)
        return CaseEventReceipt(event_id=written.event_id, version=written.version)

    return await writer.answer("record_case_event", body=body, status=201, run=run)


@router.post(
    "/v1/cases/{case_id}/events/{event_id}/entered-in-error",
    status_code=201,
    response_model=CaseEventReceipt,
    summary="Retract an event entered in error",
    responses=error_responses(401, 403, 404, 409, 422),
)
async def retract_case_event(
    case_id: UUID, event_id: UUID, body: CaseEventRetract, writer: WriterDep
) -> Response:
    """Say an event on the case was entered in error, and why (`event.entered_in_error`, as
    FHIR's `entered-in-error`): the case and the single view read as if it had not been (a
    flag it raised goes, a close it made is undone); the timeline keeps it, marked retracted.
    A correction is this and the right event. Not the case's opening (close the case), not a
    retraction, not twice: 409 `not_retractable`. With `erase_values`, the retracted event's
    personal values are erased in place with it (the timeline shows them as erased)."""
    command = RetractCaseEvent(case_id, event_id, body.reason, body.erase_values)

    async def run(uow: UnitOfWork, recording: Recording) -> CaseEventReceipt:
        written = await cases.retract_case_event(uow, recording=recording, command=command)
        return CaseEventReceipt(event_id=written.event_id, version=written.version)

    return await writer.answer("retract_case_event", body=body, status=201, run=run)


@router.post(
    "/v1/cases/{case_id}/close",
    response_model=CaseClosedReceipt,
    summary="Close a case",
    responses=error_responses(401, 403, 404, 409, 422),
)
async def close_case(case_id: UUID, body: CaseClose, writer: WriterDep) -> Response:
    """Close an open case with its outcome; a closed case takes no more events."""
    command = CloseCase(case_id, body.outcome, body.expected_version)

    async def run(uow: UnitOfWork, recording: Recording) -> CaseClosedReceipt:
        closed = await cases.close_case(uow, recording=recording, command=command)
        return CaseClosedReceipt(case_id=closed.case_id, version=closed.version)

    return await writer.answer("close_case", body=body, status=200, run=run)
