"""Which key roles may use which of the projection's routes, in one place.

Reading a citizen (single view, contacts view, timeline, FHIR export, search) is open to
every role: the place's sharing rules (per organisation and role) and the role's purposes of
use (`ROLE_PURPOSES`) decide what each one sees. The routes below are for some roles only;
any other key gets 403 `role_not_allowed`, before anything of the request or the person is
looked at (so the answer says nothing about whether the person exists).
"""

from collections.abc import Awaitable, Callable, Mapping
from typing import Literal

from services.runtime.api_keys import Caller, Role
from services.runtime.http.auth import CallerDep, require_role

Action = Literal["break_the_glass", "read_access_log", "review_alerts", "decide_identities"]

ROLES_ALLOWED_TO: Mapping[Action, tuple[Role, ...]] = {
    "break_the_glass": ("frontline",),  # the people giving care in the emergency
    "read_access_log": ("frontline", "ig_lead"),  # the person's key workers; governance
    "review_alerts": ("ig_lead",),  # break-glass and new-relationship alerts
    "decide_identities": ("data_steward",),  # the review queue, link, not-same, unlink
}
_WHAT: Mapping[Action, str] = {
    "break_the_glass": "breaking the glass",
    "read_access_log": "the access log",
    "review_alerts": "reviewing break-glass and new-relationship alerts",
    "decide_identities": "deciding identities",
}


def allowed_to(action: Action) -> Callable[[Caller], Awaitable[Caller]]:
    """Return a dependency answering 403 unless the caller's role may do `action`."""

    async def caller_allowed(caller: CallerDep) -> Caller:
        require_role(caller, ROLES_ALLOWED_TO[action], _WHAT[action])
        return caller

    caller_allowed.__name__ = f"caller_allowed_to_{action}"
    return caller_allowed


def forbidden_roles_description(action: Action) -> str:
    """Describe the 403 of an `action` route for its OpenAPI entry."""
    return f"{_WHAT[action]} is for {' or '.join(ROLES_ALLOWED_TO[action])} keys only"
