"""The mental health trust's vocabulary: referrals, assessments, crisis care and discharge.

Terms follow NHS community mental health services and the Care Programme Approach (CPA): a care
coordinator leads the person's care, a crisis plan says what helps, and discharge names a follow-up.
When something happened is the envelope's `occurred_at`; payloads carry only other dates.
"""

from datetime import date
from typing import Literal

from pydantic import Field

from events.registry import event_type
from events.shared import CaseEvent, KeyWorker, Urgency

ReferralSource = Literal["gp", "self", "a_and_e", "police", "other"]
AssessmentKind = Literal["triage", "initial", "risk", "mental_health_act", "review", "other"]
AssessmentOutcome = Literal[
    "accepted_for_care", "admitted", "referred_on", "signposted", "no_further_action"
]
CrisisSetting = Literal[
    "home_treatment", "crisis_house", "a_and_e", "place_of_safety", "inpatient_ward", "other"
]
CrisisOutcome = Literal["resolved_at_home", "admitted", "transferred_to_community_team", "other"]
DischargeDestination = Literal[
    "gp_care", "other_mental_health_service", "voluntary_sector", "no_follow_up", "other"
]


@event_type("mental_health.referral_received", category="health.referral")
class ReferralReceived(CaseEvent):
    """The trust received a referral for the person from outside Caseweave (e.g. their GP)."""

    source: ReferralSource
    urgency: Urgency


@event_type("mental_health.assessment_completed", category="health.clinical")
class AssessmentCompleted(CaseEvent):
    """A clinician finished assessing the person's mental health, and decided what happens next."""

    assessment: AssessmentKind
    outcome: AssessmentOutcome


@event_type("mental_health.care_coordinator_assigned", category="health.care_team")
class CareCoordinatorAssigned(CaseEvent):
    """A named care coordinator now leads the person's care and is the trust's contact for it."""

    coordinator: KeyWorker


@event_type("mental_health.crisis_episode_started", category="health.crisis")
class CrisisEpisodeStarted(CaseEvent):
    """The person is in a mental health crisis and crisis services are now supporting them."""

    setting: CrisisSetting


@event_type("mental_health.crisis_episode_ended", category="health.crisis")
class CrisisEpisodeEnded(CaseEvent):
    """The person's crisis episode is over: crisis services have stepped back, and how it ended."""

    outcome: CrisisOutcome


@event_type("mental_health.crisis_plan_agreed", category="health.care_plan")
class CrisisPlanAgreed(CaseEvent):
    """The person and their care team agreed a plan for what to do if they reach crisis again."""

    review_date: date


@event_type("mental_health.discharged", category="health.care_team")
class Discharged(CaseEvent):
    """The trust discharged the person from its care, saying who supports them next."""

    destination: DischargeDestination
    follow_up_days: int | None = Field(
        default=None, ge=0, le=90, description="follow-up contact due within this many days"
    )
