"""What a charity's own system is told, so that it learns of a referral without polling: a
referral made to it (received, or held until it says who the person is), the answer to one it
made (received, accepted with who leads the work, declined with why), and a withdrawal.

The notice is built when it is sent, from the organisation's own event and its record of the
person (the charity's own data, in our terms): nothing personal waits in the outbox, and a
person erased meanwhile is not told about.
"""

from dataclasses import dataclass
from datetime import datetime
from typing import Any
from uuid import UUID

from events.registry import EventPayload
from events.shared import (
    PersonDetails,
    ReferralAnswered,
    ReferralHeld,
    ReferralReceived,
    ReferralWithdrawalReceived,
)

NOTIFIED_TYPES = frozenset(
    {
        ReferralReceived.event_type,
        ReferralHeld.event_type,
        ReferralAnswered.event_type,
        ReferralWithdrawalReceived.event_type,
    }
)
BACKOFF_FIRST_SECONDS = 30.0
BACKOFF_MOST_SECONDS = 3600.0
GIVE_UP_AFTER_SECONDS = 24 * 3600.0


def notice_of(
    payload: EventPayload,
    *,
    event_id: str,
    occurred_at: datetime,
    person: PersonDetails | None,
) -> dict[str, Any] | None:
    """Return the notice an event makes (None: no notice), with the person as this
    organisation knows them (their details; None when it holds no record of them yet)."""
    said: dict[str, Any]
    if isinstance(payload, ReferralReceived | ReferralHeld):
        said = {
            "type": "referral.made_to_you",
            "status": "held" if isinstance(payload, ReferralHeld) else "received",
            "from_org": payload.from_org,
            "reason": payload.reason,
            "urgency": payload.urgency,
        }
        if isinstance(payload, ReferralHeld):
            person = payload.person  # no record yet: the sender's details, to choose by
    elif isinstance(payload, ReferralAnswered):
        said = {
            "type": "referral.answered",
            "answer": payload.answer,
            "by_org": payload.by_org,
            "key_worker": None if payload.key_worker is None else payload.key_worker.model_dump(),
            "decline_reason": payload.reason,
        }
    elif isinstance(payload, ReferralWithdrawalReceived):
        said = {"type": "referral.withdrawn", "from_org": payload.from_org}
    else:
        return None
    return {
        "event_id": event_id,
        "occurred_at": occurred_at.isoformat(),
        "referral_id": str(payload.referral_id),
        "person_id": str(payload.person_id),
        **said,
        "person": None if person is None else person.model_dump(mode="json"),
    }


def next_try_in(attempts: int) -> float:
    """Return how long to wait after the `attempts`th failed delivery: 30 s, doubling, at
    most an hour."""
    doubled: float = BACKOFF_FIRST_SECONDS * 2.0 ** max(attempts - 1, 0)
    return min(BACKOFF_MOST_SECONDS, doubled)


@dataclass(frozen=True)
class Delivery:
    """A webhook to deliver: to which source, of which event, and how it has gone so far."""

    delivery_id: UUID
    source: str
    event_id: UUID
    stream_id: str
    status: str  # pending, delivered, parked
    attempts: int
    first_tried_at: datetime | None
    next_attempt_at: datetime
    last_error: str | None
