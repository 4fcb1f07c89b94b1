"""What the OpenAPI document says about errors: the one error shape, per status."""

from typing import Any

from pydantic import BaseModel

from services.runtime.http.errors import FieldError


class ErrorDetail(BaseModel):
    """What went wrong: a stable code, words for people, and the fields and rules involved."""

    code: str
    message: str
    correlation_id: str | None = None
    fields: list[FieldError] | None = None


class ErrorPublic(BaseModel):
    """The body of every error answer."""

    error: ErrorDetail


_MEANINGS = {
    401: "No API key, or an unknown or revoked one",
    403: "The API key belongs to another organisation",
    404: "Nothing with this id here",
    409: "The current state forbids this (closed, already decided, stale version, duplicate)",
    422: "The request breaks a rule: `error.fields` names each field and rule",
}


def error_responses(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """Return the `responses` entry documenting these error statuses."""
    return {status: {"model": ErrorPublic, "description": _MEANINGS[status]} for status in statuses}
