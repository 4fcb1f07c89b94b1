"""An event travels to Kafka keyed by person, with its JSON as value and routing headers."""

from services.runtime.kafka.messages import (
    envelope_from_value,
    header_values,
    message_from_envelope,
)
from tests.factories import an_envelope


def test_the_key_is_the_organisations_person_reference() -> None:
    """Every event about one person shares a key, so it shares a partition and keeps order."""
    envelope = an_envelope(subject="HOU-000123")

    assert message_from_envelope(envelope).key == b"HOU-000123"


def test_the_value_round_trips_to_the_same_envelope() -> None:
    """A consumer decoding the value gets back exactly the event that was appended."""
    envelope = an_envelope(data={"reason": "rent arrears", "amount": 12.5}, causation_id="c-1")

    assert envelope_from_value(message_from_envelope(envelope).value) == envelope


def test_headers_name_the_event_without_decoding_the_value() -> None:
    """Id, type, schema version, correlation id and organisation travel as text headers."""
    envelope = an_envelope(org="voluntary", type_="referral.made", schema_version=2)

    headers = header_values(message_from_envelope(envelope).headers)

    assert headers == {
        "event_id": str(envelope.event_id),
        "event_type": "referral.made",
        "schema_version": "2",
        "correlation_id": envelope.correlation_id,
        "org": "voluntary",
    }
