"""What a case's history allows: lifting only what was raised, dates no later than the event,
and a client's event id naming one event only."""

from datetime import timedelta
from typing import Any
from uuid import uuid4

import pytest

from events.housing import EvictionNoticeServed
from events.mental_health import CrisisEpisodeEnded, CrisisEpisodeStarted
from events.shared import FlagLifted, FlagRaised
from services.organisation.domain.case_vocabulary import case_event, is_retry_of
from services.organisation.domain.errors import (
    CrisisEpisodeNotStarted,
    FlagNotRaised,
    InvalidEventData,
)
from services.organisation.domain.recording import envelope_for
from tests.unit.organisation.domain_examples import (
    CASE_ID,
    NOW,
    PERSON,
    PLACE,
    a_case,
    a_recording,
    case_command,
)


def test_lifting_a_flag_never_raised_is_refused_naming_the_flag() -> None:
    """A lift with nothing to lift would hide another case's flag downstream: refused."""
    command = case_command("flag.lifted", {"flag": "risk_to_staff"})
    with pytest.raises(FlagNotRaised) as refused:
        case_event(a_case(), command, sector="housing", now=NOW)
    assert refused.value.code == "flag_not_raised"
    assert [(p["loc"], p["type"]) for p in refused.value.problems] == [
        (("data", "flag"), "flag_not_raised")
    ]
    assert "risk_to_staff" in refused.value.message


def test_a_raised_flag_is_lifted_once() -> None:
    """Lifting a raised flag is fine; lifting it again, once it is down, is refused."""
    raised = a_case(FlagRaised(case_id=CASE_ID, flag="risk_to_staff"))
    command = case_command("flag.lifted", {"flag": "risk_to_staff"})
    assert isinstance(case_event(raised, command, sector="housing", now=NOW), FlagLifted)
    lifted = a_case(
        FlagRaised(case_id=CASE_ID, flag="risk_to_staff"),
        FlagLifted(case_id=CASE_ID, flag="risk_to_staff"),
    )
    with pytest.raises(FlagNotRaised):
        case_event(lifted, command, sector="housing", now=NOW)


def test_a_crisis_episode_ends_only_after_it_started() -> None:
    """Ending a crisis that never started is refused; ending a started one is recorded."""
    command = case_command("mental_health.crisis_episode_ended", {"outcome": "resolved_at_home"})
    with pytest.raises(CrisisEpisodeNotStarted) as refused:
        case_event(a_case(), command, sector="mental_health", now=NOW)
    assert refused.value.code == "crisis_episode_not_started"
    in_crisis = a_case(CrisisEpisodeStarted(case_id=CASE_ID, setting="home_treatment"))
    ended = case_event(in_crisis, command, sector="mental_health", now=NOW)
    assert isinstance(ended, CrisisEpisodeEnded)
    over = a_case(
        CrisisEpisodeStarted(case_id=CASE_ID, setting="home_treatment"),
        CrisisEpisodeEnded(case_id=CASE_ID, outcome="resolved_at_home"),
    )
    with pytest.raises(CrisisEpisodeNotStarted):
        case_event(over, command, sector="mental_health", now=NOW)


@pytest.mark.parametrize(
    ("type_", "data", "field"),
    [
        ("housing.eviction_notice_served", {"notice": "section_21"}, "served_on"),
        ("housing.temporary_accommodation_placed", {"accommodation": "hostel"}, "placed_on"),
    ],
)
def test_a_date_something_happened_is_not_after_the_event(
    type_: str, data: dict[str, Any], field: str
) -> None:
    """A notice served (or a placement made) after the event recording it is refused."""
    later = (NOW + timedelta(days=2)).date().isoformat()
    command = case_command(type_, {**data, field: later})
    with pytest.raises(InvalidEventData) as refused:
        case_event(a_case(), command, sector="housing", now=NOW)
    assert [(p["loc"], p["type"]) for p in refused.value.problems] == [
        (("data", field), "not_in_future")
    ]


def test_the_date_is_checked_against_the_events_occurred_at_when_given() -> None:
    """served_on may be the day the event happened, but not a day after its occurred_at."""
    occurred_at = NOW - timedelta(days=30)
    data = {"notice": "section_21", "served_on": occurred_at.date().isoformat()}
    command = case_command("housing.eviction_notice_served", data, occurred_at=occurred_at)
    assert case_event(a_case(), command, sector="housing", now=NOW)
    next_day = {**data, "served_on": (occurred_at + timedelta(days=1)).date().isoformat()}
    with pytest.raises(InvalidEventData):
        case_event(
            a_case(),
            case_command("housing.eviction_notice_served", next_day, occurred_at=occurred_at),
            sector="housing",
            now=NOW,
        )


def test_a_stored_event_with_a_later_date_still_loads() -> None:
    """The rule applies when recording: a case whose old events break it still folds."""
    served = EvictionNoticeServed(
        case_id=CASE_ID, notice="section_21", served_on=(NOW + timedelta(days=400)).date()
    )
    assert a_case(served).version == 2


def test_the_same_event_id_with_the_same_body_is_a_retry_and_another_body_is_not() -> None:
    """A retry repeats type, data and (if given) occurred_at; anything else is another event."""
    event_id = uuid4()
    first = case_command("housing.tenancy_at_risk", {"risk": "rent_arrears"}, event_id=event_id)
    payload = case_event(a_case(), first, sector="housing", now=NOW)
    stored = envelope_for(
        payload, recording=a_recording(), subject=PERSON.person_id, place=PLACE, event_id=event_id
    )
    assert is_retry_of(stored, first)
    assert is_retry_of(stored, case_command("housing.tenancy_at_risk", {"risk": "rent_arrears"}))
    yesterday = NOW - timedelta(days=1)
    others = [
        case_command(
            "housing.eviction_notice_served", {"notice": "section_8", "served_on": "2025-03-01"}
        ),
        case_command("housing.tenancy_at_risk", {"risk": "other"}),
        case_command("housing.tenancy_at_risk", {"risk": "rent_arrears", "arrears_amount": "10"}),
        case_command("housing.tenancy_at_risk", {"risk": "nonsense"}),
        case_command("housing.tenancy_at_risk", {"risk": "rent_arrears"}, occurred_at=yesterday),
    ]
    assert [is_retry_of(stored, other) for other in others] == [False] * len(others)
