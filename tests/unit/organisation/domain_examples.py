"""Events and states for domain tests, built through the domain's own envelope function."""

from datetime import UTC, date, datetime, timedelta
from typing import Any
from uuid import UUID, uuid4

from events.envelope import Envelope, OrgId
from events.registry import EventPayload
from events.shared import KeyWorker, PersonDetails
from services.organisation.domain.cases import CaseState, case_from, open_case
from services.organisation.domain.commands import OpenCase, RecordCaseEvent
from services.organisation.domain.people import PersonState
from services.organisation.domain.recording import Recording, envelope_for

NOW = datetime(2025, 3, 4, 10, 0, tzinfo=UTC)
PLACE = "E05010892"
KEY_WORKER = KeyWorker(name="Sam Okafor", team="Eastside housing")
DETAILS = PersonDetails(
    local_id="HX-1",
    nhs_number="9434765919",
    given_name="Alex",
    family_name="Morgan",
    date_of_birth=date(1987, 5, 14),
)


def a_recording(org: OrgId = "housing", *, minutes_later: int = 0) -> Recording:
    """Return a recording context at a fixed time (plus some minutes)."""
    return Recording(
        org=org,
        actor=f"{org}/frontline/k1",
        correlation_id="corr-1",
        recorded_at=NOW + timedelta(minutes=minutes_later),
    )


def recorded(
    *payloads: EventPayload, org: OrgId = "housing", subject: UUID | None = None
) -> list[Envelope]:
    """Return envelopes recording `payloads` in order, a minute apart."""
    person = subject or uuid4()
    return [
        envelope_for(p, recording=a_recording(org, minutes_later=n), subject=person, place=PLACE)
        for n, p in enumerate(payloads)
    ]


CASE_ID = uuid4()
PERSON = PersonState(uuid4(), DETAILS, PLACE, NOW, 1)
OPENED = open_case(PERSON, OpenCase(PERSON.person_id, "Rent arrears", KEY_WORKER), case_id=CASE_ID)


def a_case(*later: Any) -> CaseState:
    """Return the example case (opened for PERSON) after these payloads were recorded on it."""
    state = case_from(recorded(OPENED, *later))
    assert state is not None
    return state


def case_command(type_: str, data: dict[str, Any], **fields: Any) -> RecordCaseEvent:
    """Return the command to record an event of `type_` on the example case."""
    return RecordCaseEvent(CASE_ID, type_, data, **fields)
