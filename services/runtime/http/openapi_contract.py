"""What every service's OpenAPI document promises the partners who build on it: the key it
needs (a bearer scheme, so `/docs` has an Authorize button and generated clients send it),
and every error answer each route can give, in the one error shape.

`published_openapi` builds the document once, the first time it is asked for, from FastAPI's
own and these additions; a service refines it further (its typed event vocabulary, its own
examples) with `refine`.
"""

import json
from collections.abc import Callable
from typing import Any

from fastapi import FastAPI
from fastapi.openapi.utils import get_openapi
from pydantic import BaseModel

from services.runtime.http.errors import ErrorPublic

OpenApi = dict[str, Any]
BEARER = "bearer"
SCHEMAS = "#/components/schemas/"
OPEN_PATHS = ("/health/", "/metrics")  # probes and scrapes need no key
SIGNED_PATHS = ("/v1/inbound/{source}",)  # charities' systems sign each message instead
_METHODS = ("get", "put", "post", "delete", "patch")
ERROR_MEANINGS: dict[int, str] = {
    400: "The body is not JSON (`malformed_json`: where it stops parsing) or not UTF-8",
    401: "No key, or an unknown, expired or revoked one (`unauthenticated`)",
    403: "The key may not do this: another organisation's, or a role without the right",
    404: "Nothing with this id here",
    409: "The current state forbids this (closed, already decided, stale version, duplicate)",
    413: "The body is larger than the service takes (`payload_too_large`)",
    415: "The body is not sent as JSON (`unsupported_media_type`, field `header.content-type`)",
    422: "The request breaks a rule: `error.fields` names each field and rule",
    429: "Too many calls for this key, or failed authentications from this address"
    " (`rate_limited`): wait as `Retry-After` says",
    503: "The database cannot be reached just now (`database_unavailable`): retry after"
    " `Retry-After` seconds",
}


def published_openapi(
    app: FastAPI, *, refine: Callable[[OpenApi], None] | None = None
) -> Callable[[], OpenApi]:
    """Return the `openapi` function of `app`: FastAPI's document, with the bearer key
    declared, every route's error answers, and the service's own `refine`ments."""

    def openapi() -> OpenApi:
        if app.openapi_schema is None:
            document = get_openapi(
                title=app.title,
                version=app.version,
                description=app.description,
                routes=app.routes,
                tags=app.openapi_tags,
            )
            declare_bearer_key(document)
            declare_error_answers(document)
            if refine is not None:
                refine(document)
            app.openapi_schema = document
        return app.openapi_schema

    return openapi


def operations(document: OpenApi) -> list[tuple[str, str, dict[str, Any]]]:
    """Return every operation of the document: path, method, operation."""
    return [
        (path, method, item[method])
        for path, item in document.get("paths", {}).items()
        for method in _METHODS
        if method in item
    ]


def needs_key(path: str) -> bool:
    """Tell whether calls to this path need a bearer key (all but probes and scrapes, and
    signed messages)."""
    return not path.startswith(OPEN_PATHS) and path not in SIGNED_PATHS


def declare_bearer_key(document: OpenApi) -> None:
    """Declare the bearer scheme, and that every operation but probes and scrapes needs it."""
    components = document.setdefault("components", {})
    components.setdefault("securitySchemes", {})[BEARER] = {
        "type": "http",
        "scheme": "bearer",
        "description": "An API key (`caseweave keys create --org ORG --role ROLE`), or where"
        " the deployment names an OIDC issuer, a JWT from it naming the organisation and role",
    }
    for path, _, operation in operations(document):
        operation["security"] = [{BEARER: []}] if needs_key(path) else []


def declare_error_answers(document: OpenApi, *, everywhere: tuple[int, ...] = ()) -> None:
    """Add to each operation the error answers any route of its kind can give: without a
    key or over the rate (401, 429), while the database is away (503), with a body that is
    not JSON, too large or breaking a rule (400, 413, 415, 422), with parameters breaking
    a rule (422); and `everywhere`, for keyed operations. Every error answer, these and
    those a route declares itself, is in the one error shape (`ErrorPublic`)."""
    ensure_component(document, ErrorPublic)
    for path, _, operation in operations(document):
        statuses: set[int] = set()
        if needs_key(path):
            statuses |= {401, 429, 503, *everywhere}
        elif path in SIGNED_PATHS:
            statuses |= {401, 429, 503}
        if "requestBody" in operation:
            statuses |= {400, 413, 415, 422}
        if operation.get("parameters"):
            statuses.add(422)
        answers = operation.setdefault("responses", {})
        statuses |= {int(status) for status in answers if str(status).isdigit()}  # its own
        for status in sorted(s for s in statuses if s >= 400):
            answers[str(status)] = _error_answer(status, answers.get(str(status)))
    _drop_unused(document, ("HTTPValidationError", "ValidationError"))  # FastAPI's 422 shape


def _error_answer(status: int, declared: dict[str, Any] | None) -> dict[str, Any]:
    """Return an error answer in the one error shape, keeping a route's own words."""
    description = (declared or {}).get("description") or ERROR_MEANINGS.get(status, "Error")
    return {
        "description": description,
        "content": {"application/json": {"schema": {"$ref": f"{SCHEMAS}ErrorPublic"}}},
    }


def _drop_unused(document: OpenApi, names: tuple[str, ...]) -> None:
    """Drop these components when nothing refers to them any more."""
    held = document.get("components", {}).get("schemas", {})
    for name in names:
        text = json.dumps({k: v for k, v in document.items() if k != "components"})
        others = json.dumps({k: v for k, v in held.items() if k != name})
        if name in held and f'"{SCHEMAS}{name}"' not in text + others:
            del held[name]


def ensure_component(document: OpenApi, model: type[BaseModel]) -> str:
    """Add a model's schema (and those it refers to) to the components; return its $ref."""
    schema = model.model_json_schema(ref_template=SCHEMAS + "{model}")
    add_components(document, schema.pop("$defs", {}))
    add_components(document, {model.__name__: schema})
    return SCHEMAS + model.__name__


def add_components(document: OpenApi, schemas: dict[str, Any]) -> None:
    """Add schemas to the components, each under its own name (one already there stays)."""
    held = document.setdefault("components", {}).setdefault("schemas", {})
    for name, schema in schemas.items():
        held.setdefault(name, schema)
