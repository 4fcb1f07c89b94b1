"""One error shape for every service: which field, which rule, and never a stack trace.

{"error": {"code": "validation_failed", "message": "...", "correlation_id": "...",
           "fields": [{"field": "body.nhs_number", "rule": "nhs_number_check_digit",
                       "message": "..."}]}}
"""

import traceback
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import structlog
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel
from starlette.exceptions import HTTPException as StarletteHTTPException

from services.runtime.database import is_database_unreachable

log = structlog.get_logger(__name__)


class FieldError(BaseModel):
    """One broken rule: where in the request, which rule, in words."""

    field: str
    rule: str
    message: str


class ErrorDetail(BaseModel):
    """What went wrong: a stable code, words for people, and the fields and rules involved."""

    code: str
    message: str
    correlation_id: str | None = None
    fields: list[FieldError] | None = None


class ErrorPublic(BaseModel):
    """The body of every error answer."""

    error: ErrorDetail


class ApiError(Exception):
    """An error a client can act on, with its HTTP status and a stable code."""

    def __init__(
        self,
        status: int,
        code: str,
        message: str,
        *,
        fields: Sequence[FieldError] = (),
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.status, self.code, self.message = status, code, message
        self.fields = list(fields)
        self.headers = headers


def not_found(what: str) -> ApiError:
    """Return the 404 for something that does not exist (or that the caller may not know of)."""
    return ApiError(404, "not_found", f"{what} not found")


def field_errors_from_pydantic(
    errors: Sequence[Any], *, prefix: Sequence[str] = ()
) -> list[FieldError]:
    """Turn pydantic's error list into field errors, without echoing the rejected values.

    Each once: a header several of a route's dependencies read is reported by each of them.
    """
    fields = [
        FieldError(
            field=".".join(str(part) for part in (*prefix, *error["loc"])),
            rule=error["type"],
            message=error["msg"],
        )
        for error in errors
    ]
    return list({(f.field, f.rule, f.message): f for f in fields}.values())


def _body(
    request: Request, code: str, message: str, fields: Sequence[FieldError] = ()
) -> dict[str, Any]:
    error: dict[str, Any] = {
        "code": code,
        "message": message,
        "correlation_id": getattr(request.state, "correlation_id", None),
    }
    if fields:
        error["fields"] = [f.model_dump() for f in fields]
    return {"error": error}


async def _api_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, ApiError)
    return JSONResponse(
        _body(request, exc.code, exc.message, exc.fields), exc.status, headers=exc.headers
    )


def _json_error(error: Any) -> str:
    """What the JSON parser said and where (never the input itself)."""
    said = str((error.get("ctx") or {}).get("error", "not JSON"))
    at = [part for part in error.get("loc", ())[1:] if isinstance(part, int)]
    return f"{said} at character {at[0]}" if at else said


async def _validation_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    errors = list(exc.errors())
    invalid = [e for e in errors if e["type"] == "json_invalid"]
    if invalid:
        fields = [FieldError(field="body", rule="json", message=_json_error(invalid[0]))]
        return JSONResponse(
            _body(request, "malformed_json", "the request body is not valid JSON", fields), 400
        )
    fields = field_errors_from_pydantic(errors)
    return JSONResponse(
        _body(request, "validation_failed", "the request breaks a rule", fields), 422
    )


_UNPARSABLE_BODY = "There was an error parsing the body"  # FastAPI's, for what json.loads refuses


async def _http_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, StarletteHTTPException)
    if exc.status_code == 400 and exc.detail == _UNPARSABLE_BODY:
        rule = FieldError(
            field="body",
            rule="utf8_json",
            message="JSON encoded as UTF-8, with numbers of at most 4,300 digits",
        )
        message = "the request body is not valid JSON"
        return JSONResponse(_body(request, "malformed_json", message, [rule]), 400)
    code = {404: "not_found", 405: "method_not_allowed"}.get(exc.status_code, "http_error")
    return JSONResponse(_body(request, code, str(exc.detail)), exc.status_code, headers=exc.headers)


def _frames(exc: BaseException) -> list[str]:
    """Return where an exception was raised, without its message (which may quote input)."""
    return [f"{f.filename}:{f.lineno} {f.name}" for f in traceback.extract_tb(exc.__traceback__)]


DATABASE_RETRY_AFTER_SECONDS = 5


def database_unavailable_response(request: Request) -> JSONResponse:
    """Answer 503 `database_unavailable` with `Retry-After`: the database cannot be reached."""
    message = "the database cannot be reached right now; retry shortly"
    headers = {"Retry-After": str(DATABASE_RETRY_AFTER_SECONDS)}
    return JSONResponse(_body(request, "database_unavailable", message), 503, headers=headers)


def unexpected_error_response(request: Request, exc: Exception) -> JSONResponse:
    """Log an unexpected error by type and frames only (its message may quote input); answer 500,
    or 503 when it says the database cannot be reached (an outage, not a bug)."""
    if is_database_unreachable(exc):
        log.warning("database_unavailable", error_type=type(exc).__name__)
        return database_unavailable_response(request)
    log.error("unhandled_error", error_type=type(exc).__name__, frames=_frames(exc))
    return JSONResponse(_body(request, "internal_error", "something went wrong on our side"), 500)


def answer_errors_as(
    app: FastAPI, answers: Mapping[type[Exception], Callable[[Any], ApiError]]
) -> None:
    """Answer each of a service layer's exceptions with the API error made from it (the
    service layer knows nothing of HTTP; its entrypoint says what each refusal looks like)."""
    for kind, answer in answers.items():

        async def answered(
            request: Request, exc: Exception, answer: Callable[[Any], ApiError] = answer
        ) -> JSONResponse:
            return await _api_error(request, answer(exc))

        app.add_exception_handler(kind, answered)


def install_error_handlers(app: FastAPI) -> None:
    """Make every error leave the service in the one error shape."""
    app.add_exception_handler(ApiError, _api_error)
    app.add_exception_handler(RequestValidationError, _validation_error)
    app.add_exception_handler(StarletteHTTPException, _http_error)
