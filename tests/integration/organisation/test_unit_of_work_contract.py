"""One contract for the organisation's unit of work, on PostgreSQL and on the in-memory fake.

The service layer's unit tests run on the fake; these cases keep the fake honest: what they
assert holds on both, so a rule the fake gets wrong fails here.
"""

import uuid
from collections.abc import AsyncIterator, Callable

import pytest

from events.envelope import Envelope
from services.organisation.adapters.postgres_unit_of_work import PostgresUnitOfWork, Stores
from services.organisation.bootstrap import prepare_database
from services.organisation.domain.people import ExistingPerson, register_person
from services.organisation.service_layer.unit_of_work import UnitOfWork
from services.runtime.database import Pool
from services.runtime.event_store import EventIdReused, StreamConflict
from services.runtime.idempotency import IdempotencyKeyReused, StoredResponse
from tests.unit.organisation.domain_examples import DETAILS, recorded
from tests.unit.organisation.fake_unit_of_work import FakeUnitOfWork, InMemoryStores

NewUnitOfWork = Callable[[], UnitOfWork]


@pytest.fixture(params=["postgres", "in_memory"])
async def new_uow(request: pytest.FixtureRequest, pool: Pool) -> AsyncIterator[NewUnitOfWork]:
    """A factory of units of work over empty housing stores, of either kind."""
    if request.param == "in_memory":
        stores = InMemoryStores("housing")
        yield lambda: FakeUnitOfWork(stores)
        return
    schema = f"uow_{uuid.uuid4().hex[:12]}"
    await prepare_database(pool, schema=schema)
    yield lambda: PostgresUnitOfWork(pool, Stores.in_schema("housing", schema))


def _events(count: int) -> list[Envelope]:
    """Return `count` housing events of one person (each with its own id)."""
    person_id = uuid.uuid4()
    return recorded(*[register_person(person_id, DETAILS)] * count, subject=person_id)


async def test_committed_events_are_read_back_in_order_with_their_versions(
    new_uow: NewUnitOfWork,
) -> None:
    events = _events(3)
    async with new_uow() as uow:
        assert await uow.streams.append("s-1", expected_version=0, events=events) == 3
        await uow.commit()
    async with new_uow() as uow:
        stored = await uow.streams.read("s-1")
    assert [(s.stream_version, s.envelope.event_id) for s in stored] == [
        (n, e.event_id) for n, e in enumerate(events, start=1)
    ]


async def test_what_was_not_committed_is_gone(new_uow: NewUnitOfWork) -> None:
    async with new_uow() as uow:
        await uow.streams.append("s-1", expected_version=0, events=_events(1))
        await uow.people.claim(person_id=uuid.uuid4(), nhs_number="9434765919", local_id=None)
    async with new_uow() as uow:
        assert await uow.streams.read("s-1") == []
        assert await uow.people.find_by_nhs_number("9434765919") is None


async def test_an_append_at_a_stale_version_is_a_conflict(new_uow: NewUnitOfWork) -> None:
    async with new_uow() as uow:
        await uow.streams.append("s-1", expected_version=0, events=_events(1))
        with pytest.raises(StreamConflict):
            await uow.streams.append("s-1", expected_version=0, events=_events(1))


async def test_the_same_events_again_are_a_no_op(new_uow: NewUnitOfWork) -> None:
    events = _events(2)
    async with new_uow() as uow:
        await uow.streams.append("s-1", expected_version=0, events=events)
        assert await uow.streams.append("s-1", expected_version=0, events=events) == 2
        assert len(await uow.streams.read("s-1")) == 2


async def test_an_event_id_another_stream_holds_is_refused(new_uow: NewUnitOfWork) -> None:
    [event] = _events(1)
    async with new_uow() as uow:
        await uow.streams.append("s-1", expected_version=0, events=[event])
        other = event.model_copy(update={"type": "person.other"})
        with pytest.raises(EventIdReused):
            await uow.streams.append("s-2", expected_version=0, events=[other])


async def test_a_failed_attempt_leaves_nothing_and_the_rest_commits(
    new_uow: NewUnitOfWork,
) -> None:
    async with new_uow() as uow:
        await uow.streams.append("kept", expected_version=0, events=_events(1))
        with pytest.raises(StreamConflict):
            await _write_dropped_then_conflict(uow)
        await uow.commit()
    async with new_uow() as uow:
        assert len(await uow.streams.read("kept")) == 1
        assert await uow.streams.read("dropped") == []


async def _write_dropped_then_conflict(uow: UnitOfWork) -> None:
    async with uow.attempt():
        await uow.streams.append("dropped", expected_version=0, events=_events(1))
        await uow.streams.append("kept", expected_version=0, events=_events(1))


async def test_an_nhs_number_or_local_id_belongs_to_one_person(new_uow: NewUnitOfWork) -> None:
    first, second = uuid.uuid4(), uuid.uuid4()
    async with new_uow() as uow:
        claimed = await uow.people.claim(person_id=first, nhs_number="9434765919", local_id="L1")
        by_nhs = await uow.people.claim(person_id=second, nhs_number="9434765919", local_id="L2")
        by_local_id = await uow.people.claim(person_id=second, nhs_number=None, local_id="L1")
        assert claimed is None
        assert [by_nhs, by_local_id] == [ExistingPerson(first, "9434765919", "L1")] * 2
        assert await uow.people.find_by_nhs_number("9434765919") == first


async def test_an_idempotency_key_answers_its_request_again_and_refuses_another(
    new_uow: NewUnitOfWork,
) -> None:
    answer = StoredResponse(201, {"person_id": "p"})
    async with new_uow() as uow:
        assert await uow.idempotency.claim(scope="housing", key="k", fingerprint="f") is None
        await uow.idempotency.remember(scope="housing", key="k", response=answer)
        await uow.commit()
    async with new_uow() as uow:
        assert await uow.idempotency.claim(scope="housing", key="k", fingerprint="f") == answer
        with pytest.raises(IdempotencyKeyReused):
            await uow.idempotency.claim(scope="housing", key="k", fingerprint="other")
