"""One contract for the organisation's unit of work, on PostgreSQL and on the in-memory fake.

The service layer's unit tests run on the fake; these cases keep the fake honest: what they
assert holds on both, so a rule the fake gets wrong fails here.
"""

import os
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from events.envelope import Envelope, OrgId
from events.shared import FlagRaised
from services.organisation.adapters.postgres_unit_of_work import PostgresUnitOfWork, Stores
from services.organisation.bootstrap import prepare_database
from services.organisation.domain.people import ExistingPerson, register_person
from services.organisation.domain.worklists import (
    BadCursor,
    CaseClosedListed,
    CaseLeadChanged,
    CaseListed,
    CaseRow,
    Direction,
    Page,
    PersonListed,
    PersonRow,
    ReferralListed,
    ReferralListStatus,
    ReferralMoved,
    ReferralRow,
    next_cursor,
)
from services.organisation.service_layer.unit_of_work import UnitOfWork
from services.runtime.database import Pool, apply_ddl
from services.runtime.event_store import EventIdReused, StreamConflict
from services.runtime.idempotency import IdempotencyKeyReused, StoredResponse
from services.runtime.person_keys import PersonKeys, RecordErased, person_keys_ddl
from services.runtime.sealing import ERASED
from tests.unit.organisation.domain_examples import DETAILS, recorded
from tests.unit.organisation.fake_unit_of_work import FakeUnitOfWork, InMemoryStores

NewUnitOfWork = Callable[[], UnitOfWork]


@pytest.fixture(params=["postgres", "in_memory"])
async def new_uow(request: pytest.FixtureRequest, pool: Pool) -> AsyncIterator[NewUnitOfWork]:
    """A factory of units of work over empty housing stores, of either kind (PostgreSQL's
    sealing personal values with a key store of its own)."""
    if request.param == "in_memory":
        stores = InMemoryStores("housing")
        yield lambda: FakeUnitOfWork(stores)
        return
    schema = f"uow_{uuid.uuid4().hex[:12]}"
    keys = PersonKeys(os.urandom(32), schema=f"{schema}_keys")
    await apply_ddl(pool, lock_name=keys.schema, statements=person_keys_ddl(keys.schema))
    await prepare_database(pool, schema=schema)
    yield lambda: PostgresUnitOfWork(
        pool, Stores.in_schema("housing", schema, sector="housing", keys=keys)
    )


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


T0 = datetime(2025, 3, 4, 10, 0, tzinfo=UTC)
PERSON = uuid.UUID("0b5e1f0c-7d61-4c1e-9a0e-6f4f3a2b1c00")
# ids whose order differs between signed and unsigned bytes, and between text and value
LOW, MIDDLE, HIGH = (
    uuid.UUID("00000000-0000-4000-8000-000000000001"),
    uuid.UUID("7fffffff-ffff-4fff-8fff-ffffffffffff"),
    uuid.UUID("80000000-0000-4000-8000-000000000000"),
)


def _at(minutes: int) -> datetime:
    return T0 + timedelta(minutes=minutes)


def _referral(
    referral_id: uuid.UUID,
    minutes: int,
    direction: Direction = "incoming",
    status: ReferralListStatus = "received",
    *,
    other_org: OrgId = "voluntary",
    urgency: str = "routine",
) -> ReferralListed:
    return ReferralListed(referral_id, direction, status, other_org, PERSON, urgency, _at(minutes))


def _case(
    case_id: uuid.UUID, minutes: int, key_worker: str = "Sam Okafor", email: str | None = None
) -> CaseListed:
    return CaseListed(case_id, PERSON, key_worker, email, _at(minutes))


async def _applied(new_uow: NewUnitOfWork, *changes: Any) -> None:
    """Apply `changes` in one committed unit of work."""
    async with new_uow() as uow:
        await uow.worklists.apply(list(changes))
        await uow.commit()


async def _referral_ids(
    new_uow: NewUnitOfWork, direction: str, statuses: list[str]
) -> tuple[list[uuid.UUID], int]:
    async with new_uow() as uow:
        page = await uow.worklists.referrals(
            direction=direction, statuses=statuses, limit=50, cursor=None
        )
    return [row.referral_id for row in page.rows], page.total


async def _case_ids(
    new_uow: NewUnitOfWork, statuses: list[str], key_worker: str | None
) -> list[uuid.UUID]:
    async with new_uow() as uow:
        page = await uow.worklists.cases(
            statuses=statuses, key_worker=key_worker, limit=50, cursor=None
        )
    assert page.total == len(page.rows)
    return [row.case_id for row in page.rows]


async def _person_ids(
    new_uow: NewUnitOfWork, family_name: bytes | None, date_of_birth: bytes | None
) -> list[uuid.UUID]:
    async with new_uow() as uow:
        page = await uow.worklists.people(
            family_name_token=family_name, date_of_birth_token=date_of_birth, limit=50, cursor=None
        )
    assert page.total == len(page.rows)
    return [row.person_id for row in page.rows]


async def test_a_referral_listed_again_stays_one_row_with_its_first_values(
    new_uow: NewUnitOfWork,
) -> None:
    first = _referral(LOW, 0, "outgoing", "made", other_org="voluntary", urgency="urgent")
    again = ReferralListed(
        LOW, "outgoing", "made", "mental_health", uuid.uuid4(), "routine", _at(9)
    )
    await _applied(new_uow, first)
    await _applied(new_uow, first, again)
    async with new_uow() as uow:
        page = await uow.worklists.referrals(
            direction="outgoing", statuses=[], limit=10, cursor=None
        )
    assert page == Page(
        [ReferralRow(LOW, "outgoing", "made", "voluntary", PERSON, "urgent", _at(0), _at(0))],
        1,
        None,
    )


async def test_a_decision_moves_a_referrals_status_and_updated_at_only(
    new_uow: NewUnitOfWork,
) -> None:
    await _applied(
        new_uow,
        _referral(LOW, 0, urgency="emergency"),
        ReferralMoved(LOW, "accepted", _at(5)),
        ReferralMoved(MIDDLE, "declined", _at(6)),  # never listed: nothing
    )
    async with new_uow() as uow:
        page = await uow.worklists.referrals(
            direction="incoming", statuses=[], limit=10, cursor=None
        )
    assert page.rows == [
        ReferralRow(LOW, "incoming", "accepted", "voluntary", PERSON, "emergency", _at(0), _at(5))
    ]
    assert page.total == 1


async def test_referrals_are_listed_one_way_of_the_statuses_asked_all_when_none(
    new_uow: NewUnitOfWork,
) -> None:
    made, received, accepted, declined = (uuid.uuid4() for _ in range(4))
    await _applied(
        new_uow,
        _referral(made, 0, "outgoing", "made"),
        _referral(received, 1),
        _referral(accepted, 2),
        _referral(declined, 3),
        ReferralMoved(accepted, "accepted", _at(4)),
        ReferralMoved(declined, "declined", _at(5)),
    )
    assert await _referral_ids(new_uow, "outgoing", []) == ([made], 1)
    assert await _referral_ids(new_uow, "incoming", []) == ([declined, accepted, received], 3)
    assert await _referral_ids(new_uow, "incoming", ["received"]) == ([received], 1)
    assert await _referral_ids(new_uow, "incoming", ["declined", "accepted"]) == (
        [declined, accepted],
        2,
    )
    assert await _referral_ids(new_uow, "incoming", ["made"]) == ([], 0)
    assert await _referral_ids(new_uow, "outgoing", ["received"]) == ([], 0)


async def test_cases_are_found_by_status_and_by_key_worker_name_or_email_in_any_case(
    new_uow: NewUnitOfWork,
) -> None:
    sams, jos, closed, no_email = (uuid.uuid4() for _ in range(4))
    await _applied(
        new_uow,
        _case(sams, 0, "Sam Okafor", "sam.okafor@housing.example"),
        _case(jos, 1, "Jo Bloggs", "jo@housing.example"),
        _case(closed, 2, "Sam Okafor", "sam.okafor@housing.example"),
        _case(no_email, 3, "Sam Okafor"),
        CaseClosedListed(closed, _at(4)),
    )
    assert await _case_ids(new_uow, [], None) == [no_email, closed, jos, sams]
    assert await _case_ids(new_uow, ["open"], None) == [no_email, jos, sams]
    assert await _case_ids(new_uow, ["closed"], None) == [closed]
    assert await _case_ids(new_uow, ["open", "closed"], "sAM oKAFOR") == [no_email, closed, sams]
    assert await _case_ids(new_uow, ["open"], "Sam.Okafor@Housing.Example") == [sams]
    assert await _case_ids(new_uow, [], "jo@housing.example") == [jos]
    assert await _case_ids(new_uow, ["closed"], "Jo Bloggs") == []
    assert await _case_ids(new_uow, [], "Sam") == []  # the whole name or email, not a part


async def test_a_key_worker_named_with_accents_is_found_in_any_case(
    new_uow: NewUnitOfWork,
) -> None:
    case_id = uuid.uuid4()
    await _applied(new_uow, _case(case_id, 0, "Zoë Ó Briain"))
    assert await _case_ids(new_uow, [], "ZOË Ó BRIAIN") == [case_id]


async def test_a_new_lead_and_closing_update_a_case_and_listing_it_again_does_not_reopen_it(
    new_uow: NewUnitOfWork,
) -> None:
    case_id = uuid.uuid4()
    await _applied(
        new_uow,
        _case(case_id, 0, "Sam Okafor", "sam.okafor@housing.example"),
        CaseLeadChanged(case_id, "Jo Bloggs", None, _at(3)),
        CaseClosedListed(case_id, _at(7)),
        _case(case_id, 8, "Sam Okafor"),
        CaseLeadChanged(uuid.uuid4(), "Nobody", None, _at(9)),  # never listed: nothing
        CaseClosedListed(uuid.uuid4(), _at(9)),  # never listed: nothing
    )
    async with new_uow() as uow:
        page = await uow.worklists.cases(statuses=[], key_worker=None, limit=10, cursor=None)
    assert page == Page(
        [CaseRow(case_id, PERSON, "closed", "Jo Bloggs", None, _at(0), _at(7))], 1, None
    )


async def test_people_are_found_by_family_name_and_or_birth_date_token(
    new_uow: NewUnitOfWork,
) -> None:
    morgan_87, morgan_90, smith_87 = (uuid.uuid4() for _ in range(3))
    await _applied(
        new_uow,
        PersonListed(morgan_87, b"name:morgan", b"born:1987", _at(0)),
        PersonListed(morgan_90, b"name:morgan", b"born:1990", _at(1)),
        PersonListed(smith_87, b"name:smith", b"born:1987", _at(2)),
        PersonListed(morgan_87, b"name:other", b"born:2001", _at(3)),  # again: first kept
    )
    assert await _person_ids(new_uow, None, None) == [smith_87, morgan_90, morgan_87]
    assert await _person_ids(new_uow, b"name:morgan", None) == [morgan_90, morgan_87]
    assert await _person_ids(new_uow, None, b"born:1987") == [smith_87, morgan_87]
    assert await _person_ids(new_uow, b"name:morgan", b"born:1987") == [morgan_87]
    assert await _person_ids(new_uow, b"name:other", None) == []
    assert await _person_ids(new_uow, b"name:smith", b"born:1990") == []
    async with new_uow() as uow:
        page = await uow.worklists.people(
            family_name_token=b"name:smith", date_of_birth_token=None, limit=5, cursor=None
        )
    assert page.rows == [PersonRow(smith_87, _at(2))]


async def test_people_born_on_any_of_several_dates_are_found_newest_first_up_to_a_limit(
    new_uow: NewUnitOfWork,
) -> None:
    """What a referral inbox asks: everyone born on the date or one a typist could have meant."""
    first, second, third, other = (uuid.uuid4() for _ in range(4))
    await _applied(
        new_uow,
        PersonListed(first, b"name:a", b"born:1987-05-14", _at(0)),
        PersonListed(second, b"name:b", b"born:1987-05-41", _at(1)),
        PersonListed(third, b"name:c", b"born:1987-05-14", _at(2)),
        PersonListed(other, b"name:d", b"born:1990-01-01", _at(3)),
    )
    async with new_uow() as uow:
        dates = [b"born:1987-05-14", b"born:1987-05-41"]
        assert await uow.worklists.people_born_on(dates, limit=5) == [third, second, first]
        assert await uow.worklists.people_born_on(dates, limit=2) == [third, second]
        assert await uow.worklists.people_born_on([b"born:2000-01-01"], limit=5) == []


async def test_lists_are_newest_first_and_ties_go_to_the_highest_id(
    new_uow: NewUnitOfWork,
) -> None:
    newest = uuid.uuid4()
    await _applied(
        new_uow,
        *[_referral(key, 1) for key in (MIDDLE, LOW, HIGH)],
        _referral(newest, 2),
        *[_case(key, 1) for key in (LOW, HIGH, MIDDLE)],
        *[PersonListed(key, b"n", b"d", _at(1)) for key in (HIGH, MIDDLE, LOW)],
    )
    assert await _referral_ids(new_uow, "incoming", []) == ([newest, HIGH, MIDDLE, LOW], 4)
    assert await _case_ids(new_uow, [], None) == [HIGH, MIDDLE, LOW]
    assert await _person_ids(new_uow, None, None) == [HIGH, MIDDLE, LOW]


ReadPage = Callable[[UnitOfWork, int, str | None], Awaitable[Page[Any]]]


async def _walk(new_uow: NewUnitOfWork, read: ReadPage, limit: int) -> list[Page[Any]]:
    """Return every page of a list, following the cursors to the last."""
    pages: list[Page[Any]] = []
    cursor: str | None = None
    async with new_uow() as uow:
        while not pages or cursor is not None:
            page = await read(uow, limit, cursor)
            pages.append(page)
            cursor = page.next_cursor
            assert len(pages) <= 20, "the cursors go round in circles"
    return pages


async def test_paging_walks_every_matching_referral_once_newest_first(
    new_uow: NewUnitOfWork,
) -> None:
    # ties on a page's edge: 3 rows at minute 1, 3 at minute 2, the page is 2 long
    keys = [uuid.uuid4() for _ in range(7)]
    minutes = [1, 1, 1, 2, 2, 2, 3]
    await _applied(
        new_uow,
        *[_referral(key, at) for key, at in zip(keys, minutes, strict=True)],
        _referral(uuid.uuid4(), 2, "outgoing", "made"),  # another way: not counted
        _referral(uuid.uuid4(), 2, "incoming", "declined"),  # another status: not counted
    )
    newest_first = [k for _, k in sorted(zip(minutes, keys, strict=True), reverse=True)]

    async def received(uow: UnitOfWork, limit: int, cursor: str | None) -> Page[Any]:
        return await uow.worklists.referrals(
            direction="incoming", statuses=["received"], limit=limit, cursor=cursor
        )

    pages = await _walk(new_uow, received, 2)
    assert [[row.referral_id for row in page.rows] for page in pages] == [
        newest_first[0:2],
        newest_first[2:4],
        newest_first[4:6],
        newest_first[6:7],
    ]
    assert [page.total for page in pages] == [7] * 4
    assert [page.next_cursor is None for page in pages] == [False] * 3 + [True]
    [whole] = await _walk(new_uow, received, 7)  # exactly one page: no cursor after it
    assert ([row.referral_id for row in whole.rows], whole.next_cursor) == (newest_first, None)


async def test_paging_walks_every_case_and_person_once(new_uow: NewUnitOfWork) -> None:
    keys = [LOW, HIGH, MIDDLE, uuid.uuid4(), uuid.uuid4()]
    minutes = [4, 4, 4, 0, 9]
    await _applied(
        new_uow,
        *[_case(key, at) for key, at in zip(keys, minutes, strict=True)],
        *[PersonListed(k, b"n", b"d", _at(at)) for k, at in zip(keys, minutes, strict=True)],
        PersonListed(uuid.uuid4(), b"other", b"d", _at(5)),  # another name: not counted
    )
    newest_first = [k for _, k in sorted(zip(minutes, keys, strict=True), reverse=True)]

    async def cases(uow: UnitOfWork, limit: int, cursor: str | None) -> Page[Any]:
        return await uow.worklists.cases(
            statuses=["open"], key_worker=None, limit=limit, cursor=cursor
        )

    async def people(uow: UnitOfWork, limit: int, cursor: str | None) -> Page[Any]:
        return await uow.worklists.people(
            family_name_token=b"n", date_of_birth_token=b"d", limit=limit, cursor=cursor
        )

    case_pages = await _walk(new_uow, cases, 1)
    people_pages = await _walk(new_uow, people, 1)
    assert [row.case_id for page in case_pages for row in page.rows] == newest_first
    assert [row.person_id for page in people_pages for row in page.rows] == newest_first
    assert {page.total for page in case_pages + people_pages} == {5}
    assert len(case_pages) == len(people_pages) == 5


async def test_a_cursor_of_another_list_or_not_given_out_is_refused(
    new_uow: NewUnitOfWork,
) -> None:
    await _applied(
        new_uow,
        *[_referral(key, 0) for key in (LOW, HIGH)],
        *[_case(key, 0) for key in (LOW, HIGH)],
    )
    async with new_uow() as uow:
        first = await uow.worklists.referrals(
            direction="incoming", statuses=[], limit=1, cursor=None
        )
        assert first.next_cursor is not None
        after = await uow.worklists.referrals(
            direction="incoming", statuses=[], limit=1, cursor=first.next_cursor
        )
        assert [row.referral_id for row in first.rows + after.rows] == [HIGH, LOW]
        with pytest.raises(BadCursor):
            await uow.worklists.cases(
                statuses=[], key_worker=None, limit=1, cursor=first.next_cursor
            )
        for cursor in ("garbage", "", next_cursor("case_list", T0, LOW)):
            with pytest.raises(BadCursor):
                await uow.worklists.referrals(
                    direction="incoming", statuses=[], limit=1, cursor=cursor
                )
        with pytest.raises(BadCursor):
            await uow.worklists.people(
                family_name_token=None, date_of_birth_token=None, limit=1, cursor="e30"
            )


async def test_worklist_changes_not_committed_are_gone(new_uow: NewUnitOfWork) -> None:
    kept, dropped, attempted = uuid.uuid4(), uuid.uuid4(), uuid.uuid4()
    await _applied(new_uow, _case(kept, 0))
    async with new_uow() as uow:
        await uow.worklists.apply(
            [
                _case(dropped, 1),
                CaseClosedListed(kept, _at(2)),
                _referral(dropped, 1),
                PersonListed(dropped, b"n", b"d", _at(1)),
            ]
        )
    async with new_uow() as uow:
        with pytest.raises(BadCursor):
            await _apply_then_fail(uow, [_case(attempted, 3), CaseClosedListed(kept, _at(3))])
        await uow.commit()
    async with new_uow() as uow:
        cases = await uow.worklists.cases(statuses=[], key_worker=None, limit=10, cursor=None)
    assert [(row.case_id, row.status) for row in cases.rows] == [(kept, "open")]
    assert await _referral_ids(new_uow, "incoming", []) == ([], 0)
    assert await _person_ids(new_uow, None, None) == []


async def _apply_then_fail(uow: UnitOfWork, changes: list[Any]) -> None:
    async with uow.attempt():
        await uow.worklists.apply(changes)
        await uow.worklists.cases(statuses=[], key_worker=None, limit=1, cursor="garbage")


async def test_a_shredded_records_events_read_as_erased_and_versions_still_count(
    new_uow: NewUnitOfWork,
) -> None:
    """A held referral's copy of the details, shredded once its person is chosen: the
    stream reads without it, the next append still goes at the stream's true version, and
    nothing personal about that record is written again."""
    copy_of, chosen = _events(1), _events(1)
    async with new_uow() as uow:
        await uow.streams.append("referral-1", expected_version=0, events=copy_of)
        await uow.streams.shred(uuid.UUID(copy_of[0].subject))
        await uow.streams.append("referral-1", expected_version=1, events=chosen)
        await uow.commit()
    async with new_uow() as uow:
        stored = await uow.streams.read("referral-1")
        assert await uow.streams.open(copy_of[0]) is None
        assert await uow.streams.open(chosen[0]) is not None
        with pytest.raises(StreamConflict):
            await uow.streams.append("referral-1", expected_version=1, events=_events(1))
        with pytest.raises(RecordErased):
            await uow.streams.append("referral-2", expected_version=0, events=copy_of)
    assert [(s.stream_version, s.envelope.event_id) for s in stored] == [(2, chosen[0].event_id)]


async def test_a_held_referral_listed_again_as_received_is_for_the_chosen_person(
    new_uow: NewUnitOfWork,
) -> None:
    """Held, then received for the record a worker chose: one row, moved on; listed
    again as held or received after that changes nothing."""
    chosen = uuid.uuid4()
    held = _referral(LOW, 0, "incoming", "held")
    received = ReferralListed(LOW, "incoming", "received", "voluntary", chosen, "routine", _at(4))
    later = ReferralListed(LOW, "incoming", "received", "voluntary", uuid.uuid4(), "urgent", _at(7))
    await _applied(new_uow, held, received, held, later)
    async with new_uow() as uow:
        page = await uow.worklists.referrals(
            direction="incoming", statuses=["received"], limit=10, cursor=None
        )
    assert page.rows == [
        ReferralRow(LOW, "incoming", "received", "voluntary", chosen, "routine", _at(0), _at(4))
    ]


async def test_streams_read_together_are_each_in_order_and_a_missing_one_is_empty(
    new_uow: NewUnitOfWork,
) -> None:
    first, second, shredded = _events(2), _events(1), _events(1)
    async with new_uow() as uow:
        await uow.streams.append("s-1", expected_version=0, events=first)
        await uow.streams.append("s-2", expected_version=0, events=second)
        await uow.streams.append("s-3", expected_version=0, events=shredded)
        await uow.streams.shred(uuid.UUID(shredded[0].subject))
        read = await uow.streams.read_many(["s-2", "missing", "s-1", "s-3"])
    assert {k: [s.envelope.event_id for s in v] for k, v in read.items()} == {
        "s-1": [e.event_id for e in first],
        "s-2": [second[0].event_id],
        "missing": [],
        "s-3": [],
    }


async def test_an_events_values_erased_in_place_read_as_erased_and_the_rest_stays(
    new_uow: NewUnitOfWork,
) -> None:
    """One event retracted with its values: its personal values read as erased, its
    facts and every other event stay, and the stream's versions do not move."""
    person_id = uuid.uuid4()
    flagged, kept = recorded(
        *[FlagRaised(case_id=person_id, flag="risk_to_staff", note=n) for n in ("a", "b")],
        subject=person_id,
    )
    async with new_uow() as uow:
        await uow.streams.append("case-1", expected_version=0, events=[flagged, kept])
        await uow.streams.erase_values(flagged.event_id)
        await uow.commit()
    async with new_uow() as uow:
        stored = await uow.streams.read("case-1")
    assert [(s.stream_version, s.envelope.data["note"]) for s in stored] == [
        (1, ERASED),
        (2, "b"),
    ]
    assert stored[0].envelope.data["flag"] == "risk_to_staff"


async def test_webhooks_out_are_queued_once_and_due_in_order_until_settled(
    new_uow: NewUnitOfWork,
) -> None:
    """A delivery queued twice is one; what is due comes oldest first, up to the limit; a
    settled one is due again only when it said, and never once delivered."""
    now = datetime(2026, 5, 4, 9, 0, tzinfo=UTC)
    first, second = uuid.uuid4(), uuid.uuid4()
    async with new_uow() as uow:
        for delivery_id in (first, second, first):
            await uow.webhooks.queue([(delivery_id, "eastside", uuid.uuid4(), "referral-1")])
        await uow.commit()
    async with new_uow() as uow:
        due = await uow.webhooks.due(now + timedelta(days=365), 10)
        assert {d.delivery_id for d in due} == {first, second}
        assert len(await uow.webhooks.due(now + timedelta(days=365), 1)) == 1
        await uow.webhooks.settle(
            first, status="pending", attempts=1, first_tried_at=now,
            next_attempt_at=now + timedelta(days=400), error="HTTP 503",
        )  # fmt: skip
        await uow.webhooks.settle(
            second, status="delivered", attempts=1, first_tried_at=now,
            next_attempt_at=now, error=None, delivered_at=now,
        )  # fmt: skip
        await uow.commit()
    async with new_uow() as uow:
        assert await uow.webhooks.due(now + timedelta(days=365), 10) == []
        [later] = await uow.webhooks.due(now + timedelta(days=401), 10)
        await uow.webhooks.lease(first, now + timedelta(days=402))  # being sent: held
        assert await uow.webhooks.due(now + timedelta(days=401), 10) == []
    assert (later.delivery_id, later.attempts, later.last_error) == (first, 1, "HTTP 503")
