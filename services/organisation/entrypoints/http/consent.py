"""Consent: record what a person decided about sharing their records with other organisations."""

from typing import Literal
from uuid import UUID

from fastapi import APIRouter, Response
from pydantic import BaseModel, ConfigDict, Field, field_validator
from pydantic_core import PydanticCustomError

from events.consent import Purpose
from events.envelope import OrgId
from services.organisation.domain.commands import RecordConsent
from services.organisation.domain.recording import Recording
from services.organisation.entrypoints.http.openapi import error_responses
from services.organisation.entrypoints.http.request_fields import OccurredAt
from services.organisation.entrypoints.http.writes import CommandReceipt, WriterDep
from services.organisation.service_layer import consent
from services.organisation.service_layer.unit_of_work import UnitOfWork

router = APIRouter(prefix="/v1/people", tags=["consent"])


class ConsentCreate(BaseModel):
    """What the person decided: give or withdraw (or object to) sharing, for whom and why."""

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                {
                    "decision": "withdrawn",
                    "sources": ["mental_health"],
                    "recipients": ["housing", "voluntary"],
                    "purposes": ["direct_care", "care_coordination"],
                }
            ]
        },
    )

    decision: Literal["given", "withdrawn"] = Field(
        description="given: this organisation's records may be shown; withdrawn: consent"
        " withdrawn, or an objection: the records named are not shown, whatever the place's"
        " sharing rules say, until the organisation holding them records consent again"
    )
    recipients: list[OrgId] = Field(
        min_length=1, description="the organisations the records would be shown to"
    )
    purposes: list[Purpose] = Field(min_length=1, description="the purposes of use it covers")
    sources: list[OrgId] | None = Field(
        default=None,
        min_length=1,
        description="for a withdrawal: whose records it covers; absent: every organisation's,"
        " including ones that join later. Consent given covers this organisation's own"
        " records only",
    )
    occurred_at: OccurredAt | None = None

    @field_validator("recipients", "purposes", "sources")
    @classmethod
    def _no_repeats(cls, values: list[str] | None) -> list[str] | None:
        if values is not None and len(set(values)) != len(values):
            raise PydanticCustomError("repeated", "names a value twice")
        return values


class ConsentReceipt(CommandReceipt):
    """A decision recorded; the single view applies it from the next read after it arrives."""

    person_id: UUID
    event_id: UUID
    decision: Literal["given", "withdrawn"]
    version: int


@router.post(
    "/{person_id}/consent",
    status_code=201,
    response_model=ConsentReceipt,
    summary="Record a person's consent, withdrawal or objection to sharing",
    description="Any organisation that registered the person records what they said. Consent "
    "given covers this organisation's own records; a withdrawal or objection may name any "
    "organisation's. Withdrawal and objection hide the records from the recipients for "
    "those purposes on every read after it reaches the projection, until the organisation "
    "holding them records consent again; where the place's rules need consent for a "
    "purpose, only consent given shows them.",
    responses=error_responses(401, 403, 404, 409, 422),
)
async def record_consent(person_id: UUID, body: ConsentCreate, writer: WriterDep) -> Response:
    """Record the person's decision about sharing."""
    writer.ensure_organisations("recipients", body.recipients)
    writer.ensure_organisations("sources", body.sources)
    command = RecordConsent(
        person_id=person_id,
        decision=body.decision,
        recipients=tuple(body.recipients),
        purposes=tuple(body.purposes),
        sources=tuple(body.sources) if body.sources is not None else None,
        occurred_at=body.occurred_at,
    )

    async def run(uow: UnitOfWork, recording: Recording) -> ConsentReceipt:
        recorded = await consent.record_consent(uow, recording=recording, command=command)
        return ConsentReceipt(
            person_id=person_id,
            event_id=recorded.event_id,
            decision=body.decision,
            version=recorded.version,
        )

    return await writer.answer("record_consent", body=body, status=201, run=run)
