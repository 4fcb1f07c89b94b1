"""Which Kafka messages the referral inbox acts on: its referrals, poison, or not its business."""

from uuid import uuid4

from services.organisation.service_layer.referral_messages import referral_in
from services.runtime.kafka.consumed import ConsumedMessage, PoisonMessage
from services.runtime.kafka.messages import KafkaMessage, message_from_envelope
from tests.factories import an_envelope

PERSON = {
    "given_name": "Dave",
    "family_name": "Smith",
    "date_of_birth": "1979-03-12",
    "nhs_number": None,
    "postcode": None,
}


def consumed(message: KafkaMessage) -> ConsumedMessage:
    return ConsumedMessage(
        "caseweave.housing.events.v1", 0, 7, message.key, message.value, message.headers
    )


def referral(to_org: str, **data: object) -> KafkaMessage:
    payload = {
        "referral_id": str(uuid4()), "person_id": str(uuid4()), "to_org": to_org, "reason": "food",
        "urgency": "routine", "person": PERSON, **data,
    }  # fmt: skip
    return message_from_envelope(an_envelope(org="housing", type_="referral.made", data=payload))


def test_a_referral_to_this_organisation_is_received() -> None:
    outcome = referral_in(consumed(referral("voluntary")), "voluntary")

    assert not isinstance(outcome, PoisonMessage)
    assert outcome is not None
    assert outcome.type == "referral.made"


def test_referrals_to_others_and_other_events_are_passed_over() -> None:
    assert referral_in(consumed(referral("mental_health")), "voluntary") is None
    assert (
        referral_in(consumed(message_from_envelope(an_envelope(org="housing"))), "voluntary")
        is None
    )


def test_a_message_that_says_it_is_a_referral_but_cannot_be_read_is_poison() -> None:
    broken = KafkaMessage(b"k", b"{broken", (("event_type", b"referral.made"),))
    invalid = referral("voluntary", urgency="whenever")

    outcomes = [referral_in(consumed(m), "voluntary") for m in (broken, invalid)]

    assert [o.reason for o in outcomes if isinstance(o, PoisonMessage)] == [
        "invalid_envelope",
        "invalid_payload",
    ]


def test_an_unreadable_message_that_is_not_a_referral_is_left_to_the_projection() -> None:
    assert referral_in(consumed(KafkaMessage(b"k", b"{broken", ())), "voluntary") is None
