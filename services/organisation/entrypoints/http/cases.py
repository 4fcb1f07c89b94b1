"""Cases: open one for a person, record events on it, close it, read it."""

from uuid import UUID

from fastapi import APIRouter, Response

from services.organisation.domain.commands import CloseCase, OpenCase, RecordCaseEvent
from services.organisation.domain.recording import Recording
from services.organisation.entrypoints.http.case_models import (
    CaseClose,
    CaseClosedReceipt,
    CaseCreate,
    CaseEventCreate,
    CaseEventReceipt,
    CasePublic,
    CaseReceipt,
)
from services.organisation.entrypoints.http.openapi import error_responses
from services.organisation.entrypoints.http.reads import ReaderDep
from services.organisation.entrypoints.http.writes import WriterDep
from services.organisation.service_layer import cases
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
