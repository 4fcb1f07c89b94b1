"""Rules for text every service refuses before it reaches a model: NUL characters.

PostgreSQL cannot store U+0000 in text or jsonb, and no person's details contain it, so a
request carrying one gets a 422 naming the field, whatever endpoint it was sent to.
"""

import contextlib
import json
from collections.abc import Iterator
from typing import Any

from fastapi import Request

from services.runtime.http.errors import ApiError, FieldError

NUL = "\x00"


def nul_fields(value: Any, path: tuple[str, ...]) -> Iterator[str]:
    """Yield the dotted path of every string (or key) holding a NUL character within `value`."""
    if isinstance(value, str):
        if NUL in value:
            yield ".".join(path)
    elif isinstance(value, dict):
        for key, item in value.items():
            yield from nul_fields(key, path)
            yield from nul_fields(item, (*path, str(key)))
    elif isinstance(value, list):
        for index, item in enumerate(value):
            yield from nul_fields(item, (*path, str(index)))


async def refuse_nul_characters(request: Request) -> None:
    """Answer 422 for a NUL character anywhere in the query or the JSON body."""
    fields = [
        f for name, v in request.query_params.multi_items() for f in nul_fields(v, ("query", name))
    ]
    body = await request.body()
    if body and b"\\u0000" in body:
        with contextlib.suppress(ValueError):  # not JSON: the route's own parsing answers that
            fields += list(nul_fields(json.loads(body), ("body",)))
    if fields:
        rule = "no_nul_character"
        message = "text may not contain the NUL character (U+0000)"
        raise ApiError(
            422,
            "validation_failed",
            "the request breaks a rule",
            fields=[FieldError(field=f, rule=rule, message=message) for f in sorted(set(fields))],
        )
