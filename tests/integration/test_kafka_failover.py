"""Kafka failing over under Caseweave: nothing lost, nothing doubled (issue 12's guarantees).

One real 3-node Apache Kafka cluster (KRaft, each node a broker and a controller) for the
module; topics shaped as `caseweave kafka topics create` makes them (3 copies,
`min.insync.replicas` 2); the outbox relay with its idempotent `acks=all` producer; the
faust-streaming projection worker (in this process, or as `caseweave run projection-worker`
processes); a real PostgreSQL. Nodes are killed with SIGKILL, or stopped cleanly for the
rolling restart; every test starts them again before it ends and waits until every partition
has all its copies in sync.
"""

import asyncio
import functools
import uuid
from collections.abc import AsyncIterator, Callable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

import pytest
from structlog.testing import capture_logs

from events.envelope import Envelope, OrgId
from events.organisations import DEFAULT_ORGANISATIONS
from services.projection.entrypoints.faust_worker import GROUP_ID
from services.runtime.checkpoints import checkpoints_ddl
from services.runtime.database import Pool, apply_ddl, create_pool
from services.runtime.event_store_schema import event_store_ddl
from services.runtime.kafka.admin import create_missing, describe
from services.runtime.kafka.publisher import KafkaPublisher
from services.runtime.kafka.topics import wanted_topics
from services.runtime.metrics import exposition
from services.runtime.settings import Settings
from tests.integration.broker_faults import (
    every_node_back_afterwards,
    group_members,
    leader_of_most,
    leaders,
    restore_every_node,
    start,
    stop_cleanly,
    wait_until_fully_replicated,
)
from tests.integration.kafka_failover_support import (
    Logs,
    applied_offsets,
    assert_exactly_once,
    every_event,
    production_shaped,
    publish_to_organisation_topics,
    published,
    rebuilt_views,
    relay_running,
    size,
    timeline_ids,
    topic_event_ids,
    until,
    until_applied,
    until_in_view,
    views,
    write_load,
)
from tests.integration.projection.conftest import ID_SECRET, Organisations, new_organisations
from tests.integration.projection.kafka_projection_fixtures import KafkaTopics
from tests.integration.projection_worker_processes import (
    WorkerProcess,
    WorkerSetting,
    in_transaction,
)
from tests.postgres import create_database
from tests.real_kafka import RealKafka, real_kafka
from tests.scraped_metrics import sample
from tests.unit.projection.stories import crowd

RELAYED_EVENTS = 20_000  # the number issue 12 names


@pytest.fixture(scope="module")
def cluster() -> Iterator[RealKafka]:
    """Three Kafka nodes, each a broker and a controller, shared by this module's tests."""
    with real_kafka(brokers=3) as kafka:
        yield kafka


@pytest.fixture(autouse=True)
def healthy(cluster: RealKafka) -> None:
    """Every test starts with all three nodes up and every partition fully replicated."""
    restore_every_node(cluster)


@pytest.fixture
async def orgs(pool: Pool, unique_schema: Callable[[str], str]) -> Organisations:
    """Three organisations' empty event stores (housing's with its relay's checkpoints) and
    an empty projection."""
    found = await new_organisations(pool, unique_schema)
    housing = found.sources["housing"]
    await apply_ddl(pool, lock_name=housing, statements=[checkpoints_ddl(housing)])
    return found


@pytest.fixture
async def topics(cluster: RealKafka) -> AsyncIterator[KafkaTopics]:
    """This test's organisation and dead-letter topics, shaped as in production, and the
    in-process projection workers it starts on them (stopped afterwards)."""
    run = uuid.uuid4().hex[:10]
    topic_of: dict[OrgId, str] = {
        o: f"caseweave.f{run}.{o}.events.v1" for o in DEFAULT_ORGANISATIONS.ids
    }
    dead_letter_topic = f"caseweave.f{run}.dead_letter.v1"
    await create_missing(
        cluster.bootstrap_servers, production_shaped([*topic_of.values(), dead_letter_topic])
    )
    publisher = KafkaPublisher(cluster.bootstrap_servers, client_id="failover-test-producer")
    await publisher.start()
    found = KafkaTopics(cluster, publisher, topic_of, dead_letter_topic, f"failover-{run}")
    try:
        yield found
    finally:
        await found.stop_workers()
        await publisher.stop()


@functools.cache
def housing_crowd() -> list[Envelope]:
    """Housing's log about 5,000 people: 20,000 events (made once, shared read-only)."""
    return crowd(5_000)["housing"]


async def test_topics_keep_three_copies_and_take_a_write_with_two(
    cluster: RealKafka, topics: KafkaTopics
) -> None:
    """What every guarantee below rests on: 3 copies of each partition, all in sync, and a
    write acknowledged (`acks=all`) once 2 of them have it."""
    found = await describe(cluster.bootstrap_servers, list(topics.topic_of.values()))
    assert len(found) == 3
    for topic in found.values():
        assert topic.replication_factor == 3
        assert topic.configs["min.insync.replicas"] == "2"
        assert all(len(p.in_sync) == 3 for p in topic.partitions)


async def test_killing_the_leader_mid_relay_brings_every_event_to_the_view_once(
    cluster: RealKafka,
    orgs: Organisations,
    topics: KafkaTopics,
    database_url: str,
    unique_schema: Callable[[str], str],
) -> None:
    """kill -9 the node leading most of the relay's partitions a quarter of the way through
    20,000 events: new leaders take over, the idempotent producer's retries write nothing
    twice, and the single view holds every event once, as a clean rebuild does."""
    events = housing_crowd()
    assert len(events) == RELAYED_EVENTS
    await orgs.record_logs({"housing": events})
    topic = topics.topic_of["housing"]
    topics.start_worker(orgs, database_url)
    before = published()

    async with relay_running(orgs, topics), every_node_back_afterwards(cluster):
        await until(
            lambda: published() - before >= RELAYED_EVENTS // 4, within=120, what="5,000 relayed"
        )
        victim = await leader_of_most(cluster, [topic])
        cluster.cluster.kill_node(victim)
        assert published() - before < RELAYED_EVENTS, "the relay finished before the kill"
        await until_in_view(orgs, RELAYED_EVENTS, within=180)
        assert victim not in await leaders(cluster, [topic])

    assert_exactly_once(await timeline_ids(orgs.pool, orgs.schema), events)
    assert await views(orgs.pool, orgs.schema) == await rebuilt_views(orgs, unique_schema)
    assert_exactly_once(await topic_event_ids(cluster, topic), events)


async def test_a_broker_killed_under_the_faust_worker_is_survived_and_the_view_equals_a_rebuild(
    cluster: RealKafka,
    orgs: Organisations,
    topics: KafkaTopics,
    database_url: str,
    unique_schema: Callable[[str], str],
) -> None:
    """kill -9 the node leading most of the worker's partitions while it consumes: it goes
    on after the leader election (events published after it are consumed too), and the view
    equals a clean rebuild's."""
    first, then = crowd(600), crowd(100, start=500_000_000)
    await orgs.record_logs(first)
    await orgs.record_logs(then)
    await topics.publish(first)
    topics.start_worker(orgs, database_url)
    consumed = list(topics.topic_of.values())

    async with every_node_back_afterwards(cluster):
        await until(lambda: applied_offsets(orgs.pool, orgs.schema), within=60, what="a batch")
        victim = await leader_of_most(cluster, consumed)
        cluster.cluster.kill_node(victim)
        assert await applied_offsets(orgs.pool, orgs.schema) < size(first), "killed too late"
        await topics.publish(then)  # acknowledged once the surviving nodes lead
        assert victim not in await leaders(cluster, consumed)
        await until_applied(orgs, size(first) + size(then), within=120)

    assert_exactly_once(
        await timeline_ids(orgs.pool, orgs.schema), every_event(first) + every_event(then)
    )
    assert await orgs.snapshot() == await orgs.reference(unique_schema)


async def test_below_min_insync_replicas_the_relay_waits_says_so_and_catches_up(
    cluster: RealKafka, orgs: Organisations, topics: KafkaTopics
) -> None:
    """Two of the three nodes killed: the relay publishes nothing (`acks=all` needs 2 copies)
    and loses nothing, says so in its log and its metrics, and catches up once one node is
    back."""
    events = housing_crowd()[:2_000]
    sent_before, sent_while_down = events[:1_000], events[1_000:]
    await orgs.record_logs({"housing": sent_before})
    before = published()

    with capture_logs() as lines:
        async with (
            relay_running(orgs, topics, wait_warning_seconds=3.0),
            every_node_back_afterwards(cluster),
        ):
            await until(lambda: published() - before == 1_000, within=60, what="1,000 relayed")
            cluster.cluster.kill_node(1)
            cluster.cluster.kill_node(2)
            await orgs.record_logs({"housing": sent_while_down})
            await until(
                lambda: _said(lines, "kafka_relay_waiting_for_acks"), within=60, what="a warning"
            )
            assert published() - before == 1_000  # no progress
            assert await _relay_lag() == 1_000
            await start(cluster, 1)
            await until(lambda: published() - before == 2_000, within=120, what="the catch-up")
            assert await _relay_lag() == 0

    on_topic = await topic_event_ids(cluster, topics.topic_of["housing"])
    assert set(on_topic) == {e.event_id for e in events}  # nothing lost


async def _relay_lag() -> float | None:
    page = (await exposition()).decode()
    return sample(page, "caseweave_relay_lag_events", org="housing")


def _said(lines: Sequence[Mapping[str, Any]], event: str) -> bool:
    return any(line["event"] == event and line["org"] == "housing" for line in lines)


async def test_a_rolling_restart_under_write_load_loses_and_doubles_nothing(
    cluster: RealKafka,
    orgs: Organisations,
    topics: KafkaTopics,
    database_url: str,
    unique_schema: Callable[[str], str],
) -> None:
    """Each node in turn stopped and started again (its copies back in sync before the next)
    while events are appended, relayed and projected: each is on the topic and in the view
    once."""
    topics.start_worker(orgs, database_url)
    async with relay_running(orgs, topics), every_node_back_afterwards(cluster):
        async with write_load(orgs, housing_crowd(), per_second=200) as appended:
            for node in cluster.cluster.nodes:
                written = len(appended)
                await stop_cleanly(cluster, node.node_id)
                await start(cluster, node.node_id)
                await asyncio.to_thread(wait_until_fully_replicated, cluster)
                assert len(appended) > written, f"no writes while node {node.node_id} restarted"
        sent = list(appended)
        await until_in_view(orgs, len(sent), within=120)

    assert_exactly_once(await timeline_ids(orgs.pool, orgs.schema), sent)
    assert await views(orgs.pool, orgs.schema) == await rebuilt_views(orgs, unique_schema)
    assert_exactly_once(await topic_event_ids(cluster, topics.topic_of["housing"]), sent)


async def test_three_workers_share_the_partitions_and_one_killed_mid_batch_loses_nothing(
    cluster: RealKafka,
    postgres_server: str,
    tmp_path: Path,
    unique_schema: Callable[[str], str],
) -> None:
    """Three `caseweave run projection-worker` processes in one group; one is killed with
    SIGKILL while its batch's transaction is open: the other two take its partitions over,
    every event is in the view once, and the view equals a clean rebuild's (faust-streaming
    #606: offsets committed past unapplied messages; #502: redelivery after a rebalance)."""
    database_url = await create_database(postgres_server)
    pool = await create_pool(database_url, max_size=6)
    try:
        orgs = await _with_production_names(pool, unique_schema, cluster)
        logs = crowd(2_000)
        await orgs.record_logs(logs)
        setting = WorkerSetting(
            cluster.bootstrap_servers, database_url, tmp_path / "data", ID_SECRET.decode()
        )
        workers = [WorkerProcess(f"worker-{n}", setting) for n in (1, 2, 3)]
        try:
            await _kill_one_mid_batch(cluster, orgs, workers, logs)
            for worker in workers[1:]:
                worker.stop()
            assert [worker.wait() for worker in workers[1:]] == [0, 0]
        finally:
            for worker in workers:
                worker.ensure_gone()

        assert_exactly_once(await timeline_ids(pool, orgs.schema), every_event(logs))
        assert await orgs.snapshot() == await orgs.reference(unique_schema)
    finally:
        await pool.close()


async def _with_production_names(
    pool: Pool, unique_schema: Callable[[str], str], cluster: RealKafka
) -> Organisations:
    """Caseweave's own topics (as `caseweave kafka topics create` makes them), empty
    organisation stores, and the projection in schema `projection`, as the workers use."""
    await create_missing(cluster.bootstrap_servers, wanted_topics(Settings()))
    sources = {org: unique_schema(org[:3]) for org in DEFAULT_ORGANISATIONS.ids}
    for schema in sources.values():
        await apply_ddl(pool, lock_name=schema, statements=event_store_ddl(schema))
    return Organisations(pool, sources, "projection")


async def _kill_one_mid_batch(
    cluster: RealKafka, orgs: Organisations, workers: list[WorkerProcess], logs: Logs
) -> None:
    """Once the three workers are in the group and each has been busy, kill the first while
    it has a transaction open (after two batches of its own); then wait until the other two
    have applied everything."""
    victim, total = workers[0], size(logs)
    await until(lambda: _members(cluster, 3), within=120, what="three workers in the group")
    publishing = asyncio.create_task(publish_to_organisation_topics(cluster, logs))
    seen: set[str] = set()

    async def victim_mid_batch() -> bool:
        busy = await in_transaction(orgs.pool)
        seen.update(busy)
        return len(seen) == len(workers) and victim.name in busy and victim.batches_applied() > 1

    try:
        await until(victim_mid_batch, within=120, what="every worker busy, the first mid-batch")
        victim.kill()
        assert await applied_offsets(orgs.pool, orgs.schema) < total, "killed too late"
    finally:
        await publishing
    await until_applied(orgs, total, within=180)
    await until(lambda: _members(cluster, 2), within=30, what="two workers left in the group")


async def _members(cluster: RealKafka, wanted: int) -> bool:
    return len(await asyncio.to_thread(group_members, cluster, GROUP_ID)) == wanted
