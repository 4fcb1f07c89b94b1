"""Signed webhooks in: a charity's own system pushes its updates, in its own terms, to
`POST /v1/inbound/{source}`; its source's mapping makes them our commands.

Signed as the Standard Webhooks specification says (the `standardwebhooks` package verifies):
`webhook-id`, `webhook-timestamp` and `webhook-signature` (`v1,<base64 HMAC-SHA256 of
"{id}.{timestamp}.{body}">`, compared in constant time; any of the source's secrets, so one
rotates out without downtime); a timestamp more than 5 minutes off is refused. A message
that does not verify (or names no source of this organisation) is a 401 that writes nothing
and counts against the caller's address like a failed login. `webhook-id` is the
idempotency key: a re-delivery records nothing new and gets the first answer.

Applied: 200 with what it did. Not applicable (an unknown code, a bad date, an unknown
person): 202, kept in quarantine with the field and rule, for ops to redrive once the mapping
is fixed; never dropped.
"""

import json
from datetime import UTC, datetime
from typing import Annotated, Any, Literal
from uuid import UUID

import structlog
from fastapi import APIRouter, Header, Path, Query, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field
from standardwebhooks import Webhook
from standardwebhooks.webhooks import WebhookVerificationError

from services.organisation.adapters.csv_rows import CsvUnreadable, csv_rows
from services.organisation.domain.inbound_mapping import Source
from services.organisation.domain.recording import Recording
from services.organisation.entrypoints.http.openapi import error_responses
from services.organisation.entrypoints.http.reads import units_of_work
from services.organisation.entrypoints.http.writes import REPLAYED_HEADER
from services.organisation.service_layer.csv_import import import_rows
from services.organisation.service_layer.inbound import take_inbound_once
from services.organisation.service_layer.unit_of_work import UnitOfWork
from services.runtime.http.auth import OrganisationCallerDep, client_address
from services.runtime.http.errors import ApiError, FieldError
from services.runtime.http.media_types import is_json
from services.runtime.idempotency import IdempotencyKeyReused, StoredResponse
from services.runtime.rate_limits import RateLimits

router = APIRouter(prefix="/v1/inbound", tags=["inbound"])
log = structlog.get_logger("caseweave.organisation")
_UNVERIFIED = (
    "the message is not signed by a secret of this source, or its webhook-timestamp is more"
    " than 5 minutes off"
)


class InboundReceipt(BaseModel):
    """What became of a message: applied (as which command, to whom), or quarantined (with
    the field and rule that stopped it)."""

    status: Literal["applied", "quarantined"]
    command: str | None = None
    person_id: UUID | None = None
    case_id: UUID | None = None
    event_id: UUID | None = None
    quarantine_id: UUID | None = None
    field: str | None = None
    rule: str | None = None


@router.post(
    "/{source}",
    response_model=InboundReceipt,
    summary="Take in a signed message from a charity's own system",
    responses={
        202: {"model": InboundReceipt, "description": "kept in quarantine, with why"},
        401: {"description": _UNVERIFIED},
    },
    openapi_extra={  # the body is read raw (the signature covers its bytes), so say it here
        "requestBody": {
            "required": True,
            "content": {
                "application/json": {
                    "schema": {
                        "type": "object",
                        "description": "the message in the source's own terms: its mapping"
                        " (CASEWEAVE_SOURCES_FILE) reads it",
                    }
                }
            },
        }
    },
)
async def take_signed_message(
    request: Request,
    source: Annotated[str, Path(max_length=64, description="the source's name")],
    webhook_id: Annotated[str | None, Header(alias="webhook-id", max_length=200)] = None,
    webhook_timestamp: Annotated[str | None, Header(alias="webhook-timestamp")] = None,
    webhook_signature: Annotated[str | None, Header(alias="webhook-signature")] = None,
) -> JSONResponse:
    """Apply a message a source signed (see the module's description): 200 applied, 202
    quarantined, 401 not verified."""
    failures: RateLimits = request.app.state.auth_failures
    client = client_address(request)
    if wait := failures.blocked_for(client):
        why = f"too many failed authentications; retry in {wait} s"
        raise ApiError(429, "rate_limited", why, headers={"Retry-After": str(wait)})
    body = await request.body()
    known: dict[str, Source] = request.app.state.sources
    signed = known.get(source)
    headers = {
        "webhook-id": webhook_id or "",
        "webhook-timestamp": webhook_timestamp or "",
        "webhook-signature": webhook_signature or "",
    }
    if signed is None or not _verified(signed, body, headers):
        failures.wait_for(client)
        log.info("inbound_refused", source=source, code="unverified")
        raise ApiError(401, "unverified", _UNVERIFIED)
    assert webhook_id is not None  # verified messages carry it
    message = _json_object(request, body)
    answer, replayed = await _answer(request, signed, webhook_id, message)
    log.info("inbound_replayed" if replayed else "inbound_taken", source=source, **answer.body)
    return JSONResponse(
        answer.body, answer.status, headers={REPLAYED_HEADER: "true"} if replayed else None
    )


def _json_object(request: Request, body: bytes) -> dict[str, Any]:
    """Return the body as a JSON object, or answer 415 (not sent as JSON), 400 (not JSON)
    or 422 (not an object), naming the field and rule."""
    if not is_json(request.headers.get("content-type")):
        field = FieldError(
            field="header.content-type", rule="json_media_type",
            message="send Content-Type: application/json",
        )  # fmt: skip
        raise ApiError(
            415, "unsupported_media_type", "the request body must be JSON", fields=[field]
        )
    try:
        message = json.loads(body)
    except (ValueError, RecursionError) as error:
        field = FieldError(field="body", rule="json", message="JSON encoded as UTF-8")
        raise ApiError(
            400, "malformed_json", "the request body is not valid JSON", fields=[field]
        ) from error
    if not isinstance(message, dict):
        field = FieldError(field="body", rule="json_object", message="send a JSON object")
        raise ApiError(422, "validation_failed", "the request breaks a rule", fields=[field])
    return message


def _verified(source: Source, body: bytes, headers: dict[str, str]) -> bool:
    """Tell whether any of the source's secrets signed this body, recently."""
    for secret in source.secrets:
        try:
            Webhook(secret).verify(body, headers, json_parse=False)
        except WebhookVerificationError:
            continue
        return True
    return False


async def _answer(
    request: Request, source: Source, message_id: str, message: dict[str, Any]
) -> tuple[StoredResponse, bool]:
    """Apply or quarantine the message in one transaction, once per message id."""
    uow: UnitOfWork
    async with units_of_work(request, source.org)() as uow:
        recording = Recording(
            org=uow.org,
            actor=source.actor,
            correlation_id=request.state.correlation_id,
            recorded_at=datetime.now(UTC),
        )
        try:
            answer, replayed = await take_inbound_once(
                uow, source=source, message_id=message_id, message=message, recording=recording
            )
        except IdempotencyKeyReused as error:
            raise ApiError(
                422,
                "idempotency_key_reused",
                "this webhook-id came before with another message; give each message its own",
            ) from error
        await uow.commit()
    return answer, replayed


class CsvImportReport(BaseModel):
    """What an uploaded CSV export did (or, dry, would do), row by row."""

    dry_run: bool
    rows: int
    applied: dict[str, int]
    unchanged: int = Field(description="rows imported before: nothing new")
    quarantined: list[dict[str, Any]] = Field(
        description="each row kept aside: its line, the field and rule, its quarantine id"
    )


@router.post(
    "/{source}/csv",
    response_model=CsvImportReport,
    summary="Import a CSV export of one of your organisation's sources",
    responses=error_responses(401, 403, 404, 422),
    openapi_extra={
        "requestBody": {
            "required": True,
            "content": {"text/csv": {"schema": {"type": "string", "format": "binary"}}},
        }
    },
)
async def import_csv(
    request: Request,
    caller: OrganisationCallerDep,
    source: Annotated[str, Path(max_length=64, description="the source's name")],
    dry_run: Annotated[bool, Query(description="write nothing; say what it would do")] = False,
) -> CsvImportReport:
    """Import a source's CSV export (`text/csv`, up to the service's body limit: a larger
    file goes through `caseweave import csv`), each row applied or quarantined, never half
    written; the same file again records nothing new. With a frontline key of the source's
    organisation."""
    known: dict[str, Source] = request.app.state.sources
    signed = known.get(source)
    if signed is None or signed.org != caller.org:  # another organisation's: not one of yours
        raise ApiError(404, "not_found", f"no source {source} for this organisation")
    content_type = request.headers.get("content-type", "")
    if content_type.split(";")[0].strip().lower() not in ("text/csv", "application/csv"):
        field = FieldError(
            field="header.content-type",
            rule="csv_media_type",
            message="send Content-Type: text/csv",
        )
        raise ApiError(
            415, "unsupported_media_type", "the request body must be CSV", fields=[field]
        )
    try:
        rows = [(row.line, row.values) for row in csv_rows(await request.body())]
    except CsvUnreadable as error:
        field = FieldError(field="body", rule="csv", message=str(error))
        raise ApiError(
            422, "validation_failed", "the file is not a CSV export we can read", fields=[field]
        ) from error
    recording = Recording(
        org=signed.org,
        actor=f"{caller.actor}/csv:{signed.name}",
        correlation_id=request.state.correlation_id,
        recorded_at=datetime.now(UTC),
    )
    tally = await import_rows(
        units_of_work(request, signed.org), source=signed, rows=rows, recording=recording,
        dry_run=dry_run,
    )  # fmt: skip
    log.info("csv_imported", source=source, rows=tally.rows, dry_run=dry_run,
             quarantined=len(tally.quarantined))  # fmt: skip
    return CsvImportReport(
        dry_run=dry_run, rows=tally.rows, applied=tally.applied, unchanged=tally.unchanged,
        quarantined=[
            {"line": line, "field": field, "rule": rule, "quarantine_id": qid}
            for line, field, rule, qid in tally.quarantined
        ],
    )  # fmt: skip
