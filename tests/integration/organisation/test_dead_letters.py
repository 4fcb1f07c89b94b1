"""The embedded referral inbox parks a referral it cannot read, and receives it once redriven.

Housing sends the next version of `referral.made`, which this release of the voluntary
service does not know: the embedded inbox parks it (before, it failed and retried the batch
for ever, holding up every later referral), the Kafka inbox sends it to the dead-letter
topic, and either receives it once an upgrade teaches it that version and it is redriven.
"""

import os
from collections.abc import Callable, Sequence
from typing import Any
from uuid import UUID, uuid4

import pytest

from events import registry
from events.envelope import Envelope, OrgId
from events.organisations import DEFAULT_ORGANISATIONS
from events.registry import RegisteredType, event_type
from events.shared import ReferralMade
from services.dead_letters.bootstrap import consumers, dead_letter_stores
from services.dead_letters.domain import Selection
from services.dead_letters.service_layer import DeadLetterStore, list_dead_letters, redrive
from services.organisation.adapters.postgres_unit_of_work import Stores
from services.organisation.bootstrap import prepare_database
from services.organisation.entrypoints.kafka_referral_inbox import KafkaReferralInbox
from services.organisation.entrypoints.referral_inbox import ReferralInbox
from services.organisation.service_layer.streams import referral_stream
from services.runtime.database import Pool, apply_ddl, transaction
from services.runtime.event_log import PostgresEventLog
from services.runtime.event_store import EventStore
from services.runtime.event_store_schema import event_store_ddl
from services.runtime.kafka.consumed import ConsumedMessage
from services.runtime.kafka.messages import (
    KafkaMessage,
    envelope_from_value,
    message_from_envelope,
)
from services.runtime.kafka.offsets import TopicPartition
from services.runtime.kafka.publisher import KafkaPublisher
from services.runtime.person_keys import PersonKeys, person_keys_ddl
from services.runtime.sealing import is_sealed, record_of, seal
from services.runtime.subscription import catch_up
from tests.factories import an_envelope
from tests.integration.organisation.running_services import a_fresh_nhs_number
from tests.real_kafka import RealKafka

ID_SECRET = b"dead letter tests"
NEXT_VERSION = ReferralMade.schema_version + 1  # a version this release does not know


def a_referral_of_the_next_version(referral_id: UUID) -> Envelope:
    """Return housing's referral to voluntary, in a version the receiver does not know."""
    person = {"given_name": "Alex", "family_name": "Morgan", "date_of_birth": "1987-05-14"}
    data: dict[str, Any] = {
        "referral_id": str(referral_id), "person_id": str(uuid4()), "to_org": "voluntary",
        "reason": "Food support", "urgency": "urgent", "channel": "phone",
        "person": {**person, "nhs_number": a_fresh_nhs_number()},
    }  # fmt: skip
    return an_envelope(
        org="housing", type_=ReferralMade.event_type, schema_version=NEXT_VERSION,
        category="referral",
        data=data,
    )  # fmt: skip


def upgrade_referrals(monkeypatch: pytest.MonkeyPatch) -> None:
    """Teach this process the next version of `referral.made`, as the next release would."""
    monkeypatch.setattr(registry, "_TYPES", dict(registry._TYPES))
    monkeypatch.setattr(registry, "_LATEST", dict(registry._LATEST))
    current = (ReferralMade.event_type, ReferralMade.schema_version)
    registry._TYPES[current] = RegisteredType(ReferralMade, dict)

    @event_type(ReferralMade.event_type, version=NEXT_VERSION, category="referral")
    class ReferralMadeNext(ReferralMade):
        """A referral, with how the person would like to be contacted (test only)."""

        channel: str


class Inbox:
    """Housing's log, and voluntary's inbox reading it, in schemas of this test's own."""

    def __init__(self, pool: Pool, unique_schema: Callable[[str], str]) -> None:
        self.pool = pool
        self.schemas: dict[OrgId, str] = {
            org: unique_schema(org[:3]) for org in DEFAULT_ORGANISATIONS.ids
        }
        self.projection_schema = unique_schema("proj")

    async def prepare(self) -> None:
        housing = self.schemas["housing"]
        await apply_ddl(self.pool, lock_name=housing, statements=event_store_ddl(housing))
        await prepare_database(self.pool, schema=self.schemas["voluntary"])

    async def send(self, referral: Envelope, referral_id: UUID) -> None:
        store = EventStore(self.schemas["housing"])
        async with transaction(self.pool) as conn:
            stream = referral_stream(referral_id)
            await store.append(conn, stream_id=stream, expected_version=0, events=[referral])

    async def receive(self) -> int:
        stores = Stores.in_schema("voluntary", self.schemas["voluntary"], sector="voluntary")
        inbox = ReferralInbox(self.pool, stores, schema=self.schemas["voluntary"])
        log = PostgresEventLog(self.pool, source="housing", schema=self.schemas["housing"])
        return await catch_up(inbox, [log])

    def dead_letter_stores(self) -> list[DeadLetterStore]:
        found = consumers(
            self.pool, id_secret=ID_SECRET, keys=None, projection_schema=self.projection_schema,
            org_schemas=self.schemas,
        )  # fmt: skip
        return dead_letter_stores(self.pool, found, kafka_bootstrap_servers=None)

    async def received(self, referral: Envelope) -> list[str]:
        """Return the types of the events voluntary recorded because of `referral`."""
        rows = await self.pool.fetch(
            f"SELECT type FROM {self.schemas['voluntary']}.events"  # noqa: S608 - test schema
            " WHERE causation_id = $1 ORDER BY position",
            str(referral.event_id),
        )
        return [row["type"] for row in rows]


@pytest.fixture
async def inbox(pool: Pool, unique_schema: Callable[[str], str]) -> Inbox:
    found = Inbox(pool, unique_schema)
    await found.prepare()
    return found


async def test_a_referral_of_an_unknown_version_is_parked_and_the_inbox_goes_on(
    inbox: Inbox,
) -> None:
    first, later = uuid4(), uuid4()
    unreadable = a_referral_of_the_next_version(first)
    await inbox.send(unreadable, first)
    await inbox.send(an_envelope(org="housing"), later)  # not a referral: passed over
    assert await inbox.receive() == 2  # the batch no longer fails (and is retried) for ever

    [letter] = await list_dead_letters(inbox.dead_letter_stores(), Selection())
    assert (letter.consumer, letter.reason, letter.event_id) == (
        "voluntary_referral_inbox", "unknown_event_type", str(unreadable.event_id),
    )  # fmt: skip
    assert f"version {NEXT_VERSION}" in letter.detail
    assert await inbox.received(unreadable) == []


async def test_a_parked_referral_is_received_once_after_the_upgrade(
    inbox: Inbox, monkeypatch: pytest.MonkeyPatch
) -> None:
    referral_id = uuid4()
    referral = a_referral_of_the_next_version(referral_id)
    await inbox.send(referral, referral_id)
    await inbox.receive()
    stores = inbox.dead_letter_stores()
    [letter] = await list_dead_letters(stores, Selection())

    [too_soon] = await redrive(stores, ids=[letter.id])
    upgrade_referrals(monkeypatch)
    [redriven] = await redrive(stores, ids=[letter.id])
    [again] = await redrive(stores, ids=[letter.id])

    assert [too_soon.result, redriven.result, again.result] == [
        "still_parked", "redriven", "already_redriven",
    ]  # fmt: skip
    assert await inbox.received(referral) == ["person.registered", "referral.received"]
    assert await list_dead_letters(stores, Selection()) == []


async def test_receiving_a_parked_referral_twice_records_it_once(
    inbox: Inbox, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The inbox's own idempotency (ids derived from the referral's) holds past the status."""
    referral_id = uuid4()
    referral = a_referral_of_the_next_version(referral_id)
    await inbox.send(referral, referral_id)
    await inbox.receive()
    upgrade_referrals(monkeypatch)
    receiver = consumers(
        inbox.pool, id_secret=ID_SECRET, keys=None, org_schemas=inbox.schemas,
    )["voluntary_referral_inbox"]  # fmt: skip
    for _ in range(2):
        async with transaction(inbox.pool) as conn:
            assert await receiver.apply_parked(conn, "housing", str(referral.event_id)) is None
    assert await inbox.received(referral) == ["person.registered", "referral.received"]


async def test_a_referral_dead_lettered_in_kafka_mode_is_received_once_redriven(
    inbox: Inbox, kafka: RealKafka, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The Kafka inbox sends the same referral to the dead-letter topic; redriven from there
    after the upgrade, it is received once."""
    referral = a_referral_of_the_next_version(uuid4())
    stores, _, _ = await _dead_lettered_by_the_kafka_inbox(
        inbox, kafka, message_from_envelope(referral), keys=None
    )

    [letter] = await list_dead_letters(stores, Selection())
    assert (letter.consumer, letter.reason) == ("voluntary_referral_inbox", "unknown_event_type")
    upgrade_referrals(monkeypatch)
    results = [*await redrive(stores, ids=[letter.id]), *await redrive(stores, ids=[letter.id])]

    assert [r.result for r in results] == ["redriven", "already_redriven"]
    assert await inbox.received(referral) == ["person.registered", "referral.received"]


async def test_a_sealed_referral_readable_only_once_opened_is_dead_lettered_not_retried(
    inbox: Inbox,
    kafka: RealKafka,
    monkeypatch: pytest.MonkeyPatch,
    unique_schema: Callable[[str], str],
) -> None:
    """With personal values sealed, only opening tells the inbox it cannot read the referral:
    it is set aside then too (it used to fail the batch for ever), and received once redriven."""
    keys = PersonKeys(os.urandom(32), schema=unique_schema("keys"))
    await apply_ddl(inbox.pool, lock_name=keys.schema, statements=person_keys_ddl(keys.schema))
    upgrade_referrals(monkeypatch)  # the sender's release knows that version, and seals it
    plain = a_referral_of_the_next_version(uuid4())
    async with inbox.pool.acquire() as conn:
        key = (await keys.for_writing(conn, [record_of(plain)]))[record_of(plain)]
    sent = message_from_envelope(seal(plain, key))
    assert is_sealed(envelope_from_value(sent.value))
    monkeypatch.undo()  # the receiver's release does not
    stores, source, next_offsets = await _dead_lettered_by_the_kafka_inbox(
        inbox, kafka, sent, keys=keys
    )
    assert next_offsets == {TopicPartition(source, 0): 1}

    [letter] = await list_dead_letters(stores, Selection())
    assert (letter.reason, letter.event_id) == ("unknown_event_type", str(plain.event_id))
    upgrade_referrals(monkeypatch)
    [redriven] = await redrive(stores, ids=[letter.id])

    assert redriven.result == "redriven"
    assert await inbox.received(plain) == ["person.registered", "referral.received"]


async def _dead_lettered_by_the_kafka_inbox(
    inbox: Inbox, kafka: RealKafka, sent: KafkaMessage, *, keys: PersonKeys | None
) -> tuple[Sequence[DeadLetterStore], str, dict[TopicPartition, int]]:
    """Have voluntary's Kafka inbox handle `sent` from housing's topic (a fresh one, with a
    fresh dead-letter topic); return the dead-letter stores ops would act on, the topic, and
    the next offsets the inbox saved."""
    run = uuid4().hex[:8]
    source, dead_letter_topic = f"t{run}.housing.events.v1", f"t{run}.dead_letter.v1"
    for topic in (source, dead_letter_topic):
        kafka.create_topic(topic)
    publisher = KafkaPublisher(kafka.bootstrap_servers, client_id="test-inbox")
    await publisher.start()
    try:
        receiving = KafkaReferralInbox(
            inbox.pool,
            Stores.in_schema(
                "voluntary", inbox.schemas["voluntary"], sector="voluntary", keys=keys
            ),
            publisher, schema=inbox.schemas["voluntary"],
            bootstrap_servers=kafka.bootstrap_servers, topics=[source],
            dead_letter_topic=dead_letter_topic,
        )  # fmt: skip
        received = ConsumedMessage(source, 0, 0, sent.key, sent.value, sent.headers)
        next_offsets = await receiving.handle([received])
    finally:
        await publisher.stop()
    found = consumers(inbox.pool, id_secret=ID_SECRET, keys=keys, org_schemas=inbox.schemas)
    stores = dead_letter_stores(
        inbox.pool, found, kafka_bootstrap_servers=kafka.bootstrap_servers,
        dead_letter_topic=dead_letter_topic,
    )  # fmt: skip
    return stores, source, next_offsets
