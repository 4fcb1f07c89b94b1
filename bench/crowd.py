"""A crowd known to housing, mental health and the voluntary sector: each organisation's log.

Built as the organisation services build it (`envelope_for`, their stream names, the referral
inbox's derived ids). Person n, deterministically:
- housing: registered with an NHS number, opens a case, tenancy at risk, a flag (even n),
  an eviction notice (n % 3 == 0), and a referral to the voluntary sector (n % 3 != 0);
- mental health, for three in four (n % 4 != 3): registered with the same NHS number (so the
  same citizen), a case, a crisis episode, a care coordinator, a flag, the episode's end (even n);
- voluntary: the referred are registered from the referral (NHS number included), receive,
  accept, open a case from it, engage and get a key worker; the rest walk in and are
  registered without an NHS number, with the same name, birth date and postcode as housing
  has: identity matching links them to the same citizen (a score of 18).
About 14 events per person; one citizen per person.
"""

import uuid
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta

from bench.payloads import StreamEvent
from events.envelope import Envelope, OrgId
from events.housing import EvictionNoticeServed, TenancyAtRisk
from events.identifiers import nhs_number_check_digit
from events.mental_health import CareCoordinatorAssigned, CrisisEpisodeEnded, CrisisEpisodeStarted
from events.organisations import DEFAULT_ORGANISATIONS
from events.registry import EventPayload
from events.shared import (
    CaseOpened,
    FlagRaised,
    KeyWorker,
    PersonDetails,
    PersonRegistered,
    ReferralAccepted,
    ReferralMade,
    ReferralReceived,
    referred_person_id,
)
from events.voluntary import EngagementRecorded, FoodSupportGiven, KeyWorkerAssigned
from services.organisation.domain.recording import Recording, envelope_for
from services.organisation.domain.referrals import derived_event_id
from services.organisation.service_layer.streams import case_stream, person_stream, referral_stream

Logs = dict[OrgId, list[StreamEvent]]
_START = datetime(2025, 1, 6, 9, 0, tzinfo=UTC)
_GIVEN = ("Amira", "Ben", "Chloe", "Dev", "Ewa", "Femi", "Grace", "Hamza", "Isla", "Jon")
_FAMILY = ("Smith", "Jones", "Khan", "Nowak", "Okafor", "Patel", "Reid", "Taylor", "Walsh")
_WORKER = KeyWorker(
    name="Sam Okafor",
    role="key worker",
    team="East",
    phone="0117 496 0123",
    email="sam.okafor@example.org",
)


def citizens_in(people: int) -> int:
    """Return how many citizens a crowd of `people` makes: one each (walk-ins are matched)."""
    return people


def people_for_citizens(citizens: int) -> int:
    """Return the crowd that makes `citizens` citizens."""
    return max(1, citizens)


def crowd(people: int) -> Logs:
    """Return each organisation's log about `people` people, in log order."""
    logs: Logs = {org: [] for org in DEFAULT_ORGANISATIONS.ids}
    for _, (_, person) in zip(range(people), _people(), strict=False):
        for org, events in person.items():
            logs[org].extend(events)
    return logs


def crowd_of_events(events: int) -> tuple[Logs, int]:
    """Return logs holding at least `events` events (whole people), and how many people."""
    logs: Logs = {org: [] for org in DEFAULT_ORGANISATIONS.ids}
    people = 0
    for _, person in people_of_events(events):
        for org, person_events in person.items():
            logs[org].extend(person_events)
        people += 1
    return logs, people


def people_of_events(events: int) -> Iterator[tuple[str, Logs]]:
    """Yield the people of `crowd_of_events(events)` one by one: each person's NHS number
    (every person has one, though a walk-in does not give it to the voluntary sector) and
    their events in each organisation's log."""
    total = 0
    for nhs_number, person in _people():
        if total >= events:
            return
        yield nhs_number, person
        total += sum(len(person_events) for person_events in person.values())


def event_count(logs: Logs) -> int:
    """Return how many events the logs hold in all."""
    return sum(len(log) for log in logs.values())


def _people() -> Iterator[tuple[str, Logs]]:
    for n, nhs_number in enumerate(nhs_numbers()):
        yield nhs_number, _person(n, nhs_number)


def nhs_numbers(start: int = 400_000_000) -> Iterator[str]:
    """Return valid NHS numbers (with their check digit) from `start` up, in order."""
    prefix = start
    while True:
        check = nhs_number_check_digit(str(prefix))
        if check is not None:
            yield f"{prefix}{check}"
        prefix += 1


class _Org:
    """One organisation's records of one person: appends events to its streams in order."""

    def __init__(self, org: OrgId, person_id: uuid.UUID, place: str) -> None:
        self.org, self.person_id, self.place = org, person_id, place
        self.events: list[StreamEvent] = []
        self._versions: dict[str, int] = {}

    def record(
        self,
        stream: str,
        payload: EventPayload,
        at: datetime,
        *,
        cause: Envelope | None = None,
        event_id: uuid.UUID | None = None,
    ) -> Envelope:
        """Append `payload` to `stream` as this organisation records it; return its envelope."""
        recording = Recording(
            org=self.org, actor=f"{self.org}/frontline/k{self.org[:3]}01",
            correlation_id=cause.correlation_id if cause else str(uuid.uuid4()),
            causation_id=str(cause.event_id) if cause else None, recorded_at=at,
        )  # fmt: skip
        envelope = envelope_for(
            payload, recording=recording, subject=self.person_id, place=self.place,
            event_id=event_id,
        )  # fmt: skip
        version = self._versions[stream] = self._versions.get(stream, 0) + 1
        self.events.append(StreamEvent(stream, version, envelope))
        return envelope


def _details(n: int, nhs_number: str | None) -> PersonDetails:
    return PersonDetails(
        nhs_number=nhs_number, given_name=_GIVEN[n % len(_GIVEN)],
        family_name=_FAMILY[n // len(_GIVEN) % len(_FAMILY)],
        date_of_birth=date(1950, 1, 1) + timedelta(days=n * 37 % 20_000),
        postcode=f"BS{n % 16 + 1} {n % 9 + 1}{'ABDEFGHJLNPQRSTUWXYZ'[n % 20]}X",
    )  # fmt: skip


def _person(n: int, nhs_number: str) -> Logs:
    at = _START + timedelta(minutes=n)
    place = f"E05{n % 900 + 1000:06d}"
    housing = _housing(n, nhs_number, at, place)
    referral = next((e for e in housing.events if e.envelope.type == ReferralMade.event_type), None)
    logs: Logs = {"housing": housing.events, "mental_health": [], "voluntary": []}
    if n % 4 != 3:
        logs["mental_health"] = _mental_health(n, nhs_number, at + timedelta(days=2), place)
    logs["voluntary"] = (
        _referred(referral.envelope, at + timedelta(days=3), place)
        if referral
        else _walk_in(n, at + timedelta(days=1), place)
    )
    return logs


def _housing(n: int, nhs_number: str, at: datetime, place: str) -> _Org:
    h, case_id, day = _Org("housing", uuid.uuid4(), place), uuid.uuid4(), timedelta(days=1)
    person = person_stream(h.person_id)
    h.record(person, PersonRegistered(person_id=h.person_id, details=_details(n, nhs_number)), at)
    reason = "Rent arrears after loss of employment"
    case = case_stream(case_id)
    opened = CaseOpened(case_id=case_id, person_id=h.person_id, reason=reason, key_worker=_WORKER)
    h.record(case, opened, at + day)
    arrears = TenancyAtRisk(case_id=case_id, risk="rent_arrears", arrears_amount=n % 3000)
    h.record(case, arrears, at + 2 * day)
    if n % 2 == 0:
        h.record(
            case,
            FlagRaised(case_id=case_id, flag="lone_working_only", note="visit in pairs"),
            at + 3 * day,
        )
    if n % 3 == 0:
        served = (at + 4 * day).date()
        h.record(
            case,
            EvictionNoticeServed(case_id=case_id, notice="section_8", served_on=served),
            at + 4 * day,
        )
    else:
        referral_id = uuid.uuid4()
        made = ReferralMade(
            referral_id=referral_id, person_id=h.person_id, to_org="voluntary",
            reason="food and benefits advice", urgency="urgent", person=_details(n, nhs_number),
        )  # fmt: skip
        h.record(referral_stream(referral_id), made, at + 2 * day)
    return h


def _mental_health(n: int, nhs_number: str, at: datetime, place: str) -> list[StreamEvent]:
    m, case_id, hour = _Org("mental_health", uuid.uuid4(), place), uuid.uuid4(), timedelta(hours=1)
    details = _details(n, nhs_number)
    m.record(
        person_stream(m.person_id), PersonRegistered(person_id=m.person_id, details=details), at
    )
    case = case_stream(case_id)
    opened = CaseOpened(
        case_id=case_id, person_id=m.person_id, reason="GP referral", key_worker=_WORKER
    )
    m.record(case, opened, at + hour)
    m.record(case, CrisisEpisodeStarted(case_id=case_id, setting="home_treatment"), at + 2 * hour)
    m.record(case, CareCoordinatorAssigned(case_id=case_id, coordinator=_WORKER), at + 3 * hour)
    m.record(case, FlagRaised(case_id=case_id, flag="risk_to_self"), at + 4 * hour)
    if n % 2 == 0:
        m.record(
            case, CrisisEpisodeEnded(case_id=case_id, outcome="resolved_at_home"), at + 48 * hour
        )
    return m.events


def _referred(made_envelope: Envelope, at: datetime, place: str) -> list[StreamEvent]:
    made = ReferralMade.model_validate(made_envelope.data)
    v = _Org("voluntary", referred_person_id(made.referral_id), place)
    referral, case_id, hour = referral_stream(made.referral_id), uuid.uuid4(), timedelta(hours=1)
    registered = PersonRegistered(person_id=v.person_id, details=made.person)
    received = ReferralReceived(
        referral_id=made.referral_id, person_id=v.person_id, from_org="housing",
        reason=made.reason, urgency=made.urgency,
    )  # fmt: skip
    # the inbox derives these two ids from the referral, so that a redelivery is a no-op
    v.record(
        person_stream(v.person_id), registered, at, cause=made_envelope,
        event_id=derived_event_id(made_envelope.event_id, registered.event_type),
    )  # fmt: skip
    v.record(
        referral, received, at, cause=made_envelope,
        event_id=derived_event_id(made_envelope.event_id, received.event_type),
    )  # fmt: skip
    accepted = ReferralAccepted(
        referral_id=made.referral_id, person_id=v.person_id, from_org="housing", case_id=case_id
    )
    v.record(referral, accepted, at + hour)
    opened = CaseOpened(
        case_id=case_id, person_id=v.person_id, reason="referred by housing",
        key_worker=_WORKER, referral_id=made.referral_id,
    )  # fmt: skip
    case = case_stream(case_id)
    v.record(case, opened, at + hour)
    v.record(case, EngagementRecorded(case_id=case_id, channel="phone"), at + 5 * hour)
    v.record(case, KeyWorkerAssigned(case_id=case_id, key_worker=_WORKER), at + 6 * hour)
    return v.events


def _walk_in(n: int, at: datetime, place: str) -> list[StreamEvent]:
    v, case_id, hour = _Org("voluntary", uuid.uuid4(), place), uuid.uuid4(), timedelta(hours=1)
    details = _details(n, None)  # a drop-in gives no NHS number: matched on the other details
    v.record(
        person_stream(v.person_id), PersonRegistered(person_id=v.person_id, details=details), at
    )
    case = case_stream(case_id)
    opened = CaseOpened(
        case_id=case_id, person_id=v.person_id, reason="drop-in", key_worker=_WORKER
    )
    v.record(case, opened, at)
    v.record(case, EngagementRecorded(case_id=case_id, channel="drop_in"), at + hour)
    v.record(case, FoodSupportGiven(case_id=case_id, kind="food_parcel"), at + hour)
    return v.events
