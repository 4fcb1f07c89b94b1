"""A change of how an organisation knows the person, folded into the single view: the
registration's values and since when, and the best-known identity, in any arrival order."""

import json
from datetime import date
from uuid import uuid4

from events.envelope import Envelope
from events.shared import DetailsChange, PersonDetailsChanged
from services.projection.domain.fold import new_view
from tests.unit.projection.factories import PersonAt, details, folded, interleaved, minutes

CITIZEN = uuid4()


def _changed(person: PersonAt, at_minute: float, **changes: object) -> Envelope:
    change = DetailsChange.model_validate(changes)
    payload = PersonDetailsChanged(person_id=person.person_id, changes=change)
    return person.event(payload, minutes(at_minute))


def test_a_change_updates_the_registration_and_says_since_when() -> None:
    housing = PersonAt("housing")
    view = folded(
        [
            housing.registered(minutes(0), details(postcode="BS5 6XX")),
            _changed(housing, 10, postcode="BS1 4DJ", family_name="Smith-Jones"),
        ]
    )
    [involvement] = view.involvements
    registration = involvement.registration
    assert registration is not None
    assert (registration.known_as.postcode, registration.known_as.family_name) == (
        "BS1 4DJ", "Smith-Jones",
    )  # fmt: skip
    assert (registration.occurred_at, registration.changed_at) == (minutes(0), minutes(10))
    assert view.identity.postcode is not None
    assert (view.identity.postcode.value, view.identity.postcode.as_of) == ("BS1 4DJ", minutes(10))
    assert view.identity.date_of_birth is not None
    assert view.identity.date_of_birth.value == date(1979, 3, 12)


def test_a_moved_person_shows_the_new_postcode_once_as_well_attested_in_any_order() -> None:
    """Housing and the charity knew him at BS5 6XX; housing records the move to BS1 4DJ,
    then the charity does too: the new value wins, shown as its first attester had it (housing,
    since its change), in any order."""
    housing, charity = PersonAt("housing"), PersonAt("voluntary")
    logs = [
        [
            housing.registered(minutes(0), details(postcode="BS5 6XX")),
            _changed(housing, 20, postcode="BS1 4DJ"),
        ],
        [
            charity.registered(minutes(5), details(postcode="BS5 6XX", nhs_number=None)),
            _changed(charity, 30, postcode="BS1 4DJ"),
        ],
    ]
    views = {
        folded(interleaved(logs, seed), new_view(CITIZEN)).model_dump_json() for seed in range(12)
    }
    assert len(views) == 1
    [one] = views
    assert json.loads(one)["identity"]["postcode"] == {
        "org": "housing", "as_of": "2026-03-02T09:20:00Z", "value": "BS1 4DJ",
    }  # fmt: skip
