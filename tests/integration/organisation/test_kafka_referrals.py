"""In Kafka mode a referral travels on the sender's topic to the receiver's inbox.

Every organisation service runs in Kafka mode against a real Kafka of the test's own:
housing's relay publishes `referral.made` to `caseweave.housing.events.v1`, and the voluntary
service's inbox (a consumer group of its own) receives it from there, never from housing's
tables.
"""

import uuid
from collections.abc import AsyncIterator, Iterator

import pytest
from aiokafka import AIOKafkaConsumer

from events.envelope import OrgId
from services.organisation.entrypoints.kafka_referral_inbox import KafkaReferralInbox
from services.runtime.database import Pool
from services.runtime.kafka.consumed import ConsumedMessage, consumed_message
from services.runtime.kafka.messages import KafkaMessage
from services.runtime.kafka.publisher import KafkaPublisher
from services.runtime.kafka.topics import DEAD_LETTER_TOPIC, events_topic, wanted_topics
from services.runtime.settings import Settings
from tests.integration.organisation.running_services import (
    RunningService,
    eventually,
    running_services,
)
from tests.integration.organisation.sample_requests import (
    KEY_WORKER,
    a_housing_referral,
    a_received_referral,
    received_by,
)
from tests.real_kafka import RealKafka, real_kafka


@pytest.fixture
def broker() -> Iterator[RealKafka]:
    with real_kafka() as kafka:
        for topic in wanted_topics(Settings(kafka_partitions=3)):
            kafka.create_topic(topic.name, partitions=topic.partitions)
        yield kafka


@pytest.fixture
async def kafka_services(
    database_url: str, pool: Pool, broker: RealKafka
) -> AsyncIterator[dict[OrgId, RunningService]]:
    async with running_services(
        database_url, pool, kafka_bootstrap_servers=broker.bootstrap_servers
    ) as services:
        yield services


async def topic_messages(broker: RealKafka, topic: str) -> list[ConsumedMessage]:
    """Read every message on `topic` so far."""
    consumer = AIOKafkaConsumer(
        topic, bootstrap_servers=broker.bootstrap_servers, auto_offset_reset="earliest",
        enable_auto_commit=False, group_id=f"reader-{uuid.uuid4().hex[:8]}",
    )  # fmt: skip
    await consumer.start()
    found: list[ConsumedMessage] = []
    try:
        while batch := await consumer.getmany(timeout_ms=1000):
            for records in batch.values():
                found += [consumed_message(r) for r in records]
    finally:
        await consumer.stop()
    return found


async def test_a_referral_reaches_the_receiver_and_its_answer_the_sender_through_topics(
    kafka_services: dict[OrgId, RunningService],
) -> None:
    housing, voluntary = kafka_services["housing"], kafka_services["voluntary"]
    _, made = await a_housing_referral(housing)
    referral_id = made.json()["referral_id"]

    received = await received_by(voluntary, referral_id)

    assert received["status"] == "received"
    assert received["from_org"] == "housing"
    assert isinstance(voluntary.served.referral_inbox, KafkaReferralInbox)
    accepted = await voluntary.post(
        f"/v1/referrals/{referral_id}/accept", {"key_worker": KEY_WORKER}
    )
    assert accepted.status_code == 200, accepted.text

    async def answered() -> dict[str, object] | None:  # back on the charity's topic
        sent: dict[str, object] = (await housing.get(f"/v1/referrals/{referral_id}")).json()
        return sent if sent["status"] == "accepted" else None

    sent = await eventually(answered, within_seconds=30)
    assert sent["key_worker"] == {**KEY_WORKER, "team": None, "phone": None}


async def test_redelivered_referrals_write_nothing_new(
    kafka_services: dict[OrgId, RunningService], broker: RealKafka
) -> None:
    """Every message of housing's topic handled again, even with the saved offsets lost."""
    housing, voluntary = kafka_services["housing"], kafka_services["voluntary"]
    await a_received_referral(housing, voluntary)
    before = await voluntary.count_events()
    inbox: KafkaReferralInbox = voluntary.served.referral_inbox
    messages = await topic_messages(broker, events_topic("housing"))

    assert await inbox.handle(messages) == {}  # all below the saved offsets: skipped
    async with voluntary.pool.acquire() as conn:
        await inbox.offsets.reset(conn)
    await inbox.handle(messages)  # applied again: receiving is idempotent
    assert await voluntary.count_events() == before


async def test_a_referral_the_inbox_cannot_read_goes_to_the_dead_letter_topic(
    kafka_services: dict[OrgId, RunningService], broker: RealKafka
) -> None:
    """A broken referral.made is set aside with its reason; the next referral still arrives."""
    housing, voluntary = kafka_services["housing"], kafka_services["voluntary"]
    publisher = KafkaPublisher(broker.bootstrap_servers)
    await publisher.start()
    try:
        await publisher.publish(
            events_topic("housing"),
            [KafkaMessage(b"p-1", b"{broken", (("event_type", b"referral.made"),))],
        )
    finally:
        await publisher.stop()

    await a_received_referral(housing, voluntary)

    async def inbox_dead_letters() -> list[ConsumedMessage] | None:
        found = [
            m
            for m in await topic_messages(broker, DEAD_LETTER_TOPIC)
            if dict(m.headers).get("dead_letter_consumer") == b"voluntary_referral_inbox"
        ]
        return found or None

    # the poison may sit on another partition than the referral, read later
    dead = await eventually(inbox_dead_letters, within_seconds=15)
    assert [dict(m.headers)["dead_letter_reason"] for m in dead] == [b"invalid_envelope"]
    assert dead[0].value == b"{broken"
