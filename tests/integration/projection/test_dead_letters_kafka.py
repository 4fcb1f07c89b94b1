"""The projection's dead letters on a real Kafka's dead-letter topic, through the use cases.

The Faust worker sets aside an event of a type this release does not know; it is listed and
shown from the dead-letter topic, redriven too soon (still parked, said so), redriven after
the upgrade (applied once, however often redriven), and another one discarded.
"""

from collections.abc import AsyncIterator, Callable

import pytest

from services.dead_letters.bootstrap import consumers, dead_letter_stores
from services.dead_letters.domain import Selection, TopicOrigin
from services.dead_letters.rendering import shown
from services.dead_letters.service_layer import (
    DeadLetterStore,
    discard,
    list_dead_letters,
    redrive,
    show_dead_letter,
)
from services.runtime.kafka.messages import message_from_envelope
from tests.integration.dead_letter_support import (
    SUPPORT_PLAN,
    CountingFold,
    support_plan_agreed,
    upgrade,
)
from tests.integration.projection.conftest import ID_SECRET, Organisations, eventually
from tests.integration.projection.kafka_projection_fixtures import KafkaTopics, kafka_topics
from tests.real_kafka import RealKafka
from tests.unit.projection.factories import PersonAt, details, minutes


@pytest.fixture
async def topics(kafka: RealKafka) -> AsyncIterator[KafkaTopics]:
    async with kafka_topics(kafka) as found:
        yield found


def the_stores(
    orgs: Organisations, topics: KafkaTopics, fold: CountingFold
) -> list[DeadLetterStore]:
    found = consumers(
        orgs.pool, id_secret=ID_SECRET, keys=None, projection_schema=orgs.schema,
        org_schemas=orgs.sources, topic_orgs=topics.topic_orgs, fold_batch=fold,
    )  # fmt: skip
    return dead_letter_stores(
        orgs.pool, found, kafka_bootstrap_servers=topics.kafka.bootstrap_servers,
        dead_letter_topic=topics.dead_letter_topic,
    )  # fmt: skip


async def in_timeline(orgs: Organisations, event_id: object) -> int:
    count: int = await orgs.pool.fetchval(
        f"SELECT count(*) FROM {orgs.schema}.timeline WHERE event_id = $1",  # noqa: S608
        event_id,
    )
    return count


async def test_an_unknown_event_type_dead_lettered_in_kafka_mode_is_applied_once_redriven(
    orgs: Organisations,
    topics: KafkaTopics,
    database_url: str,
    monkeypatch: pytest.MonkeyPatch,
    unique_schema: Callable[[str], str],
) -> None:
    person = PersonAt("housing")
    registered = person.registered(minutes(0), details())
    plan, other = support_plan_agreed(person, minutes(1)), support_plan_agreed(person, minutes(2))
    await orgs.record([registered, plan])  # for the reference view only
    topics.start_worker(orgs, database_url)
    await topics.publish({"housing": [registered, plan, other]})
    fold = CountingFold()
    stores = the_stores(orgs, topics, fold)

    async def both_parked() -> list[object]:
        return letters if len(letters := await list_dead_letters(stores, Selection())) == 2 else []

    letters = await eventually(both_parked, within=30, what="two dead letters")
    by_event = {letter.event_id: letter for letter in letters}
    letter, unwanted = by_event[str(plan.event_id)], by_event[str(other.event_id)]
    assert (letter.consumer, letter.reason, letter.event_type) == (
        "projection", "unknown_event_type", SUPPORT_PLAN,
    )  # fmt: skip
    assert isinstance(letter.origin, TopicOrigin)
    assert letter.origin.topic == topics.topic_of["housing"]

    found = await show_dead_letter(stores, letter.id)
    assert found is not None
    told = shown(*found, payload=False)
    assert told["headers"]["event_id"] == str(plan.event_id)
    assert person.subject not in str(told)
    assert found[1] is not None
    assert found[1].value == message_from_envelope(plan).value
    unlisted = await the_stores(orgs, topics, fold)[0].message(letter)  # read by its position
    assert unlisted is not None
    assert unlisted.value == found[1].value

    [too_soon] = await redrive(stores, ids=[letter.id])
    assert (too_soon.result, too_soon.reason) == ("still_parked", "unknown_event_type")
    upgrade(monkeypatch)
    [redriven] = await redrive(stores, ids=[letter.id])
    [again] = await redrive(stores, ids=[letter.id])
    [discarded] = await discard(stores, ids=[unwanted.id])

    assert (redriven.result, again.result, discarded.result) == (
        "redriven", "already_redriven", "discarded",
    )  # fmt: skip
    assert await in_timeline(orgs, plan.event_id) == 1
    assert fold.applied[plan.event_id] == 1
    assert await in_timeline(orgs, other.event_id) == 0
    assert await list_dead_letters(stores, Selection()) == []
    settled = await list_dead_letters(stores, Selection(settled_too=True))
    assert {s.id: (s.status, s.attempts) for s in settled} == {
        letter.id: ("redriven", 2), unwanted.id: ("discarded", 0),
    }  # fmt: skip
    assert await orgs.snapshot() == await orgs.reference(unique_schema)
