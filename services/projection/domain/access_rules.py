"""Who may do what in the projection, by role: the routes some roles only may use, and the
purposes of use each role reads for. Reading a citizen (single view, contacts view, timeline,
FHIR export, search) is open to every role; the place's sharing rules and these purposes
decide what each one sees."""

from collections.abc import Mapping
from typing import Literal

from events.consent import Purpose
from events.envelope import Role

Action = Literal["break_the_glass", "read_access_log", "review_alerts", "decide_identities"]

ROLES_ALLOWED_TO: Mapping[Action, tuple[Role, ...]] = {
    "break_the_glass": ("frontline",),  # the people giving care in the emergency
    "read_access_log": ("frontline", "ig_lead"),  # the person's key workers; governance
    "review_alerts": ("ig_lead",),  # break-glass and new-relationship alerts
    "decide_identities": ("data_steward",),  # the review queue, link, not-same, unlink
}
ACTION_NAMES: Mapping[Action, str] = {
    "break_the_glass": "breaking the glass",
    "read_access_log": "the access log",
    "review_alerts": "reviewing break-glass and new-relationship alerts",
    "decide_identities": "deciding identities",
}
# each role reads for the purposes of its work only, the first when it names none
ROLE_PURPOSES: Mapping[Role, tuple[Purpose, ...]] = {
    "frontline": ("direct_care", "care_coordination", "safeguarding"),
    "data_steward": ("administration",),
    "ig_lead": ("audit", "administration"),
    "ops": ("administration",),
}
