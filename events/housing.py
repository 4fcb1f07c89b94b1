"""The housing service's vocabulary: homelessness duties, tenancies and accommodation.

Terms follow the Housing Act 1996 Part 7 as amended by the Homelessness Reduction Act 2017.
"""

from datetime import date
from decimal import Decimal
from typing import Literal

from pydantic import Field

from events.recording_rules import HappenedOn
from events.registry import event_type
from events.shared import CaseEvent

TenancyRisk = Literal[
    "rent_arrears", "antisocial_behaviour", "disrepair", "relationship_breakdown", "other"
]
Tenure = Literal["social_rent", "private_rent", "supported_housing", "staying_with_family", "other"]


@event_type("housing.homelessness_application_made", category="housing.homelessness")
class HomelessnessApplicationMade(CaseEvent):
    """The person applied to the council as homeless or threatened with homelessness."""

    threatened_within_days: int | None = Field(default=None, ge=0, le=365)


@event_type("housing.prevention_duty_accepted", category="housing.homelessness")
class PreventionDutyAccepted(CaseEvent):
    """The council accepted the duty to help stop the person becoming homeless (56 days)."""

    duty_start: date


@event_type("housing.relief_duty_accepted", category="housing.homelessness")
class ReliefDutyAccepted(CaseEvent):
    """The council accepted the duty to help a person who is already homeless find a home."""

    duty_start: date


@event_type("housing.tenancy_at_risk", category="housing.tenancy")
class TenancyAtRisk(CaseEvent):
    """A housing officer found the person's current tenancy at risk, and why."""

    risk: TenancyRisk
    arrears_amount: Decimal | None = Field(default=None, ge=0, max_digits=9, decimal_places=2)


@event_type("housing.eviction_notice_served", category="housing.tenancy")
class EvictionNoticeServed(CaseEvent):
    """The landlord served notice seeking possession of the person's home."""

    notice: Literal["section_21", "section_8", "notice_to_quit", "other"]
    served_on: HappenedOn
    possession_date: date | None = None


@event_type("housing.temporary_accommodation_placed", category="housing.accommodation")
class TemporaryAccommodationPlaced(CaseEvent):
    """The council placed the person in temporary accommodation."""

    accommodation: Literal["hostel", "bed_and_breakfast", "self_contained", "refuge", "other"]
    placed_on: HappenedOn


@event_type("housing.accommodation_secured", category="housing.accommodation")
class AccommodationSecured(CaseEvent):
    """The person has settled accommodation expected to last at least six months."""

    tenure: Tenure
    start_date: date
