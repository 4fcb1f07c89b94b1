"""Who records a command's events, when and why; and the envelope each event travels in."""

from dataclasses import dataclass
from datetime import datetime, timedelta
from uuid import UUID

from pydantic_core import PydanticCustomError

from events.envelope import Envelope, OrgId, new_event_id
from events.registry import EventPayload

MAX_CLOCK_SKEW = timedelta(minutes=5)


@dataclass(frozen=True)
class Recording:
    """The context a command's events are recorded in: organisation, recorder, time, cause."""

    org: OrgId
    actor: str
    correlation_id: str
    recorded_at: datetime
    causation_id: str | None = None


def envelope_for(
    payload: EventPayload,
    *,
    recording: Recording,
    subject: UUID,
    place: str,
    occurred_at: datetime | None = None,
    event_id: UUID | None = None,
) -> Envelope:
    """Return the envelope that records `payload` about person `subject` at `place`."""
    return Envelope(
        event_id=event_id or new_event_id(),
        type=payload.event_type,
        schema_version=payload.schema_version,
        category=payload.category,
        occurred_at=occurred_at or recording.recorded_at,
        recorded_at=recording.recorded_at,
        org=recording.org,
        subject=str(subject),
        place=place,
        correlation_id=recording.correlation_id,
        causation_id=recording.causation_id,
        actor=recording.actor,
        data=payload.model_dump(mode="json"),
    )


def check_not_in_future(occurred_at: datetime, *, now: datetime) -> datetime:
    """Return `occurred_at` unless it lies further in the future than clocks can disagree."""
    if occurred_at - now > MAX_CLOCK_SKEW:
        raise PydanticCustomError(
            "occurred_at_in_future", "occurred_at is more than 5 minutes in the future"
        )
    return occurred_at
