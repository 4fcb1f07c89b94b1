"""Name a request for metrics by its route template, never by its path.

A path holds ids (a person's, a citizen's: personal data) and, fuzzed or scanned, any
string at all; a template such as `/v1/citizens/{citizen_id}` is one of a few dozen.
"""

from collections.abc import Sequence

from starlette.routing import BaseRoute, Match
from starlette.types import Scope

UNMATCHED = "unmatched"
OTHER_METHOD = "other"
METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})


def route_template(scope: Scope, routes: Sequence[BaseRoute]) -> str:
    """Return the template of the route that took (or would take) the request, or UNMATCHED.

    The router records the route it chose; a request answered before routing (a body over
    the size limit) is matched against `routes` here.
    """
    chosen = _path_of(scope.get("route"))
    if chosen is not None:
        return chosen
    for route in routes:
        match, _ = route.matches(scope)
        if match is not Match.NONE and (path := _path_of(route)) is not None:
            return path
    return UNMATCHED


def method_label(method: str) -> str:
    """Return the request method, or OTHER_METHOD for one HTTP does not define."""
    return method if method in METHODS else OTHER_METHOD


def _path_of(route: object) -> str | None:
    path = getattr(route, "path", None)
    return path if isinstance(path, str) else None
