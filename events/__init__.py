"""The shared vocabulary of Caseweave: the event envelope and every organisation's event types.

Importing this package registers every event type, so `events.registry` can decode any of them.
"""

from events import (
    consent,
    governance,
    housing,
    identity,
    inbound,
    mental_health,
    shared,
    voluntary,
)
from events.envelope import Envelope, OrgId, new_event_id
from events.registry import (
    EventPayload,
    UnknownEventType,
    decode_payload,
    event_type,
    registered_types,
)

__all__ = [
    "Envelope",
    "EventPayload",
    "OrgId",
    "UnknownEventType",
    "consent",
    "decode_payload",
    "event_type",
    "governance",
    "housing",
    "identity",
    "inbound",
    "mental_health",
    "new_event_id",
    "registered_types",
    "shared",
    "voluntary",
]
