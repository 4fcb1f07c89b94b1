"""What every HTTP read of a citizen's data shares: who reads (and why), the read model,
and how the service layer's refusals are answered (404, 403)."""

from typing import Annotated

from fastapi import Depends, FastAPI, Request

from services.projection.adapters.queries import CitizenQueries
from services.projection.domain.sharing import SharingPolicy, Viewer
from services.projection.entrypoints.http.governance import relationship_exists
from services.projection.entrypoints.http.purpose_of_use import PurposeDep
from services.projection.service_layer.citizen_reads import CitizenReading
from services.projection.service_layer.governance import RelationshipExists
from services.projection.service_layer.reading import (
    CitizenNotFound,
    Reads,
    RelationshipRequired,
)
from services.runtime.http.auth import CallerDep
from services.runtime.http.errors import ApiError, answer_errors_as, not_found

READ_ERRORS: dict[int | str, dict[str, str]] = {
    401: {"description": "no API key or token, or an unknown, revoked or expired one"},
    422: {"description": "the request breaks a rule; the body names the field and the rule"},
}


def relationship_required() -> ApiError:
    return ApiError(
        403,
        "relationship_required",
        "only an organisation working with the person (an open case or an accepted "
        "referral) may read this; GET /v1/citizens/{id} shows who to contact",
    )


def answer_read_refusals(app: FastAPI) -> None:
    """Answer the service layer's refusals: 404, 403 and 409."""
    answer_errors_as(
        app,
        {
            CitizenNotFound: lambda _: not_found("citizen"),
            RelationshipRequired: lambda _: relationship_required(),
            RelationshipExists: lambda _: relationship_exists(),
        },
    )


async def reading_of(request: Request, caller: CallerDep, purpose: PurposeDep) -> CitizenReading:
    """Return this request's reads of citizens' data: who is looking and why (with the
    place's sharing rules), the access log recorder, and the read model (one dependency:
    FastAPI solves each one on every request)."""
    state = request.app.state
    policy: SharingPolicy = state.sharing
    viewer = Viewer(org=caller.org, role=caller.role, policy=policy, purpose=purpose)
    reads = Reads(
        state.access_log, state.break_glass, caller, purpose, request.state.correlation_id,
        state.identity_confirmations,
    )  # fmt: skip
    queries: CitizenQueries = state.citizens
    return CitizenReading(viewer, reads, queries)


ReadingDep = Annotated[CitizenReading, Depends(reading_of)]
