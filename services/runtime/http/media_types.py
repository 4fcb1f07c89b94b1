"""Refuse a body sent as anything but JSON with 415, naming the header, on every service.

Without this, FastAPI leaves a `text/plain` (or unlabelled) body unparsed and the route's
model rejects it as a 422 on `body`, which sends the client looking in the wrong place.
"""

from email.message import Message

from fastapi import Request

from services.runtime.http.errors import ApiError, FieldError


def is_json(content_type: str | None) -> bool:
    """Return whether a Content-Type names JSON: `application/json` or `application/*+json`."""
    if not content_type:
        return False
    parsed = Message()
    parsed["content-type"] = content_type
    subtype = parsed.get_content_subtype()
    return parsed.get_content_maintype() == "application" and (
        subtype == "json" or subtype.endswith("+json")
    )


async def require_json_body(request: Request) -> None:
    """Answer 415 `unsupported_media_type` when a route that reads a JSON body is sent a body
    whose Content-Type is missing or not JSON."""
    route = request.scope.get("route")
    if getattr(route, "body_field", None) is None or not await request.body():
        return
    if is_json(request.headers.get("content-type")):
        return
    raise ApiError(
        415,
        "unsupported_media_type",
        "the request body must be JSON",
        fields=[
            FieldError(
                field="header.content-type",
                rule="json_media_type",
                message="send Content-Type: application/json",
            )
        ],
    )
