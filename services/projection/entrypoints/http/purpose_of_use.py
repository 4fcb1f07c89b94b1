"""Why a caller reads a citizen's data: the `X-Purpose-Of-Use` header, checked against their role.

The purpose is recorded in the access log and is what the person's consent decisions are
checked against, so a caller may not pick any purpose that suits them: each role reads for
the purposes of its work only (`ROLE_PURPOSES`), the first of them when the header is
absent. Any other purpose is a 403 naming the header.
"""

from typing import Annotated

from fastapi import Depends, Header

from events.consent import Purpose
from services.projection.domain.access_rules import ROLE_PURPOSES
from services.runtime.http.auth import CallerDep
from services.runtime.http.errors import ApiError, FieldError


async def purpose_of_use(
    caller: CallerDep,
    purpose: Annotated[
        Purpose | None,
        Header(
            alias="X-Purpose-Of-Use",
            description="why the data is read: recorded in the access log, and what the "
            "person's consent decisions are checked against. frontline keys: direct_care "
            "(default), care_coordination, safeguarding; data_steward and ops: "
            "administration; ig_lead: audit (default), administration",
        ),
    ] = None,
) -> Purpose:
    """Return why the caller reads: the header, or their role's usual purpose."""
    allowed = ROLE_PURPOSES[caller.role]
    if purpose is None:
        return allowed[0]
    if purpose not in allowed:
        message = f"a {caller.role} key reads for {', '.join(allowed)} only"
        field = FieldError(field="header.X-Purpose-Of-Use", rule="not_for_role", message=message)
        raise ApiError(403, "purpose_not_allowed", message, fields=[field])
    return purpose


PurposeDep = Annotated[Purpose, Depends(purpose_of_use)]
