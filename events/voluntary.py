"""The voluntary sector's vocabulary: day centres, drug and alcohol services, food banks.

Terms follow UK homelessness and substance-use support practice: engagement, key work and
welfare help. When something happened is the envelope's `occurred_at`; payloads carry no dates.
"""

from typing import Literal

from pydantic import Field

from events.registry import event_type
from events.shared import CaseEvent, KeyWorker

Channel = Literal["drop_in", "outreach", "phone", "online"]
SessionKind = Literal["key_work", "group", "harm_reduction", "recovery", "advice", "other"]
FoodSupport = Literal["food_parcel", "voucher", "meal"]
Benefit = Literal["universal_credit", "pip", "housing_benefit", "other"]
BenefitsOutcome = Literal[
    "advice_given", "claim_made", "award_confirmed", "reconsideration_requested", "appeal_lodged"
]
DisengagementReason = Literal[
    "lost_contact", "declined_support", "moved_away", "in_custody", "in_hospital", "other"
]


@event_type("voluntary.engagement_recorded", category="voluntary.support")
class EngagementRecorded(CaseEvent):
    """The person was in touch with the service, and how (drop-in, outreach, phone or online)."""

    channel: Channel


@event_type("voluntary.support_session_held", category="voluntary.support")
class SupportSessionHeld(CaseEvent):
    """A worker held a planned support session with the person, of this kind and length."""

    session: SessionKind
    duration_minutes: int = Field(ge=1, le=480)


@event_type("voluntary.key_worker_assigned", category="voluntary.support")
class KeyWorkerAssigned(CaseEvent):
    """A named key worker now leads the service's work with the person and is its contact."""

    key_worker: KeyWorker


@event_type("voluntary.food_support_given", category="voluntary.welfare")
class FoodSupportGiven(CaseEvent):
    """The service gave the person food: a food parcel, a voucher or a meal."""

    kind: FoodSupport


@event_type("voluntary.benefits_support_given", category="voluntary.welfare")
class BenefitsSupportGiven(CaseEvent):
    """A worker helped the person with a benefit claim, and where the claim got to."""

    benefit: Benefit
    outcome: BenefitsOutcome


@event_type("voluntary.disengaged", category="voluntary.support")
class Disengaged(CaseEvent):
    """The person stopped engaging with the service, and the likely reason."""

    reason: DisengagementReason
