"""Build valid envelopes for tests without repeating every field."""

from datetime import UTC, datetime
from typing import Any
from uuid import uuid4

from events.envelope import Envelope, OrgId, new_event_id


def an_envelope(
    *,
    org: OrgId = "housing",
    subject: str | None = None,
    type_: str = "test.happened",
    data: dict[str, Any] | None = None,
    **fields: Any,
) -> Envelope:
    """Return an envelope with sensible values for every field not given."""
    now = datetime.now(UTC)
    values: dict[str, Any] = {
        "event_id": new_event_id(),
        "type": type_,
        "schema_version": 1,
        "occurred_at": now,
        "recorded_at": now,
        "org": org,
        "subject": subject or str(uuid4()),
        "place": "E05001234",
        "category": "test",
        "correlation_id": str(uuid4()),
        "actor": f"{org}:test",
        "data": data or {},
    }
    values.update(fields)
    return Envelope(**values)
