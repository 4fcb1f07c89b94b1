"""Bearer authentication (API keys, or an OIDC issuer's tokens), and the organisation check."""

import ipaddress
from collections.abc import Collection
from typing import Annotated

import structlog
from fastapi import Depends, Request

from services.runtime.api_keys import Caller, split_key
from services.runtime.bearer_tokens import BearerTokens, IssuerUnreachable
from services.runtime.http.errors import ApiError
from services.runtime.rate_limits import RateLimits
from services.runtime.verified_keys import VerifiedKeys

_CHALLENGE = {"WWW-Authenticate": "Bearer"}


MAX_BEARER_CHARACTERS = 8192  # API keys are 63; an OIDC token is a few kilobytes at most


async def authenticated_caller(request: Request) -> Caller:
    """Return the caller named by the request's bearer key, or answer 401; a client address
    that keeps failing is answered 429 until it slows down."""
    failures: RateLimits = request.app.state.auth_failures
    client = client_address(request)
    scheme, _, token = request.headers.get("authorization", "").partition(" ")
    token = token.strip()
    if scheme.lower() != "bearer" or not token:
        raise ApiError(
            401,
            "unauthenticated",
            "send Authorization: Bearer <api key or token>",
            headers=_CHALLENGE,
        )
    # checked before, counted after: requests already in flight when the budget runs out
    # still get their answer (a partner's busy backend must not be refused for being
    # busy); guessing a 256-bit key a few dozen tries faster changes nothing
    if wait := failures.blocked_for(client):
        raise _too_many(f"too many failed authentications; retry in {wait} s", wait)
    caller = None if len(token) > MAX_BEARER_CHARACTERS else await _caller_of(request, token)
    if caller is None:
        failures.wait_for(client)
        raise ApiError(
            401,
            "unauthenticated",
            "the API key or token is unknown, revoked or expired",
            headers=_CHALLENGE,
        )
    request.state.caller = caller
    structlog.contextvars.bind_contextvars(caller_org=caller.org, key_id=caller.key_id)
    limits: RateLimits = request.app.state.rate_limits
    if wait := limits.wait_for(caller.key_id):
        raise _too_many(f"too many requests with this API key; retry in {wait} s", wait)
    return caller


def client_address(request: Request) -> str:
    """Return the client's address as the failure limiter counts it: an IPv6 client by its
    /64 (one host holds a whole one), and anything that is not an address as one name."""
    host = request.client.host if request.client else ""
    try:
        address = ipaddress.ip_address(host)
    except ValueError:  # e.g. a trusted proxy passing on a forwarded value that is no address
        return "not-an-address"
    if address.version == 6 and address.ipv4_mapped:  # ::ffff:a.b.c.d from a dual-stack proxy
        return str(address.ipv4_mapped)
    if address.version == 6:
        return str(ipaddress.ip_network(f"{address}/64", strict=False))
    return str(address)


async def _caller_of(request: Request, token: str) -> Caller | None:
    """Return who an API key or, where the deployment accepts them, an OIDC token names."""
    tokens: BearerTokens | None = request.app.state.bearer_tokens
    if tokens is None or split_key(token) is not None:
        keys: VerifiedKeys = request.app.state.api_keys
        return await keys.authenticate(token)
    try:
        return await tokens.caller(token)
    except IssuerUnreachable as error:
        message = "the identity provider's keys cannot be fetched; retry shortly"
        raise ApiError(503, "identity_provider_unreachable", message) from error


def _too_many(message: str, wait: int) -> ApiError:
    return ApiError(429, "rate_limited", message, headers={"Retry-After": str(wait)})


CallerDep = Annotated[Caller, Depends(authenticated_caller)]


async def caller_of_this_organisation(request: Request, caller: CallerDep) -> Caller:
    """Return the caller if theirs is a frontline key of an organisation this service serves
    (one of its sector's), else 403: the organisation services are for the people doing the
    work. What the caller then reads and writes is their own organisation's."""
    sector = request.app.state.sector
    if caller.org not in request.app.state.orgs:
        raise ApiError(
            403, "wrong_organisation", f"a {caller.org} key cannot use the {sector} service"
        )
    require_role(caller, ("frontline",), f"the {sector} service")
    return caller


def require_role(caller: Caller, roles: Collection[str], what: str) -> None:
    """Answer 403 `role_not_allowed` unless the caller's role is one of `roles`."""
    if caller.role not in roles:
        raise ApiError(
            403,
            "role_not_allowed",
            f"{what} is for {' or '.join(roles)} keys, not {caller.role} keys",
        )


OrganisationCallerDep = Annotated[Caller, Depends(caller_of_this_organisation)]
