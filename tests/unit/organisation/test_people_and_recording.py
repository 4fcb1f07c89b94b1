"""People fold from their stream; every event's envelope is filled from its payload and context."""

from datetime import timedelta
from uuid import uuid4

import pytest
from pydantic_core import PydanticCustomError

from services.organisation.domain.people import (
    details_from_referral,
    person_from,
    register_person,
)
from services.organisation.domain.recording import check_not_in_future, envelope_for
from tests.unit.organisation.domain_examples import DETAILS, NOW, PLACE, a_recording, recorded


def test_a_registered_person_folds_to_their_details_place_and_version() -> None:
    """After person.registered, the state holds the details, the place and version 1."""
    person_id = uuid4()
    state = person_from(recorded(register_person(person_id, DETAILS), subject=person_id))
    assert state is not None
    assert (state.person_id, state.details, state.place, state.version) == (
        person_id,
        DETAILS,
        PLACE,
        1,
    )
    assert state.registered_at == NOW


def test_an_empty_stream_is_no_person() -> None:
    """Nothing recorded means nobody registered."""
    assert person_from([]) is None


def test_a_referred_persons_details_lose_the_senders_local_id() -> None:
    """The sender's local id means nothing to the receiver, and could clash with its own ids."""
    kept = details_from_referral(DETAILS)
    assert kept.local_id is None
    assert kept.nhs_number == DETAILS.nhs_number


def test_an_envelope_takes_type_version_and_category_from_the_payload() -> None:
    """The envelope names the payload's type, and the caller, correlation and person given."""
    person_id = uuid4()
    payload = register_person(person_id, DETAILS)
    envelope = envelope_for(payload, recording=a_recording(), subject=person_id, place=PLACE)
    assert (envelope.type, envelope.schema_version, envelope.category) == (
        "person.registered",
        2,
        "person.identity",
    )
    assert envelope.subject == str(person_id)
    assert (envelope.org, envelope.actor) == ("housing", "housing/frontline/k1")
    assert (envelope.correlation_id, envelope.causation_id) == ("corr-1", None)
    assert envelope.data == payload.model_dump(mode="json")
    assert envelope.occurred_at == envelope.recorded_at == NOW


def test_an_envelope_keeps_a_given_event_id_and_occurrence_time() -> None:
    """A derived event keeps its deterministic id; a backdated event keeps when it happened."""
    event_id, earlier = uuid4(), NOW - timedelta(days=2)
    envelope = envelope_for(
        register_person(uuid4(), DETAILS),
        recording=a_recording(),
        subject=uuid4(),
        place=PLACE,
        occurred_at=earlier,
        event_id=event_id,
    )
    assert (envelope.event_id, envelope.occurred_at, envelope.recorded_at) == (
        event_id,
        earlier,
        NOW,
    )


def test_an_event_may_have_happened_up_to_five_minutes_ahead_of_our_clock() -> None:
    """Clocks disagree a little; further ahead is refused with its own rule."""
    assert check_not_in_future(NOW + timedelta(minutes=5), now=NOW) == NOW + timedelta(minutes=5)
    with pytest.raises(PydanticCustomError) as refused:
        check_not_in_future(NOW + timedelta(minutes=6), now=NOW)
    assert refused.value.type == "occurred_at_in_future"
