"""Cases fold from their streams, and decide what may be recorded on them."""

from datetime import date
from uuid import uuid4

import pytest

from events.housing import TenancyAtRisk
from events.mental_health import CareCoordinatorAssigned
from events.shared import CaseClosed, CaseOpened, FlagLifted, FlagRaised, KeyWorker
from services.organisation.domain.case_vocabulary import case_event, recordable_types
from services.organisation.domain.cases import close_case, open_case
from services.organisation.domain.commands import CloseCase, OpenCase
from services.organisation.domain.errors import (
    CaseAlreadyClosed,
    InvalidEventData,
    UnknownEventType,
    VersionConflict,
)
from tests.unit.organisation.domain_examples import (
    CASE_ID,
    KEY_WORKER,
    NOW,
    PERSON,
    PLACE,
    a_case,
    case_command,
)


def test_an_opened_case_is_open_for_its_person_with_its_key_worker() -> None:
    """case.opened starts the case: open, version 1, the key worker and place as recorded."""
    state = a_case()
    assert (state.case_id, state.person_id, state.status, state.version) == (
        CASE_ID,
        PERSON.person_id,
        "open",
        1,
    )
    assert (state.key_worker, state.place, state.opened_at) == (KEY_WORKER, PLACE, NOW)


def test_events_on_a_case_move_its_version_and_flags() -> None:
    """Each event adds one to the version; flags stay raised until lifted."""
    state = a_case(
        TenancyAtRisk(case_id=CASE_ID, risk="rent_arrears"),
        FlagRaised(case_id=CASE_ID, flag="risk_to_staff"),
        FlagRaised(case_id=CASE_ID, flag="interpreter_needed"),
        FlagLifted(case_id=CASE_ID, flag="risk_to_staff"),
    )
    assert state.version == 5
    assert state.flags == {"interpreter_needed"}


def test_a_new_care_coordinator_becomes_the_cases_key_worker() -> None:
    """Whoever was last assigned to lead the person's care is who colleagues should call."""
    coordinator = KeyWorker(name="Dr Priya Shah", team="Eastside CMHT")
    state = a_case(CareCoordinatorAssigned(case_id=CASE_ID, coordinator=coordinator))
    assert state.key_worker == coordinator


def test_a_closed_case_says_when_and_how_it_ended() -> None:
    """case.closed closes the case with its outcome and the time it happened."""
    state = a_case(CaseClosed(case_id=CASE_ID, outcome="Tenancy sustained"))
    assert (state.status, state.outcome, state.version) == ("closed", "Tenancy sustained", 2)
    assert state.closed_at is not None


def test_a_closed_case_cannot_be_closed_or_written_again() -> None:
    """Nothing is recorded on a closed case: closing or recording is a conflict."""
    state = a_case(CaseClosed(case_id=CASE_ID, outcome="Done"))
    with pytest.raises(CaseAlreadyClosed):
        close_case(state, CloseCase(CASE_ID, "Again"))
    with pytest.raises(CaseAlreadyClosed):
        case_event(
            state,
            case_command("housing.tenancy_at_risk", {"risk": "other"}),
            sector="housing",
            now=NOW,
        )


def test_writing_at_a_stale_version_is_a_conflict_naming_the_current_one() -> None:
    """A client who read version 1 of a case now at version 2 is told it is at 2."""
    state = a_case(TenancyAtRisk(case_id=CASE_ID, risk="other"))
    with pytest.raises(VersionConflict) as conflict:
        close_case(state, CloseCase(CASE_ID, "Done", expected_version=1))
    assert (conflict.value.expected, conflict.value.actual) == (1, 2)
    assert "2" in conflict.value.message


def test_a_case_event_is_typed_and_names_its_case() -> None:
    """Valid data becomes the type's payload, with the case id from the case itself."""
    command = case_command("housing.prevention_duty_accepted", {"duty_start": "2025-03-01"})
    payload = case_event(a_case(), command, sector="housing", now=NOW)
    assert payload.model_dump() == {"case_id": CASE_ID, "duty_start": date(2025, 3, 1)}


def test_an_organisation_records_its_own_types_and_flags_only() -> None:
    """Housing records housing.* and flags; not another organisation's, nor case.opened."""
    allowed = recordable_types("housing")
    assert all(name.startswith("housing.") for name in allowed[:-2])
    assert allowed[-2:] == ("flag.raised", "flag.lifted")
    assert "housing.tenancy_at_risk" in allowed
    assert "case.opened" not in allowed


@pytest.mark.parametrize("type_", ["mental_health.discharged", "case.closed", "housing.nope"])
def test_an_event_type_outside_the_vocabulary_is_refused_listing_the_allowed(type_: str) -> None:
    """The error names the rule and lists every type the organisation may record."""
    with pytest.raises(UnknownEventType) as refused:
        case_event(a_case(), case_command(type_, {}), sector="housing", now=NOW)
    assert refused.value.problems[0]["loc"] == ("type",)
    assert refused.value.problems[0]["type"] == "unknown_event_type"
    assert "housing.tenancy_at_risk" in refused.value.message


def test_every_broken_data_rule_is_reported_at_its_place_in_data() -> None:
    """A case id in data, a wrong type and a missing field are all reported, under `data`."""
    data = {"case_id": str(uuid4()), "notice": "section_21", "served_on": "soon"}
    with pytest.raises(InvalidEventData) as refused:
        case_event(
            a_case(),
            case_command("housing.eviction_notice_served", data),
            sector="housing",
            now=NOW,
        )
    found = {(problem["loc"], problem["type"]) for problem in refused.value.problems}
    assert found == {
        (("data", "case_id"), "case_id_from_path"),
        (("data", "served_on"), "date_from_datetime_parsing"),
    }


def test_a_missing_field_is_named() -> None:
    """Leaving out a required field names that field."""
    with pytest.raises(InvalidEventData) as refused:
        case_event(
            a_case(), case_command("housing.relief_duty_accepted", {}), sector="housing", now=NOW
        )
    assert [(p["loc"], p["type"]) for p in refused.value.problems] == [
        (("data", "duty_start"), "missing")
    ]


def test_opening_a_case_records_the_referral_it_answers() -> None:
    """A case opened on accepting a referral names that referral."""
    referral_id = uuid4()
    command = OpenCase(PERSON.person_id, "Referred", KEY_WORKER, referral_id=referral_id)
    opened = open_case(PERSON, command, case_id=CASE_ID)
    assert isinstance(opened, CaseOpened)
    assert opened.referral_id == referral_id
