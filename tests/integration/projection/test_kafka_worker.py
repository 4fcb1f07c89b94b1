"""The Faust projection worker builds the same single view from Kafka as from the logs.

Over a real Apache Kafka (the run's one-node cluster) and a real PostgreSQL: the
organisations' events are published to their topics as the outbox relay would, and the
worker's view is compared with one built by the embedded mode from the same events.
"""

import asyncio
import contextlib
import threading
import time
from collections.abc import (
    AsyncIterator,
    Callable,
    Collection,
    Coroutine,
    Iterable,
    Mapping,
    Sequence,
)
from typing import Any
from uuid import UUID

import asyncpg
import faust
import pytest
from structlog.testing import capture_logs

from events.envelope import Envelope, OrgId
from events.registry import EventPayload
from services.projection.adapters.read_model_schema import CONSUMER
from services.projection.domain.fold import fold
from services.projection.domain.view import CitizenView
from services.projection.entrypoints.faust_worker import (
    FaustPartitions,
    create_faust_app,
    run_faust_app,
)
from services.projection.entrypoints.kafka_replay import rebuild_projection_from_topics
from services.projection.service_layer.kafka_projection import KafkaProjection
from services.runtime.kafka.consumed import ConsumedMessage
from services.runtime.kafka.dead_letters import DeadLetterRecord
from services.runtime.kafka.messages import KafkaMessage, message_from_envelope
from services.runtime.kafka.offsets import KafkaOffsets, TopicPartition
from services.runtime.kafka.publisher import TopicMissing
from tests.factories import an_envelope
from tests.integration.projection.conftest import ID_SECRET, Organisations, eventually
from tests.integration.projection.kafka_projection_fixtures import (
    SESSION_TIMEOUT_SECONDS,
    KafkaTopics,
    kafka_topics,
)
from tests.real_kafka import RealKafka
from tests.unit.projection.stories import crowd, three_organisations_story

Logs = Mapping[OrgId, Sequence[Envelope]]
Views = Mapping[UUID, CitizenView]
Targets = Iterable[tuple[UUID, Envelope, EventPayload]]


@pytest.fixture
async def topics(kafka: RealKafka) -> AsyncIterator[KafkaTopics]:
    async with kafka_topics(kafka) as found:
        yield found


async def timeline_size(orgs: Organisations, schema: str | None = None) -> int:
    try:
        count: int = await orgs.pool.fetchval(
            f"SELECT count(*) FROM {schema or orgs.schema}.timeline"  # noqa: S608
        )
    except asyncpg.UndefinedTableError:  # a replay has not made its version yet
        return 0
    return count


async def applied_offsets(orgs: Organisations) -> int:
    """Return how many messages the saved offsets say were applied, over every partition."""
    async with orgs.pool.acquire() as conn:
        offsets = await KafkaOffsets(orgs.schema, consumer=CONSUMER).all(conn)
    return sum(offsets.values())


async def until_applied(orgs: Organisations, messages: int, *, within: float = 30) -> None:
    """Wait until the worker has applied `messages` messages (by its saved offsets)."""

    async def done() -> bool:
        return await applied_offsets(orgs) >= messages

    await eventually(done, within=within, what=f"{messages} messages applied")


def size(logs: Logs) -> int:
    return sum(len(events) for events in logs.values())


async def test_the_worker_builds_the_view_the_embedded_mode_builds(
    orgs: Organisations,
    topics: KafkaTopics,
    database_url: str,
    unique_schema: Callable[[str], str],
) -> None:
    story = three_organisations_story()
    await orgs.record([e for events in story.values() for e in events])
    topics.start_worker(orgs, database_url)
    await topics.publish(story)
    await until_applied(orgs, size(story))
    assert await timeline_size(orgs) == size(story)
    assert await orgs.snapshot() == await orgs.reference(unique_schema)


async def test_organisations_arriving_out_of_order_give_the_same_view(
    orgs: Organisations,
    topics: KafkaTopics,
    database_url: str,
    unique_schema: Callable[[str], str],
) -> None:
    """The charity's and the clinic's events land first, housing's (with the referral) last."""
    story = three_organisations_story()
    await orgs.record([e for events in story.values() for e in events])
    topics.start_worker(orgs, database_url)
    await topics.publish({"voluntary": story["voluntary"], "mental_health": story["mental_health"]})
    await until_applied(orgs, len(story["voluntary"]) + len(story["mental_health"]))
    await topics.publish({"housing": story["housing"]})
    await until_applied(orgs, size(story))
    assert await orgs.snapshot() == await orgs.reference(unique_schema)


async def test_a_relay_resending_everything_doubles_nothing(
    orgs: Organisations,
    topics: KafkaTopics,
    database_url: str,
    unique_schema: Callable[[str], str],
) -> None:
    """The relay died after the acks, before its checkpoint: the same events come again."""
    logs = crowd(40)
    await orgs.record_logs(logs)
    topics.start_worker(orgs, database_url)
    await topics.publish(logs)
    await topics.publish(logs)
    await until_applied(orgs, 2 * size(logs))
    assert await timeline_size(orgs) == size(logs)
    assert await orgs.snapshot() == await orgs.reference(unique_schema)


async def test_a_worker_stopped_mid_batch_and_restarted_applies_everything_once(
    orgs: Organisations,
    topics: KafkaTopics,
    database_url: str,
    unique_schema: Callable[[str], str],
) -> None:
    """Stopped while the first (slow) batch is in PostgreSQL: it still lands, nothing twice."""
    logs = crowd(150)
    await orgs.record_logs(logs)
    folding = asyncio.Event()

    def slow_fold(views: Views, events: Targets) -> dict[UUID, CitizenView]:
        folding.set()
        time.sleep(0.3)  # a batch that takes a while, so the stop arrives in the middle
        return fold(views, events)

    stop = topics.start_worker(orgs, database_url, fold_batch=slow_fold)
    await topics.publish(logs)
    await asyncio.wait_for(folding.wait(), 20)
    stop.set()
    await topics.stop_workers()
    applied_before_restart = await applied_offsets(orgs)
    assert 0 < applied_before_restart < size(logs)  # the batch in flight landed, not more

    topics.start_worker(orgs, database_url)
    await until_applied(orgs, size(logs))
    assert await timeline_size(orgs) == size(logs)
    assert await orgs.snapshot() == await orgs.reference(unique_schema)


async def test_a_batch_whose_transaction_fails_is_applied_when_the_failure_passes(
    orgs: Organisations,
    topics: KafkaTopics,
    database_url: str,
    unique_schema: Callable[[str], str],
) -> None:
    """Faust acks a batch even if the agent raises; ours never does, it retries instead."""
    logs = crowd(20)
    await orgs.record_logs(logs)
    failures = 3

    def failing_fold(views: Views, events: Targets) -> dict[UUID, CitizenView]:
        nonlocal failures
        if failures:
            failures -= 1
            raise ConnectionResetError("injected: PostgreSQL went away mid-batch")
        return fold(views, events)

    topics.start_worker(orgs, database_url, fold_batch=failing_fold)
    await topics.publish(logs)
    await until_applied(orgs, size(logs))
    assert failures == 0
    assert await timeline_size(orgs) == size(logs)
    assert await orgs.snapshot() == await orgs.reference(unique_schema)


async def test_a_slow_postgresql_holds_the_worker_back_without_losing_events(
    orgs: Organisations,
    topics: KafkaTopics,
    database_url: str,
    unique_schema: Callable[[str], str],
) -> None:
    """Another session locks the projection's tables for two seconds while events pour in."""
    logs = crowd(100)
    await orgs.record_logs(logs)
    topics.start_worker(orgs, database_url)
    async with orgs.pool.acquire() as blocker, blocker.transaction():
        await blocker.execute(f"LOCK TABLE {orgs.schema}.kafka_offsets IN ACCESS EXCLUSIVE MODE")
        await topics.publish(logs)
        await asyncio.sleep(2)
        assert await timeline_size(orgs) == 0
    await until_applied(orgs, size(logs))
    assert await timeline_size(orgs) == size(logs)
    assert await orgs.snapshot() == await orgs.reference(unique_schema)


async def test_the_worker_survives_its_database_connections_being_killed(
    orgs: Organisations,
    topics: KafkaTopics,
    database_url: str,
    unique_schema: Callable[[str], str],
) -> None:
    logs = crowd(150)
    await orgs.record_logs(logs)
    topics.start_worker(orgs, database_url)
    await topics.publish(logs)
    for _ in range(5):
        await asyncio.sleep(0.3)
        await orgs.pool.execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
            " WHERE datname = current_database() AND pid <> pg_backend_pid()"
            " AND query LIKE '%kafka_offsets%'"
        )
    await until_applied(orgs, size(logs), within=60)
    assert await timeline_size(orgs) == size(logs)
    assert await orgs.snapshot() == await orgs.reference(unique_schema)


async def test_two_workers_share_the_partitions_and_a_rebalance_doubles_nothing(
    orgs: Organisations,
    topics: KafkaTopics,
    database_url: str,
    unique_schema: Callable[[str], str],
) -> None:
    """A second worker joins mid-stream: partitions move, some messages come twice (#502)."""
    logs = crowd(150)
    await orgs.record_logs(logs)
    topics.start_worker(orgs, database_url)
    await topics.publish(logs)
    await eventually(lambda: applied_offsets(orgs), within=20, what="the first batch")
    topics.start_worker(orgs, database_url)
    await until_applied(orgs, size(logs), within=60)
    assert await timeline_size(orgs) == size(logs)
    assert await orgs.snapshot() == await orgs.reference(unique_schema)


async def test_poison_messages_go_to_the_dead_letter_topic_and_the_rest_is_applied(
    orgs: Organisations,
    topics: KafkaTopics,
    database_url: str,
    unique_schema: Callable[[str], str],
) -> None:
    story = three_organisations_story()
    await orgs.record([e for events in story.values() for e in events])
    good = message_from_envelope(story["housing"][0])
    poison = [
        KafkaMessage(key=b"p1", value=b"{not json", headers=()),
        message_from_envelope(an_envelope(org="housing", type_="housing.made_up")),
        message_from_envelope(
            an_envelope(org="housing", type_="person.registered", data={"person_id": "x"})
        ),
        message_from_envelope(an_envelope(org="voluntary")),  # on housing's topic
        message_from_envelope(  # valid JSON and valid for pydantic; PostgreSQL cannot store it
            an_envelope(org="housing", type_="test.happened", subject="NUL\x00")
        ),
    ]
    topics.start_worker(orgs, database_url)
    await topics.publish_raw("housing", [poison[0], good, *poison[1:]])
    await topics.publish(
        {"housing": story["housing"][1:], **{o: story[o] for o in ("mental_health", "voluntary")}}
    )
    await until_applied(orgs, size(story) + len(poison))

    assert await orgs.snapshot() == await orgs.reference(unique_schema)
    dead = await topics.dead_letters(len(poison))
    reasons = sorted(headers["dead_letter_reason"].decode() for _, headers in dead)
    assert reasons == [
        "invalid_envelope", "invalid_payload", "unknown_event_type", "unstorable", "wrong_topic",
    ]  # fmt: skip
    assert {value for value, _ in dead} == {m.value for m in poison}
    for _, headers in dead:
        assert headers["dead_letter_source_topic"].decode() == topics.topic_of["housing"]
        assert headers["dead_letter_detail"]
    async with orgs.pool.acquire() as conn:
        counted = await DeadLetterRecord(orgs.schema, consumer=CONSUMER).count_by_reason(conn)
    assert counted == dict.fromkeys(reasons, 1)


async def test_a_message_postgresql_refuses_is_set_aside_and_its_batch_applied(
    orgs: Organisations,
    topics: KafkaTopics,
    database_url: str,
    unique_schema: Callable[[str], str],
) -> None:
    """One event the database rejects (DataError) must not hold its partitions back for ever."""
    logs = crowd(20)
    await orgs.record_logs(logs)
    refused = logs["voluntary"][5]

    def refusing_fold(views: Views, events: Targets) -> dict[UUID, CitizenView]:
        listed = list(events)
        if any(envelope.event_id == refused.event_id for _, envelope, _ in listed):
            raise asyncpg.DataError("injected: a value PostgreSQL cannot store")
        return fold(views, listed)

    topics.start_worker(orgs, database_url, fold_batch=refusing_fold)
    await topics.publish(logs)
    await until_applied(orgs, size(logs))

    [(_, headers)] = await topics.dead_letters(1)
    assert headers["dead_letter_reason"] == b"unstorable"
    assert headers["event_id"] == str(refused.event_id).encode()
    assert await timeline_size(orgs) == size(logs) - 1


async def test_the_worker_will_not_start_without_its_topics(
    orgs: Organisations, topics: KafkaTopics, database_url: str
) -> None:
    topics.topic_of["voluntary"] = "caseweave.never-created.events.v1"
    stop = topics.start_worker(orgs, database_url)
    stop.set()
    with pytest.raises(TopicMissing, match="never-created"):
        await topics.stop_workers()


def a_projection(orgs: Organisations, topics: KafkaTopics) -> KafkaProjection:
    """The worker's batch applier over this test's topics, without Faust around it."""
    return KafkaProjection(
        orgs.pool,
        topics.publisher,
        id_secret=ID_SECRET,
        schema=orgs.schema,
        topic_orgs=topics.topic_orgs,
    )


class RecordedPartitions:
    """The consumer side, faked: a partition start, and the rewinds asked for."""

    def __init__(self, earliest: int) -> None:
        self.earliest = earliest
        self.rewinds: list[tuple[TopicPartition, int]] = []

    async def earliest_offsets(
        self, partitions: Collection[TopicPartition]
    ) -> dict[TopicPartition, int]:
        return dict.fromkeys(partitions, self.earliest)

    async def rewind(self, partition: TopicPartition, offset: int) -> None:
        self.rewinds.append((partition, offset))


def consumed_log(
    topic: str, events: Sequence[Envelope], offsets: Iterable[int]
) -> list[ConsumedMessage]:
    return [
        ConsumedMessage(topic, 0, offset, m.key, m.value, m.headers)
        for offset, m in zip(offsets, map(message_from_envelope, events), strict=True)
    ]


async def test_messages_the_consumer_skipped_are_read_again_before_anything_after_them(
    orgs: Organisations, topics: KafkaTopics
) -> None:
    """Offsets 0-1 arrive, then 3-4: 2 went missing on the way; nothing jumps the hole."""
    events = three_organisations_story()["housing"]
    topic = topics.topic_of["housing"]
    partitions = RecordedPartitions(earliest=0)
    projection = a_projection(orgs, topics)
    projection.attach(partitions)

    report = await projection.apply(
        consumed_log(topic, [events[i] for i in (0, 1, 3, 4)], [0, 1, 3, 4])
    )
    assert partitions.rewinds == [(TopicPartition(topic, 0), 2)]
    assert report.projected.new_events == 2
    assert await applied_offsets(orgs) == 2

    await projection.apply(consumed_log(topic, events[2:], range(2, 5)))
    assert await applied_offsets(orgs) == 5
    assert await timeline_size(orgs) == 5


async def test_a_partition_whose_start_was_deleted_is_applied_from_its_first_message(
    orgs: Organisations, topics: KafkaTopics
) -> None:
    """Retention removed offsets 0-2 before the projection read them: go on from 3, no rewind."""
    events = three_organisations_story()["housing"]
    topic = topics.topic_of["housing"]
    partitions = RecordedPartitions(earliest=3)
    projection = a_projection(orgs, topics)
    projection.attach(partitions)

    with capture_logs() as logs:
        await projection.apply(consumed_log(topic, events[3:], range(3, len(events))))

    assert partitions.rewinds == []
    assert await applied_offsets(orgs) == len(events)
    assert any(line["event"] == "kafka_messages_deleted_before_applied" for line in logs)


async def test_a_rewind_makes_faust_deliver_the_skipped_messages_again(
    orgs: Organisations,
    topics: KafkaTopics,
    unique_schema: Callable[[str], str],
) -> None:
    """The first batch reaches the projection with messages missing: Faust is sought back."""
    logs = crowd(30)
    await orgs.record_logs(logs)
    await topics.publish(logs)
    projection = a_projection(orgs, topics)
    lost = 0

    async def lose_some_of_the_first_batch(messages: Sequence[ConsumedMessage]) -> object:
        nonlocal lost
        if lost == 0:
            kept = [m for m in messages if not (m.partition == 0 and 3 <= m.offset < 6)]
            lost = len(messages) - len(kept)
            messages = kept
        return await projection.apply(messages)

    app = create_faust_app(
        bootstrap_servers=topics.kafka.bootstrap_servers,
        topics=projection.topics,
        handle_batch=lose_some_of_the_first_batch,
        group_id=topics.group_id,
        session_timeout=SESSION_TIMEOUT_SECONDS,
    )
    projection.attach(FaustPartitions(app))
    stop = asyncio.Event()
    running = asyncio.create_task(run_faust_app(app, stop))
    try:
        with capture_logs() as lines:
            await until_applied(orgs, size(logs))
    finally:
        stop.set()
        await asyncio.wait_for(running, 25)
    assert lost > 0
    assert any(line["event"] == "kafka_messages_skipped_by_consumer" for line in lines)
    assert await timeline_size(orgs) == size(logs)
    assert await orgs.snapshot() == await orgs.reference(unique_schema)


async def test_a_replay_from_the_topics_rebuilds_the_same_view_while_the_worker_runs(
    orgs: Organisations,
    topics: KafkaTopics,
    database_url: str,
    unique_schema: Callable[[str], str],
) -> None:
    logs = crowd(60)
    await orgs.record_logs(logs)
    topics.start_worker(orgs, database_url)
    await topics.publish(logs)
    await until_applied(orgs, size(logs))
    before = await orgs.snapshot()

    replayed = await rebuild_projection_from_topics(
        pool=orgs.pool,
        bootstrap_servers=topics.kafka.bootstrap_servers,
        id_secret=ID_SECRET,
        schema=orgs.schema,
        topic_orgs=topics.topic_orgs,
        dead_letter_topic=topics.dead_letter_topic,
    )
    more = crowd(5, start=500_000_000)
    await orgs.record_logs(more)
    await topics.publish(more)  # the worker, still running, goes on after the replay
    await until_applied(orgs, size(logs) + size(more))

    assert replayed == size(logs)
    assert await timeline_size(orgs) == size(logs) + size(more)
    after = await orgs.snapshot()
    assert after == await orgs.reference(unique_schema)
    assert {k: v for k, v in after[0].items() if k in before[0]} == before[0]


async def test_a_replay_from_the_topics_stopped_half_way_resumes_from_its_saved_offsets(
    orgs: Organisations, topics: KafkaTopics, database_url: str
) -> None:
    """Ctrl-C during a replay in Kafka mode: run again, it goes on from the offsets the new
    version saved (not from the start), and switches to the same view."""
    logs = crowd(120)
    await orgs.record_logs(logs)
    topics.start_worker(orgs, database_url)
    await topics.publish(logs)
    await until_applied(orgs, size(logs))
    before = await orgs.snapshot()

    def replay() -> Coroutine[Any, Any, int]:
        return rebuild_projection_from_topics(
            pool=orgs.pool, bootstrap_servers=topics.kafka.bootstrap_servers,
            id_secret=ID_SECRET, schema=orgs.schema, topic_orgs=topics.topic_orgs,
            dead_letter_topic=topics.dead_letter_topic,
        )  # fmt: skip

    stopped = asyncio.create_task(replay())
    await eventually(lambda: timeline_size(orgs, f"{orgs.schema}_next"), what="a replay under way")
    stopped.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await stopped
    folded_before_stop = await timeline_size(orgs, f"{orgs.schema}_next")

    resumed = await replay()

    assert 0 < folded_before_stop < size(logs)
    assert resumed == size(logs) - folded_before_stop
    assert await orgs.snapshot() == before


@pytest.mark.parametrize(
    "stuck_in", ["on_thread_stop", "on_thread_started", "_gather_remaining_tasks"]
)
# the ended thread reports its event loop stopping under it: expected here
@pytest.mark.filterwarnings("ignore::pytest.PytestUnhandledThreadExceptionWarning")
async def test_a_worker_whose_consumer_thread_is_stuck_still_stops_and_leaves_no_thread(
    topics: KafkaTopics, stuck_in: str
) -> None:
    """Faust's consumer thread is not a daemon: left running, the process could never exit.

    Stuck stopping, before or after it tells the worker it has shut down (mode's stop then
    blocked the event loop for ever), or stuck starting (the start then never returns).
    """
    app = create_faust_app(
        bootstrap_servers=topics.kafka.bootstrap_servers,
        topics=list(topics.topic_of.values()),
        handle_batch=lambda messages: asyncio.sleep(0),
        group_id=topics.group_id,
        session_timeout=SESSION_TIMEOUT_SECONDS,
    )

    async def stuck() -> None:  # as when a rebalance or a vanished broker holds the thread up
        await asyncio.Event().wait()

    setattr(app.consumer._thread, stuck_in, stuck)  # type: ignore[attr-defined]
    stop = asyncio.Event()
    running = asyncio.create_task(run_faust_app(app, stop, stop_timeout=1.0))
    thread = await eventually(lambda: consumer_thread(app), within=20, what="Faust's consumer")
    await asyncio.sleep(1)
    with capture_logs() as lines:
        stop.set()
        await asyncio.wait_for(running, 15)
    events = [line["event"] for line in lines]
    assert "projection_kafka_worker_stop_timed_out" in events
    assert "projection_kafka_worker_stop_abandoned" not in events  # the rest of Faust stopped
    assert not thread.is_alive()


async def consumer_thread(app: faust.App) -> threading.Thread | None:
    """Return the running thread of Faust's consumer, once there is one."""
    service = getattr(app.consumer, "_thread", None)
    thread = getattr(service, "_thread", None)
    return thread if isinstance(thread, threading.Thread) and thread.is_alive() else None
