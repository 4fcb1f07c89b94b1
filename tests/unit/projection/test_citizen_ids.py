"""Citizen ids: stable across replays and organisations, keyed by a secret, not reversible."""

from uuid import uuid4

from services.projection.domain.citizen_ids import citizen_id_for
from tests.unit.projection.factories import NHS_NUMBER

SECRET = b"test secret"


def test_registrations_with_one_nhs_number_share_a_citizen_id_across_organisations() -> None:
    """Housing and the charity registering the same NHS number name the same citizen."""
    housing = citizen_id_for(SECRET, org="housing", person_id=str(uuid4()), nhs_number=NHS_NUMBER)
    charity = citizen_id_for(SECRET, org="voluntary", person_id=str(uuid4()), nhs_number=NHS_NUMBER)
    assert housing == charity


def test_a_registration_without_an_nhs_number_is_a_citizen_of_its_own() -> None:
    """Without an NHS number, each organisation's person is their own citizen, every replay."""
    person_id = str(uuid4())
    first = citizen_id_for(SECRET, org="housing", person_id=person_id, nhs_number=None)
    again = citizen_id_for(SECRET, org="housing", person_id=person_id, nhs_number=None)
    elsewhere = citizen_id_for(SECRET, org="voluntary", person_id=person_id, nhs_number=None)
    assert first == again != elsewhere


def test_the_id_depends_on_the_secret_and_does_not_show_the_nhs_number() -> None:
    """Another secret gives another id, and the id is a version 8 UUID with no NHS digits."""
    ours = citizen_id_for(SECRET, org="housing", person_id="p", nhs_number=NHS_NUMBER)
    theirs = citizen_id_for(b"other", org="housing", person_id="p", nhs_number=NHS_NUMBER)
    assert ours != theirs
    assert ours.version == 8
    assert ours.variant == "specified in RFC 4122"
    assert NHS_NUMBER not in ours.hex
