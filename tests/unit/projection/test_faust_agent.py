"""The Faust agent hands batches of raw messages to the projection: Faust's own test support.

`agent.test_context()` runs the agent without a broker, so these are fast unit tests of the
wiring: raw bytes in, our `ConsumedMessage` out, in batches, and a batch interrupted by a stop
still finishes before Faust may ack it.
"""

import asyncio
from collections.abc import Sequence

import pytest

from services.projection.entrypoints.faust_worker import create_faust_app, finish_even_if_cancelled
from services.runtime.kafka.consumed import ConsumedMessage

NO_BROKER = "localhost:1"


async def test_the_agent_hands_raw_messages_to_the_projection_in_batches() -> None:
    batches: list[Sequence[ConsumedMessage]] = []
    all_three = asyncio.Event()

    async def handle(messages: Sequence[ConsumedMessage]) -> None:
        batches.append(messages)
        if sum(len(b) for b in batches) == 3:
            all_three.set()

    app = create_faust_app(
        bootstrap_servers=NO_BROKER, topics=["caseweave.housing.events.v1"], handle_batch=handle,
        batch_size=2, batch_within=0.05,
    )  # fmt: skip
    agent = app.agents["project"]
    async with agent.test_context() as running:
        for n in range(3):
            await running.put(f"value-{n}".encode(), key=b"person-1", headers={"org": b"housing"})
        await asyncio.wait_for(all_three.wait(), 5)

    assert [len(b) for b in batches] == [2, 1]
    first = batches[0][0]
    assert (first.key, first.value) == (b"person-1", b"value-0")
    assert first.headers == (("org", b"housing"),)


async def test_a_batch_being_applied_finishes_even_when_the_agent_is_cancelled() -> None:
    """Faust acks a batch when the agent's body ends: the batch must be in PostgreSQL first."""
    applied = asyncio.Event()

    async def apply() -> None:
        await asyncio.sleep(0.2)
        applied.set()

    body = asyncio.create_task(finish_even_if_cancelled(apply()))
    await asyncio.sleep(0.05)
    body.cancel()
    with pytest.raises(asyncio.CancelledError):
        await body
    assert applied.is_set()


def test_the_app_never_declares_topics_and_processes_each_partition_in_order() -> None:
    """concurrency=1 (faust-streaming #606), no topic creation, no leader topic, no tables."""
    app = create_faust_app(
        bootstrap_servers=NO_BROKER, topics=["caseweave.housing.events.v1"], handle_batch=_ignore
    )

    assert app.agents["project"].concurrency == 1
    assert app.conf.topic_allow_declare is False
    assert app.conf.topic_disable_leader is True
    assert not app.tables


async def _ignore(messages: Sequence[ConsumedMessage]) -> None:
    del messages
