"""Sealing personal values with a person's key: what is sealed, what is not, what breaks it."""

import pytest

from events.envelope import Envelope
from events.shared import ReferralMade
from services.runtime.sealing import (
    ERASED,
    SEALED,
    SealBroken,
    all_values_erased,
    has_erased_values,
    is_sealed,
    needs_sealing,
    new_data_key,
    seal,
    unseal,
)
from tests.unit.projection.factories import PersonAt, details, minutes

HOUSING = PersonAt("housing")


def _referral() -> Envelope:
    payload = ReferralMade(
        referral_id=HOUSING.person_id, person_id=HOUSING.person_id, to_org="voluntary",
        reason="rent arrears after a hospital stay", person=details(),
    )  # fmt: skip
    return HOUSING.event(payload, minutes(1))


def test_only_personal_values_are_sealed_and_they_open_again() -> None:
    event = _referral()
    key = new_data_key()
    sealed = seal(event, key)
    assert set(sealed.data) == set(event.data)
    assert sealed.data["to_org"] == "voluntary"  # routing and codes stay readable
    assert sealed.data["urgency"] == "routine"
    for field in ("person", "reason"):
        assert set(sealed.data[field]) == {SEALED}
    assert "Smith" not in sealed.model_dump_json()
    assert is_sealed(sealed)
    assert not needs_sealing(sealed)
    assert seal(sealed, key) == sealed  # sealing twice changes nothing
    assert unseal(sealed, key) == event


def test_a_sealed_value_opens_with_its_own_key_and_event_only() -> None:
    event = _referral()
    key = new_data_key()
    sealed = seal(event, key)
    with pytest.raises(SealBroken):
        unseal(sealed, new_data_key())
    other_event = seal(HOUSING.registered(minutes(2), details()), key)
    moved = other_event.model_copy(
        update={"data": {**other_event.data, "details": sealed.data["person"]}}
    )
    with pytest.raises(SealBroken):  # bound to its event and field: it cannot be moved
        unseal(moved, key)
    tampered = sealed.data["reason"][SEALED][:-4] + "AAAA"
    with pytest.raises(SealBroken):
        unseal(
            sealed.model_copy(update={"data": {**sealed.data, "reason": {SEALED: tampered}}}), key
        )


def test_an_event_without_personal_values_is_left_as_it_is() -> None:
    opened = HOUSING.case_opened(minutes(3), HOUSING.person_id)
    assert needs_sealing(opened)  # the reason is personal
    at_risk = HOUSING.registered(minutes(4), details()).model_copy(
        update={"type": "housing.tenancy_at_risk", "data": {"risk": "rent_arrears"}}
    )
    assert not needs_sealing(at_risk)
    assert seal(at_risk, new_data_key()) == at_risk


def test_erasing_an_events_values_in_place_leaves_its_facts_and_reads_as_erased() -> None:
    """A retraction with its values: every personal value goes, sealed or not; what is not
    personal stays; the event then says its values were erased, and opens as it is."""
    event, key = _referral(), new_data_key()
    sealed = seal(event, key)
    data = all_values_erased(sealed.type, sealed.schema_version, sealed.data)
    assert data is not None
    assert (data["person"], data["reason"], data["to_org"]) == (ERASED, ERASED, "voluntary")
    erased = sealed.model_copy(update={"data": data})
    assert has_erased_values(erased)
    assert not has_erased_values(sealed)
    assert not is_sealed(erased)
    assert unseal(erased, key) == erased  # nothing left to open
    assert all_values_erased(erased.type, erased.schema_version, erased.data) is None
