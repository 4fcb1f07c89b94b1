"""An event entered in error, in the single view on real PostgreSQL: the view reads as if it
had not been (also after a replay), the timeline keeps it marked retracted and shows no
retraction of its own, and what the view is made of leaves it out."""

import json
from datetime import date, timedelta
from uuid import UUID, uuid4

from events.housing import EvictionNoticeServed
from events.shared import CaseOpened, EnteredInError, FlagRaised, KeyWorker
from services.projection.bootstrap import rebuild_projection
from services.runtime.event_store import EventStore
from services.runtime.sealing import ERASED
from tests.integration.projection.conftest import ID_SECRET, Organisations
from tests.unit.projection.factories import PersonAt, details, minutes


async def test_a_retracted_eviction_notice_leaves_the_view_as_before_it_also_after_a_replay(
    orgs: Organisations,
) -> None:
    housing, case = PersonAt("housing"), uuid4()
    await orgs.record(
        [housing.registered(minutes(0), details()), housing.case_opened(minutes(1), case)]
    )
    await orgs.catch_up()
    before = await orgs.snapshot()
    [citizen] = before[0]

    notice = housing.event(
        EvictionNoticeServed(case_id=case, notice="section_21", served_on=date(2026, 3, 1)),
        minutes(2),
    )
    await orgs.record([notice])
    await orgs.catch_up()
    served = await orgs.queries().citizen_view(UUID(citizen))
    assert served is not None
    assert "eviction_notice_served" in {flag.flag for flag in served.flags}

    retraction = housing.event(
        EnteredInError(
            case_id=case, retracted_event_id=notice.event_id,
            retracted_type=notice.type, reason="served on his neighbour, not him",
        ),
        minutes(3),
    )  # fmt: skip
    await orgs.record([retraction])
    await orgs.catch_up()

    views, timelines, links = await orgs.snapshot()
    assert views == before[0]
    assert links == before[2]
    events = timelines[citizen]["events"]
    [marked] = [e for e in events if e["event_id"] == str(notice.event_id)]
    assert marked["retracted_at"] is not None
    assert "event.entered_in_error" not in {e["type"] for e in events}
    await _rebuilt(orgs)
    assert (await orgs.snapshot())[0] == before[0]


async def test_a_retraction_in_the_same_batch_as_its_event_leaves_nothing_of_it(
    orgs: Organisations,
) -> None:
    housing, case = PersonAt("housing"), uuid4()
    notice = housing.event(
        EvictionNoticeServed(case_id=case, notice="section_8", served_on=date(2026, 3, 1)),
        minutes(2),
    )
    retraction = housing.event(
        EnteredInError(
            case_id=case, retracted_event_id=notice.event_id, retracted_type=notice.type,
            reason="wrong case",
        ),
        minutes(2) + timedelta(seconds=1),
    )  # fmt: skip
    await orgs.record(
        [housing.registered(minutes(0), details()), housing.case_opened(minutes(1), case)]
    )
    await orgs.catch_up()
    before = (await orgs.snapshot())[0]
    await orgs.record([notice, retraction])
    await orgs.catch_up()
    assert (await orgs.snapshot())[0] == before


async def _rebuilt(orgs: Organisations) -> None:
    await rebuild_projection(
        pool=orgs.pool, sources=orgs.sources, schema=orgs.schema, id_secret=ID_SECRET
    )


async def test_a_retraction_marks_only_its_own_organisations_event_of_that_id(
    orgs: Organisations,
) -> None:
    """Event ids are unique within an organisation: the charity's event that shares an id
    with housing's retracted one stays, unmarked, in the view and the timeline."""
    housing, charity = PersonAt("housing"), PersonAt("voluntary")
    h_case, v_case, shared_id = uuid4(), uuid4(), uuid4()
    notice = housing.event(
        EvictionNoticeServed(case_id=h_case, notice="section_21", served_on=date(2026, 3, 1)),
        minutes(2),
        event_id=shared_id,
    )
    charity_case = charity.event(
        CaseOpened(
            case_id=v_case, person_id=charity.person_id, reason="drop-in",
            key_worker=KeyWorker(name="Jo Reid"),
        ),
        minutes(2),
        event_id=shared_id,
    )  # fmt: skip
    await orgs.record(
        [
            housing.registered(minutes(0), details()), housing.case_opened(minutes(1), h_case),
            charity.registered(minutes(0), details()), charity_case, notice,
            housing.event(
                EnteredInError(
                    case_id=h_case, retracted_event_id=shared_id, retracted_type=notice.type,
                    reason="wrong person",
                ),
                minutes(3),
            ),
        ]
    )  # fmt: skip
    await orgs.catch_up()
    views, timelines, _ = await orgs.snapshot()
    [(citizen, view)] = views.items()
    assert str(v_case) in json.dumps(view, default=str)  # the charity's case is folded
    events = timelines[citizen]["events"]
    marked = {
        (e["org"], e["retracted_at"] is not None) for e in events if e["event_id"] == str(shared_id)
    }
    assert marked == {("housing", True), ("voluntary", False)}


async def test_a_note_retracted_with_its_values_is_erased_in_the_timeline_also_after_a_replay(
    orgs: Organisations,
) -> None:
    """A flag raised on the wrong person, with a note about someone else: retracted with its
    values, the note is gone from the single view's timeline (the event stays, marked);
    replayed from the organisation's store (which erased it in place too), the same."""
    housing, case = PersonAt("housing"), uuid4()
    note = "the neighbour's dog bit the officer"
    await orgs.record(
        [housing.registered(minutes(0), details()), housing.case_opened(minutes(1), case)]
    )
    await orgs.catch_up()
    before = (await orgs.snapshot())[0]
    flag = housing.event(FlagRaised(case_id=case, flag="risk_to_staff", note=note), minutes(2))
    await orgs.record([flag])
    await orgs.catch_up()
    [citizen] = before
    timeline = json.dumps((await orgs.snapshot())[1][citizen])
    assert note in timeline
    retraction = housing.event(
        EnteredInError(
            case_id=case, retracted_event_id=flag.event_id, retracted_type=flag.type,
            reason="wrong person", values_erased=True,
        ),
        minutes(3),
    )  # fmt: skip
    await orgs.record([retraction])
    async with orgs.pool.acquire() as conn:  # as the organisation's service does
        await EventStore(orgs.sources["housing"], keys=orgs.keys).erase_values(conn, flag.event_id)
    await orgs.catch_up()

    for _ in ("live", "replayed"):
        views, timelines, _links = await orgs.snapshot()
        assert views == before
        [marked] = [e for e in timelines[citizen]["events"] if e["event_id"] == str(flag.event_id)]
        assert marked["retracted_at"] is not None
        assert marked["data"]["note"] == ERASED
        assert note not in json.dumps(timelines[citizen])
        parked = f"SELECT count(*) FROM {orgs.schema}.parked_events"  # noqa: S608
        assert await orgs.pool.fetchval(parked) == 0  # read as erased, not as unreadable
        await _rebuilt(orgs)
