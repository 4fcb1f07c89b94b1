"""Stories for projection tests: one person across three organisations, and a crowd."""

from collections.abc import Iterator
from datetime import date, datetime, timedelta
from itertools import count
from uuid import uuid4

from events.envelope import Envelope, OrgId
from events.housing import EvictionNoticeServed, TenancyAtRisk
from events.identifiers import nhs_number_check_digit
from events.mental_health import (
    CareCoordinatorAssigned,
    CrisisEpisodeEnded,
    CrisisEpisodeStarted,
    CrisisPlanAgreed,
)
from events.shared import (
    FlagRaised,
    KeyWorker,
    ReferralAccepted,
    ReferralMade,
    ReferralReceived,
)
from events.voluntary import EngagementRecorded, KeyWorkerAssigned
from tests.unit.projection.factories import START, PersonAt, details, minutes


def three_organisations_story() -> dict[OrgId, list[Envelope]]:
    """Return each organisation's log about one person (same NHS number), in log order."""
    housing, health, charity = PersonAt("housing"), PersonAt("mental_health"), PersonAt("voluntary")
    referral_id, h_case, m_case, v_case = uuid4(), uuid4(), uuid4(), uuid4()
    referral = {"referral_id": referral_id, "reason": "food and benefits", "urgency": "urgent"}
    coordinator = KeyWorker(name="Ada Lovelace", role="care coordinator", team="CMHT")
    return {
        "housing": [
            housing.registered(minutes(0), details(postcode="BS5 6XX"), place="E05001234"),
            housing.case_opened(minutes(1), h_case, "threatened with homelessness"),
            housing.event(TenancyAtRisk(case_id=h_case, risk="rent_arrears"), minutes(5)),
            housing.event(
                EvictionNoticeServed(
                    case_id=h_case, notice="section_21", served_on=date(2026, 3, 1)
                ),
                minutes(20),
            ),
            housing.event(
                ReferralMade(
                    person_id=housing.person_id,
                    to_org="voluntary",
                    person=details(),
                    **referral,
                ),
                minutes(30),
            ),
        ],
        "mental_health": [
            health.registered(minutes(2), details(given_name="Dave"), place="E05001235"),
            health.case_opened(minutes(3), m_case, "referred by GP"),
            health.event(
                CrisisEpisodeStarted(case_id=m_case, setting="home_treatment"), minutes(10)
            ),
            health.event(
                CareCoordinatorAssigned(case_id=m_case, coordinator=coordinator), minutes(12)
            ),
            health.event(FlagRaised(case_id=m_case, flag="risk_to_self"), minutes(15)),
            health.event(
                CrisisEpisodeEnded(case_id=m_case, outcome="resolved_at_home"), minutes(25)
            ),
            health.event(
                CrisisPlanAgreed(case_id=m_case, review_date=date(2026, 6, 1)), minutes(26)
            ),
        ],
        "voluntary": [
            charity.registered(minutes(4), details(given_name="Davey"), place="E05001236"),
            charity.case_opened(minutes(6), v_case, "drop-in"),
            charity.event(EngagementRecorded(case_id=v_case, channel="drop_in"), minutes(8)),
            charity.event(
                ReferralReceived(person_id=charity.person_id, from_org="housing", **referral),
                minutes(31),
            ),
            charity.event(
                ReferralAccepted(
                    referral_id=referral_id,
                    person_id=charity.person_id,
                    from_org="housing",
                    case_id=v_case,
                ),
                minutes(33),
            ),
            charity.event(
                KeyWorkerAssigned(case_id=v_case, key_worker=KeyWorker(name="Jo Reid")),
                minutes(34),
            ),
        ],
    }


def nhs_numbers(start: int = 400_000_000) -> Iterator[str]:
    """Yield distinct valid NHS numbers (nine digits from `start` up, and their check digit)."""
    for prefix in count(start):
        check = nhs_number_check_digit(str(prefix))
        if check is not None:
            yield f"{prefix}{check}"


def crowd(people: int, *, start: int = 400_000_000) -> dict[OrgId, list[Envelope]]:
    """Return each organisation's log about many people: about 14 events each, some unlinked."""
    logs: dict[OrgId, list[Envelope]] = {"housing": [], "mental_health": [], "voluntary": []}
    for n, nhs_number in zip(range(people), nhs_numbers(start), strict=False):
        at = START + timedelta(seconds=n)
        for org, events in _one_of_the_crowd(n, nhs_number, at).items():
            logs[org].extend(events)
    return logs


def _one_of_the_crowd(n: int, nhs_number: str, at: datetime) -> dict[OrgId, list[Envelope]]:
    housing, health, charity = PersonAt("housing"), PersonAt("mental_health"), PersonAt("voluntary")
    h_case, m_case, v_case, referral_id = uuid4(), uuid4(), uuid4(), uuid4()
    minute = timedelta(minutes=1)
    referral = {"referral_id": referral_id, "reason": "support", "urgency": "routine"}
    who = {"family_name": f"Crowd-{n}", "date_of_birth": date(1940, 1, 1) + timedelta(days=n)}
    return {
        "housing": [
            housing.registered(at, details(nhs_number=nhs_number, postcode="BS5 6XX", **who)),
            housing.case_opened(at + minute, h_case),
            housing.event(TenancyAtRisk(case_id=h_case, risk="rent_arrears"), at + 2 * minute),
            housing.event(
                ReferralMade(
                    person_id=housing.person_id,
                    to_org="voluntary",
                    person=details(**who),
                    **referral,
                ),
                at + 3 * minute,
            ),
        ],
        "mental_health": [
            health.registered(
                at + 4 * minute, details(nhs_number=nhs_number, given_name=f"D{n}", **who)
            ),
            health.case_opened(at + 5 * minute, m_case),
            health.event(
                CrisisEpisodeStarted(case_id=m_case, setting="crisis_house"), at + 6 * minute
            ),
            health.event(
                CareCoordinatorAssigned(case_id=m_case, coordinator=KeyWorker(name="Ada")),
                at + 7 * minute,
            ),
            health.event(CrisisEpisodeEnded(case_id=m_case, outcome="admitted"), at + 8 * minute),
        ],
        "voluntary": [
            charity.registered(
                at + 9 * minute, details(nhs_number=nhs_number if n % 3 else None, **who)
            ),
            charity.case_opened(at + 10 * minute, v_case),
            charity.event(EngagementRecorded(case_id=v_case, channel="outreach"), at + 11 * minute),
            charity.event(
                ReferralReceived(person_id=charity.person_id, from_org="housing", **referral),
                at + 12 * minute,
            ),
            charity.event(
                ReferralAccepted(
                    referral_id=referral_id, person_id=charity.person_id, from_org="housing"
                ),
                at + 13 * minute,
            ),
        ],
    }
