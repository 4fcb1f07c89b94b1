"""Alerts for information governance: what the projection records when a record is opened
in an emergency.

The projection records these as its own events (in its audit schema, never emptied by a
replay); the IG leads of the reader's organisation and of every organisation holding the
person's records review them (`GET /v1/ig/break-glass`, `caseweave audit alerts`).
"""

from typing import Annotated
from uuid import UUID

from pydantic import AfterValidator, AwareDatetime, Field

from events.envelope import OrgId
from events.recording_rules import FreeText, SaysSomething
from events.registry import EventPayload, event_type

BREAK_GLASS_CATEGORY = "audit.break_glass"
EmergencyReasonText = Annotated[
    FreeText, Field(min_length=10), AfterValidator(SaysSomething(min_length=10))
]
"""Why a record was opened in an emergency: 10 to 500 characters besides surrounding spaces."""


@event_type("access.break_glass_granted", category=BREAK_GLASS_CATEGORY)
class BreakGlassGranted(EventPayload):
    """A frontline worker broke the glass: opened a person's full record in an emergency.

    The person is one the worker's organisation does not work with. It is an alert for the
    information governance leads of that organisation and of every organisation holding the
    person's records: the reason says why. The reason is sealed under the grant's own key,
    shredded when the person is erased (the alert stays, its reason reads as erased).
    """

    personal_fields = frozenset({"reason"})

    grant_id: UUID
    citizen_id: UUID
    viewer_org: OrgId
    viewer_role: str = Field(max_length=40)
    key_id: str = Field(max_length=200, description="the key, or oidc:<subject>, granted")
    reason: EmergencyReasonText
    expires_at: AwareDatetime
