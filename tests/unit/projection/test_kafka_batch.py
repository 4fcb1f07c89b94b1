"""How the projection sorts a batch of Kafka messages: apply, skip, set aside or read again."""

from events.envelope import OrgId
from services.projection.service_layer.kafka_batch import plan_batch
from services.runtime.kafka.consumed import ConsumedMessage
from services.runtime.kafka.dead_letters import dead_letter_message
from services.runtime.kafka.messages import message_from_envelope
from services.runtime.kafka.offsets import TopicPartition
from tests.factories import an_envelope
from tests.unit.projection.factories import PersonAt, details, minutes

HOUSING = "caseweave.housing.events.v1"
TOPIC_ORGS: dict[str, OrgId] = {HOUSING: "housing"}
TP0 = TopicPartition(HOUSING, 0)


def consumed(offset: int, value: bytes | None = None, partition: int = 0) -> ConsumedMessage:
    if value is None:
        value = message_from_envelope(
            PersonAt("housing").registered(minutes(offset), details())
        ).value
    return ConsumedMessage(HOUSING, partition, offset, b"key", value, (("org", b"housing"),))


def test_messages_in_sequence_are_projected_and_the_next_offset_saved() -> None:
    plan = plan_batch([consumed(0), consumed(1), consumed(2)], applied={}, topic_orgs=TOPIC_ORGS)

    assert len(plan.events) == 3
    assert plan.next_offsets == {TP0: 3}
    assert (plan.poison, plan.rewind, plan.redelivered) == ([], {}, 0)


def test_messages_below_the_saved_offset_are_redeliveries_and_skipped() -> None:
    """After a rebalance or a crash Kafka sends again what PostgreSQL already holds (#502)."""
    plan = plan_batch(
        [consumed(3), consumed(4), consumed(5)], applied={TP0: 5}, topic_orgs=TOPIC_ORGS
    )

    assert plan.redelivered == 2
    assert len(plan.events) == 1
    assert plan.next_offsets == {TP0: 6}


def test_a_partition_that_skips_ahead_is_applied_up_to_the_hole_and_read_again_from_it() -> None:
    plan = plan_batch(
        [consumed(0), consumed(1), consumed(4), consumed(5), consumed(0, partition=1)],
        applied={},
        topic_orgs=TOPIC_ORGS,
    )

    assert plan.rewind == {TP0: 2}
    assert plan.next_offsets == {TP0: 2, TopicPartition(HOUSING, 1): 1}
    assert len(plan.events) == 3


def test_a_batch_that_starts_after_the_saved_offset_applies_nothing_of_that_partition() -> None:
    plan = plan_batch([consumed(7), consumed(8)], applied={TP0: 5}, topic_orgs=TOPIC_ORGS)

    assert plan.rewind == {TP0: 5}
    assert (plan.events, plan.next_offsets) == ([], {})


def test_poison_is_set_aside_with_a_reason_and_still_moves_the_offset() -> None:
    wrong_org = message_from_envelope(an_envelope(org="voluntary")).value
    unknown = message_from_envelope(an_envelope(org="housing", type_="housing.made_up")).value
    invalid = message_from_envelope(
        an_envelope(org="housing", type_="person.registered", data={"person_id": "x"})
    ).value
    messages = [
        consumed(0, b"{not json"),
        consumed(1, wrong_org),
        consumed(2, unknown),
        consumed(3, invalid),
    ]

    plan = plan_batch(messages, applied={}, topic_orgs=TOPIC_ORGS)

    assert [p.reason for p in plan.poison] == [
        "invalid_envelope",
        "wrong_topic",
        "unknown_event_type",
        "invalid_payload",
    ]
    assert plan.next_offsets == {TP0: 4}
    assert plan.poison[0].detail == "(value): json_invalid"
    assert plan.poison[3].detail.startswith("data.")
    assert plan.poison[2].event_type == "housing.made_up"


def test_poison_details_never_quote_the_input() -> None:
    """A payload that fails validation may be full of personal data; the reason names fields."""
    envelope = an_envelope(
        org="housing",
        type_="person.registered",
        data={"person_id": "p", "person": {"family_name": "Smith"}},
    )
    [poison] = plan_batch(
        [consumed(0, message_from_envelope(envelope).value)], applied={}, topic_orgs=TOPIC_ORGS
    ).poison

    assert "Smith" not in poison.detail


def test_a_dead_letter_keeps_the_message_and_says_where_it_came_from_and_why() -> None:
    [poison] = plan_batch([consumed(9, b"nope")], applied={TP0: 9}, topic_orgs=TOPIC_ORGS).poison

    letter = dead_letter_message(poison, consumer="projection")

    headers = dict(letter.headers)
    assert (letter.key, letter.value) == (b"key", b"nope")
    assert headers["org"] == b"housing"  # the original headers travel on
    assert headers["dead_letter_reason"] == b"invalid_envelope"
    assert headers["dead_letter_source_topic"] == HOUSING.encode()
    assert headers["dead_letter_source_offset"] == b"9"
    assert headers["dead_letter_consumer"] == b"projection"


def test_a_partitions_messages_are_taken_in_offset_order_whatever_the_batch_order() -> None:
    """Re-read messages may come after ones fetched earlier: the hole's offset is still taken."""
    plan = plan_batch(
        [consumed(5), consumed(6), consumed(3), consumed(4)],
        applied={TP0: 3},
        topic_orgs=TOPIC_ORGS,
    )

    assert (plan.rewind, plan.next_offsets, len(plan.events)) == ({}, {TP0: 7}, 4)


def test_text_postgresql_cannot_store_is_poison() -> None:
    value = message_from_envelope(
        PersonAt("housing").registered(minutes(0), details(given_name="Da\x00vid"))
    ).value
    [poison] = plan_batch([consumed(0, value)], applied={}, topic_orgs=TOPIC_ORGS).poison

    assert poison.reason == "unstorable"
    assert plan_batch([consumed(0, value)], applied={}, topic_orgs=TOPIC_ORGS).next_offsets == {
        TP0: 1
    }
