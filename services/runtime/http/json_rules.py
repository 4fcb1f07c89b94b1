"""A JSON body naming a key twice is refused, naming the key: which value was meant?

JSON parsers keep the last of repeated keys, so `{"nhs_number": "943 476 5919", ...,
"nhs_number": "401 023 2137"}` would be read as the second by us and perhaps as the first by
a proxy, a log or an auditor's tool in between. Every service answers 422 instead.
"""

import contextlib
import json
from collections import Counter
from collections.abc import Iterator
from typing import Any

from fastapi import Request

from services.runtime.http.errors import ApiError, FieldError


class _Object(dict[str, Any]):
    """A parsed JSON object that remembers which of its keys came more than once."""

    repeated: tuple[str, ...] = ()


def _object(pairs: list[tuple[str, Any]]) -> _Object:
    parsed = _Object(pairs)
    if len(parsed) < len(pairs):
        counts = Counter(key for key, _ in pairs)
        parsed.repeated = tuple(sorted(key for key, count in counts.items() if count > 1))
    return parsed


def repeated_keys(value: Any, path: tuple[str, ...]) -> Iterator[str]:
    """Yield the dotted path of every key repeated within a value parsed by `_object`."""
    if isinstance(value, _Object):
        yield from (".".join((*path, key)) for key in value.repeated)
    if isinstance(value, dict):
        for key, item in value.items():
            yield from repeated_keys(item, (*path, str(key)))
    elif isinstance(value, list):
        for index, item in enumerate(value):
            yield from repeated_keys(item, (*path, str(index)))


async def refuse_repeated_keys(request: Request) -> None:
    """Answer 422 `no_repeated_key` for a JSON body with a key given twice in one object."""
    body = await request.body()
    if not body:
        return
    fields: list[str] = []
    with contextlib.suppress(ValueError, RecursionError):  # not JSON: the route answers that
        fields = list(repeated_keys(json.loads(body, object_pairs_hook=_object), ("body",)))
    if fields:
        message = "a key may appear once in a JSON object"
        raise ApiError(
            422,
            "validation_failed",
            "the request breaks a rule",
            fields=[FieldError(field=f, rule="no_repeated_key", message=message) for f in fields],
        )
