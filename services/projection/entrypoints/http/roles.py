"""Which key roles may use which of the projection's routes: the table is the domain's
(`domain/access_rules.py`); this is how the routes refuse the others.

Reading a citizen (single view, contacts view, timeline, FHIR export, search) is open to
every role: the place's sharing rules (per organisation and role) and the role's purposes of
use (`ROLE_PURPOSES`) decide what each one sees. The routes below are for some roles only;
any other key gets 403 `role_not_allowed`, before anything of the request or the person is
looked at (so the answer says nothing about whether the person exists).
"""

from collections.abc import Awaitable, Callable

from services.projection.domain.access_rules import ACTION_NAMES, ROLES_ALLOWED_TO, Action
from services.runtime.api_keys import Caller
from services.runtime.http.auth import CallerDep, require_role


def allowed_to(action: Action) -> Callable[[Caller], Awaitable[Caller]]:
    """Return a dependency answering 403 unless the caller's role may do `action`."""

    async def caller_allowed(caller: CallerDep) -> Caller:
        require_role(caller, ROLES_ALLOWED_TO[action], ACTION_NAMES[action])
        return caller

    caller_allowed.__name__ = f"caller_allowed_to_{action}"
    return caller_allowed


def forbidden_roles_description(action: Action) -> str:
    """Describe the 403 of an `action` route for its OpenAPI entry."""
    return f"{ACTION_NAMES[action]} is for {' or '.join(ROLES_ALLOWED_TO[action])} keys only"
