"""Bearer API key authentication, and the organisation check for writes."""

from typing import Annotated

import structlog
from fastapi import Depends, Request

from services.runtime.api_keys import ApiKeyStore, Caller
from services.runtime.http.errors import ApiError
from services.runtime.rate_limits import RateLimits

_CHALLENGE = {"WWW-Authenticate": "Bearer"}


async def authenticated_caller(request: Request) -> Caller:
    """Return the caller named by the request's bearer key, or answer 401."""
    scheme, _, token = request.headers.get("authorization", "").partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise ApiError(
            401, "unauthenticated", "send Authorization: Bearer <api key>", headers=_CHALLENGE
        )
    store: ApiKeyStore = request.app.state.api_keys
    caller = await store.authenticate(token.strip())
    if caller is None:
        raise ApiError(
            401, "unauthenticated", "the API key is unknown or revoked", headers=_CHALLENGE
        )
    request.state.caller = caller
    structlog.contextvars.bind_contextvars(caller_org=caller.org, key_id=caller.key_id)
    limits: RateLimits = request.app.state.rate_limits
    wait = limits.wait_for(caller.key_id)
    if wait:
        raise ApiError(
            429,
            "rate_limited",
            f"too many requests with this API key; retry in {wait} s",
            headers={"Retry-After": str(wait)},
        )
    return caller


CallerDep = Annotated[Caller, Depends(authenticated_caller)]


async def caller_of_this_organisation(request: Request, caller: CallerDep) -> Caller:
    """Return the caller if their key belongs to the organisation this service serves, else 403."""
    if caller.org != request.app.state.org:
        raise ApiError(
            403,
            "wrong_organisation",
            f"a {caller.org} key cannot write to the {request.app.state.org} service",
        )
    return caller


OrganisationCallerDep = Annotated[Caller, Depends(caller_of_this_organisation)]
