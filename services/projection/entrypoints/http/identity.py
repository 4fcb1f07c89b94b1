"""The data stewards' HTTP API: the review queue, and link / not-same-person / unlink decisions.

Only `data_steward` keys may use it. Each decision is recorded as the projection's own event
and has taken effect in the single view by the time the answer comes back (a link of two
organisations' records takes effect once the stewards of both have made it).
"""

from typing import Annotated
from uuid import UUID

from fastapi import APIRouter, Depends, FastAPI, Query, Request
from pydantic import BaseModel, ConfigDict

from events.envelope import OrgId
from events.identifiers import ShortText
from events.identity import (
    MAX_RECORDS_SPLIT_FROM,
    IdentityLinked,
    IdentityNotSamePerson,
    RecordRef,
)
from services.projection.entrypoints.http.roles import allowed_to, forbidden_roles_description
from services.projection.service_layer.stewardship import (
    AlreadyDecided,
    CitizenTooLarge,
    DecisionOutcome,
    DecisionRequest,
    DifferentNhsNumbers,
    IdentityStewardship,
    NotPartOfCitizen,
    NotYourRecords,
    PartsOthersRecords,
    ReviewQueue,
    SharesNhsNumber,
    UnknownCitizen,
    UnknownPair,
    UnknownRecord,
)
from services.runtime.api_keys import Caller
from services.runtime.http.errors import ApiError, FieldError, answer_errors_as, not_found

_ERRORS: dict[int | str, dict[str, str]] = {
    401: {"description": "no API key, or an unknown or revoked one"},
    403: {"description": forbidden_roles_description("decide_identities")},
    409: {
        "description": "the latest decision about the records already says the same "
        "(`already_decided`), a link would join two NHS numbers (`different_nhs_numbers`), "
        "or the decision would part records sharing one (`shares_nhs_number`)"
    },
    422: {"description": "the request breaks a rule; the body names the field and the rule"},
}
_DECIDED = (
    "Recorded as an event and applied: the answer lists each record's citizen now. A steward "
    "decides only about pairs where one record is their own organisation's, and splits off "
    "only their own organisation's records (403 otherwise); another organisation's details "
    "show only for a citizen the steward's organisation already holds a record of, and "
    "where the sharing rules share its identity. Two organisations' records are joined once "
    "the stewards of both have linked them (`awaiting` lists the organisations still to); "
    "keeping apart takes one. The same decision again (the "
    "pair's latest already says so) is 409 `already_decided`; a link of citizens holding "
    "different NHS numbers is 409 `different_nhs_numbers`; keeping apart or splitting off "
    "records that share an NHS number is 409 `shares_nhs_number`. A refused decision "
    "records nothing."
)
router = APIRouter(tags=["identity"], responses=_ERRORS)


StewardDep = Annotated[Caller, Depends(allowed_to("decide_identities"))]


async def stewardship(request: Request) -> IdentityStewardship:
    """Return the app's identity stewardship."""
    service: IdentityStewardship = request.app.state.stewardship
    return service


StewardshipDep = Annotated[IdentityStewardship, Depends(stewardship)]
PageLimit = Annotated[int, Query(ge=1, le=500)]
PageOffset = Annotated[int, Query(ge=0, le=1_000_000)]


class Reason(BaseModel):
    """Why the steward decided so (kept with the decision event)."""

    model_config = ConfigDict(extra="forbid")

    reason: ShortText


class Unlink(BaseModel):
    """The record to split off a citizen, and why."""

    model_config = ConfigDict(extra="forbid")

    org: OrgId
    person_id: UUID
    reason: ShortText


@router.get(
    "/v1/identity/review",
    summary="Pairs of records that may be one person, awaiting a data steward",
    description="Best score first. Each pair shows both records, the score in bits of evidence "
    "and how each field compared (exact, close, similar, disagree, missing).",
)
async def review_queue(
    steward: StewardDep,
    service: StewardshipDep,
    request: Request,
    limit: PageLimit = 50,
    offset: PageOffset = 0,
) -> ReviewQueue:
    """Return a page of the review queue."""
    return await service.review_queue(limit=limit, offset=offset, by=_by(steward, request))


@router.get(
    "/v1/identity/links/awaiting",
    summary="Links other organisations' stewards made with your records, awaiting yours",
    description="Two organisations' records join once the stewards of both have linked them. "
    "Each pair here was linked by the other organisation's steward (`linked_by`), scored in "
    "the review queue or not; it shows both records as the review queue does, and how each "
    "field compares under the place's model now. Second it with `POST /v1/identity/links` "
    "(the pair's `a` and `b`), or keep them apart with `POST /v1/identity/not-same-person`.",
)
async def links_awaiting(
    steward: StewardDep,
    service: StewardshipDep,
    request: Request,
    limit: PageLimit = 50,
    offset: PageOffset = 0,
) -> ReviewQueue:
    """Return a page of the links awaiting the steward's organisation."""
    return await service.links_awaiting(limit=limit, offset=offset, by=_by(steward, request))


@router.post(
    "/v1/identity/review/{pair_id}/confirm",
    summary="Confirm a candidate pair is one person (identity.linked)",
    description=_DECIDED,
    responses={404: {"description": "no such pair"}},
)
async def confirm_pair(
    pair_id: UUID, body: Reason, steward: StewardDep, service: StewardshipDep, request: Request
) -> DecisionOutcome:
    """Join the pair's records into one citizen."""
    return await service.confirm(pair_id, reason=body.reason, by=_by(steward, request))


@router.post(
    "/v1/identity/review/{pair_id}/reject",
    summary="Reject a candidate pair: two different people (identity.not_same_person)",
    description=_DECIDED,
    responses={404: {"description": "no such pair"}},
)
async def reject_pair(
    pair_id: UUID, body: Reason, steward: StewardDep, service: StewardshipDep, request: Request
) -> DecisionOutcome:
    """Keep the pair's records apart, for good."""
    return await service.reject(pair_id, reason=body.reason, by=_by(steward, request))


@router.post(
    "/v1/identity/links",
    summary="Link two records as one person (identity.linked), whether or not they were scored",
    description=_DECIDED,
)
async def link_records(
    body: IdentityLinked, steward: StewardDep, service: StewardshipDep, request: Request
) -> DecisionOutcome:
    """Join the two records into one citizen."""
    return await service.decide(body, by=_by(steward, request))


@router.post(
    "/v1/identity/not-same-person",
    summary="Record that two records are different people (identity.not_same_person)",
    description=_DECIDED,
)
async def keep_apart(
    body: IdentityNotSamePerson, steward: StewardDep, service: StewardshipDep, request: Request
) -> DecisionOutcome:
    """Keep the two records apart, for good."""
    return await service.decide(body, by=_by(steward, request))


@router.post(
    "/v1/citizens/{citizen_id}/unlink",
    summary="Split a wrongly joined record off a citizen (identity.unlinked)",
    description="The record becomes a citizen of its own, with its own involvements and "
    "timeline, and is never joined to the others again by the algorithm. Citizen ids follow "
    "the records: if the record split off is the one the citizen is named by (its NHS number, "
    "or the first record), it keeps this id and the others get a new one; the answer says "
    "which. " + _DECIDED,
    responses={404: {"description": "no such citizen"}},
)
async def unlink_record(
    citizen_id: UUID, body: Unlink, steward: StewardDep, service: StewardshipDep, request: Request
) -> DecisionOutcome:
    """Split the record off the citizen."""
    record = RecordRef(org=body.org, person_id=body.person_id)
    return await service.unlink(citizen_id, record, reason=body.reason, by=_by(steward, request))


def answer_stewardship_refusals(app: FastAPI) -> None:
    """Answer the stewardship's refusals in HTTP: which rule, and where in the request."""
    answer_errors_as(
        app,
        {
            UnknownPair: lambda _: not_found("pair"),
            AlreadyDecided: _already_decided,
            UnknownCitizen: lambda _: not_found("citizen"),
            DifferentNhsNumbers: lambda _: ApiError(
                409, "different_nhs_numbers",
                "the records' citizens hold different NHS numbers: two people",
            ),
            SharesNhsNumber: lambda _: ApiError(
                409, "shares_nhs_number",
                "records sharing an NHS number are one person and are never parted",
            ),
            PartsOthersRecords: lambda _: ApiError(
                403, "not_your_records",
                "this would part other organisations' records from each other and keep "
                "some of them with yours: their stewards decide which are one person (an "
                "unlink of your record alone chooses none of theirs)",
            ),
            NotYourRecords: lambda _: _not_yours(),
            UnknownRecord: lambda error: _invalid(
                f"body.{error.field}", "unknown_record",
                "the projection has no registration of this record",
            ),
            NotPartOfCitizen: lambda _: _invalid(
                "body.person_id", "not_part_of_citizen",
                "the record is not one of several records of this citizen",
            ),
            CitizenTooLarge: lambda _: _invalid(
                "path.citizen_id", "too_many_records",
                f"one unlink splits a record from at most {MAX_RECORDS_SPLIT_FROM:,} others",
            ),
        },
    )  # fmt: skip


def _already_decided(error: AlreadyDecided) -> ApiError:
    when = error.decided_at.isoformat(timespec="seconds")
    message = f"the latest decision about these records (at {when}) already says so"
    return ApiError(409, "already_decided", message)


def _invalid(field: str, rule: str, message: str) -> ApiError:
    fields = [FieldError(field=field, rule=rule, message=message)]
    return ApiError(422, "validation_failed", message, fields=fields)


def _not_yours() -> ApiError:
    return ApiError(
        403,
        "not_your_records",
        "a steward decides only about records of which one is their own organisation's, "
        "and splits off only their own organisation's records",
    )


def _by(steward: Caller, request: Request) -> DecisionRequest:
    return DecisionRequest(
        caller=steward,
        correlation_id=request.state.correlation_id,
        policy=request.app.state.sharing,
    )
