"""Referrals between organisations, seen from both sides, whatever order the sides arrive in.

The sender records `referral.made`; the receiver records `referral.received`, then
`referral.accepted` or `referral.declined`. The sender may withdraw it (`referral.withdrawn`;
the receiver notes `referral.withdrawal_received` unless it decided first). The sender's own
record of the receiver's answers (`referral.answered`) says nothing the receiver's events do
not, so it is not a step here. The two sides are different organisations' logs, so either
may arrive first. Hence:
- the status is the furthest step in the history (made < received < withdrawn < accepted |
  declined: a decision that crossed a withdrawal stands, as on both sides): it never goes
  back;
- what the sender said (organisations, reason, urgency) wins over the receiver's copy;
- the history is kept sorted by when each step occurred.
"""

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any
from uuid import UUID

from events.envelope import Envelope, OrgId
from events.registry import EventPayload
from events.shared import (
    ReferralAccepted,
    ReferralDeclined,
    ReferralMade,
    ReferralReceived,
    ReferralWithdrawalReceived,
    ReferralWithdrawn,
)
from services.projection.domain.view import Referral, ReferralChange, ReferralStatus

RANK: dict[ReferralStatus, int] = {
    "made": 0, "received": 1, "withdrawn": 2, "accepted": 3, "declined": 3,
}  # fmt: skip
_SENDER_SAYS = ("from_org", "to_org", "reason", "urgency")


@dataclass(frozen=True)
class _Step:
    referral_id: UUID
    status: ReferralStatus
    from_org: OrgId
    to_org: OrgId
    details: dict[str, Any] = field(default_factory=dict)


class WorkingReferral:
    """One referral while a fold changes it: what its steps said, and its history so far."""

    __slots__ = ("base", "changed", "history", "said")

    def __init__(self, base: Referral) -> None:
        self.base, self.changed = base, False
        self.history = base.history
        self.said: dict[str, Any] = {}

    def referral(self) -> Referral:
        """Return the referral as the view shows it (the stored one when no step changed it)."""
        if not self.changed:
            return self.base
        history = self.history
        made_at = min((c.occurred_at for c in history if c.status == "made"), default=None)
        status = max(history, key=lambda c: (RANK[c.status], c.occurred_at, c.status)).status
        update = {**self.said, "history": history, "status": status, "made_at": made_at}
        return self.base.model_copy(update=update)


Referrals = dict[UUID, WorkingReferral]  # a fold's working copy, by referral id


def working_referrals(referrals: Iterable[Referral]) -> Referrals:
    """Return a working copy of a view's referrals."""
    return {r.referral_id: WorkingReferral(r) for r in referrals}


def concerns_referrals(kind: type[EventPayload]) -> bool:
    """Return whether events of this payload type are steps of a referral."""
    return issubclass(
        kind,
        (
            ReferralMade, ReferralReceived, ReferralAccepted, ReferralDeclined,
            ReferralWithdrawn, ReferralWithdrawalReceived,
        ),
    )  # fmt: skip


def apply_to_referrals(referrals: Referrals, envelope: Envelope, payload: EventPayload) -> bool:
    """Apply one event to the referrals; return whether it was about one."""
    step = _step(envelope, payload)
    if step is None:
        return False
    referral = referrals.get(step.referral_id)
    if referral is None:
        referral = referrals[step.referral_id] = WorkingReferral(
            Referral(
                referral_id=step.referral_id,
                from_org=step.from_org,
                to_org=step.to_org,
                status="made",
            )
        )
    said = {"from_org": step.from_org, "to_org": step.to_org, **step.details}
    if step.status != "made" and any(c.status == "made" for c in referral.history):
        said = {name: value for name, value in said.items() if name not in _SENDER_SAYS}
    change = ReferralChange(status=step.status, org=envelope.org, occurred_at=envelope.occurred_at)
    referral.history = tuple(sorted({*referral.history, change}, key=_change_order))
    referral.said.update(said)
    referral.changed = True
    return True


def referrals_of(referrals: Referrals) -> tuple[Referral, ...]:
    """Return the view's referrals, in the order they started."""
    return tuple(sorted((r.referral() for r in referrals.values()), key=_referral_order))


def _step(envelope: Envelope, payload: EventPayload) -> _Step | None:
    if isinstance(payload, ReferralMade):
        details = {"reason": payload.reason, "urgency": payload.urgency}
        return _Step(payload.referral_id, "made", envelope.org, payload.to_org, details)
    if isinstance(payload, ReferralWithdrawn):
        return _Step(payload.referral_id, "withdrawn", envelope.org, payload.to_org)
    return _receivers_step(envelope.org, payload)


def _receivers_step(org: OrgId, payload: EventPayload) -> _Step | None:
    """Return the step a receiver's event is (`org` is the receiver), or None."""
    details: dict[str, Any]
    if isinstance(payload, ReferralReceived):
        details = {"reason": payload.reason, "urgency": payload.urgency}
        return _Step(payload.referral_id, "received", payload.from_org, org, details)
    if isinstance(payload, ReferralAccepted):
        details = {"case_id": payload.case_id}
        return _Step(payload.referral_id, "accepted", payload.from_org, org, details)
    if isinstance(payload, ReferralDeclined):
        details = {"decline_reason": payload.reason}
        return _Step(payload.referral_id, "declined", payload.from_org, org, details)
    if isinstance(payload, ReferralWithdrawalReceived):
        return _Step(payload.referral_id, "withdrawn", payload.from_org, org)
    return None


def _change_order(change: ReferralChange) -> tuple[datetime, int, str]:
    return (change.occurred_at, RANK[change.status], change.org)


def _referral_order(referral: Referral) -> tuple[datetime, str]:
    started = referral.made_at or min(c.occurred_at for c in referral.history)
    return (started, str(referral.referral_id))
