"""The projection consumer over real organisations' logs: one view, idempotent, crash-safe."""

from collections.abc import Callable, Iterable, Mapping
from datetime import date
from uuid import UUID, uuid4

import pytest
import structlog
from structlog.testing import capture_logs

from events.envelope import Envelope
from events.shared import FlagRaised
from services.projection.domain.fold import fold
from services.projection.domain.view import CitizenView
from services.projection.service_layer.log_projection import Target
from tests.factories import an_envelope
from tests.integration.projection.conftest import Organisations
from tests.unit.projection.factories import NHS_NUMBER, PersonAt, details, minutes
from tests.unit.projection.stories import three_organisations_story

STORY_EVENTS = 18


def in_time_order(logs: Iterable[list[Envelope]]) -> list[Envelope]:
    return sorted((event for log in logs for event in log), key=Envelope.occurred_sort_key)


async def timeline_rows(orgs: Organisations) -> int:
    count: int = await orgs.pool.fetchval(f"SELECT count(*) FROM {orgs.schema}.timeline")  # noqa: S608
    return count


async def test_one_citizen_across_three_organisations_by_nhs_number(orgs: Organisations) -> None:
    """Housing, mental health and a charity know one NHS number: one citizen, all of it shown."""
    story = three_organisations_story()
    await orgs.record(in_time_order(story.values()))
    assert await orgs.catch_up() == STORY_EVENTS

    [found] = await orgs.queries().by_nhs_number(NHS_NUMBER)
    view = await orgs.queries().citizen_view(found.citizen_id)
    assert view is not None
    assert [(i.org, len(i.cases)) for i in view.involvements] == [
        ("housing", 1), ("mental_health", 1), ("voluntary", 1),
    ]  # fmt: skip
    assert {f.flag for f in view.flags} == {
        "tenancy_at_risk", "eviction_notice_served", "risk_to_self", "crisis_plan_in_place",
    }  # fmt: skip
    [referral] = view.referrals
    assert referral.status == "accepted"
    assert [(c.status, c.org) for c in referral.history] == [
        ("made", "housing"), ("received", "voluntary"), ("accepted", "voluntary"),
    ]  # fmt: skip

    page = await orgs.queries().timeline(found.citizen_id, limit=100, offset=0)
    assert page is not None
    expected = in_time_order(story.values())
    assert [e.event_id for e in page.events] == [e.event_id for e in expected]
    assert {e.org for e in page.events} == {"housing", "mental_health", "voluntary"}


async def test_redelivered_events_change_nothing(orgs: Organisations) -> None:
    """Reading every log again from the start adds no timeline entry and changes no view."""
    await orgs.record(in_time_order(three_organisations_story().values()))
    await orgs.catch_up()
    before = await orgs.snapshot()

    await orgs.reset_checkpoints()
    assert await orgs.catch_up() == STORY_EVENTS

    assert await orgs.snapshot() == before
    assert await timeline_rows(orgs) == STORY_EVENTS


class CrashingFold:
    """The real fold, except that its Nth event raises, as a crash mid-batch would."""

    def __init__(self, crash_on: int) -> None:
        self.crash_on, self.folded = crash_on, 0

    def __call__(
        self, views: Mapping[UUID, CitizenView], events: Iterable[Target]
    ) -> dict[UUID, CitizenView]:
        batch = list(events)
        if self.folded < self.crash_on <= self.folded + len(batch):
            raise RuntimeError("the projection crashed")
        self.folded += len(batch)
        return fold(views, batch)


async def test_a_crash_mid_batch_loses_nothing_and_doubles_nothing(
    orgs: Organisations, unique_schema: Callable[[str], str]
) -> None:
    """A batch that fails leaves no trace; the next consumer completes the view exactly once."""
    await orgs.record(in_time_order(three_organisations_story().values()))
    crashing = orgs.consumer(batch_size=4, fold_batch=CrashingFold(crash_on=7))
    with pytest.raises(RuntimeError):
        await orgs.catch_up(crashing)
    assert 0 < await timeline_rows(orgs) < STORY_EVENTS

    await orgs.catch_up(orgs.consumer(batch_size=4))

    assert await timeline_rows(orgs) == STORY_EVENTS
    assert await orgs.snapshot() == await orgs.reference(unique_schema)


async def test_events_recorded_before_a_registration_are_applied_when_it_arrives(
    orgs: Organisations, unique_schema: Callable[[str], str]
) -> None:
    """A case event whose person is not yet linked waits in the timeline, then joins the view."""
    housing, case_id = PersonAt("housing"), uuid4()
    opened = housing.case_opened(minutes(1), case_id)
    await orgs.record([opened])
    with capture_logs(processors=[structlog.contextvars.merge_contextvars]) as logs:
        await orgs.catch_up()
    assert await orgs.pool.fetchval(f"SELECT count(*) FROM {orgs.schema}.citizens") == 0  # noqa: S608
    [waiting] = [e for e in logs if e["event"] == "event_awaits_person_link"]
    assert waiting["correlation_id"] == opened.correlation_id

    await orgs.record([housing.registered(minutes(0), details(nhs_number=None))])
    await orgs.catch_up()

    [found] = await orgs.queries().by_name_and_birth(
        family_name="SMITH", date_of_birth=date(1979, 3, 12)
    )
    view = await orgs.queries().citizen_view(found.citizen_id)
    assert view is not None
    assert view.involvements[0].cases[0].case_id == case_id
    assert await orgs.snapshot() == await orgs.reference(unique_schema)


async def test_a_person_registered_again_with_an_nhs_number_joins_that_citizen(
    orgs: Organisations, unique_schema: Callable[[str], str]
) -> None:
    """Housing learns the NHS number: its person, cases and timeline move to the shared citizen."""
    housing, health, case_id = PersonAt("housing"), PersonAt("mental_health"), uuid4()
    await orgs.record(
        [
            housing.registered(minutes(0), details(nhs_number=None)),
            housing.case_opened(minutes(1), case_id),
            health.registered(minutes(2), details()),
        ]
    )
    await orgs.catch_up()
    born = date(1979, 3, 12)
    assert len(await orgs.queries().by_name_and_birth(family_name="Smith", date_of_birth=born)) == 2

    await orgs.record([housing.registered(minutes(3), details())])
    await orgs.catch_up()

    [found] = await orgs.queries().by_name_and_birth(family_name="Smith", date_of_birth=born)
    view = await orgs.queries().citizen_view(found.citizen_id)
    assert view is not None
    assert [(i.org, len(i.cases)) for i in view.involvements] == [
        ("housing", 1),
        ("mental_health", 0),
    ]
    page = await orgs.queries().timeline(found.citizen_id, limit=10, offset=0)
    assert page is not None
    assert len(page.events) == 4
    assert await orgs.snapshot() == await orgs.reference(unique_schema)


async def test_an_event_this_version_cannot_read_is_kept_and_skipped(orgs: Organisations) -> None:
    """An unknown event type does not stop the projection; it stays in the person's timeline,
    parked (`caseweave dead-letters` redrives it once a release can read it)."""
    housing = PersonAt("housing")
    unknown = an_envelope(org="housing", subject=housing.subject, type_="housing.from_the_future")
    await orgs.record([housing.registered(minutes(0), details()), unknown])
    with capture_logs() as logs:
        assert await orgs.catch_up() == 2
    assert [e["reason"] for e in logs if e["event"] == "event_parked"] == ["unknown_event_type"]
    [found] = await orgs.queries().by_nhs_number(NHS_NUMBER)
    page = await orgs.queries().timeline(found.citizen_id, limit=10, offset=0)
    assert page is not None
    assert [e.type for e in page.events][-1] == "housing.from_the_future"


async def test_one_log_line_per_batch_with_positions_and_no_personal_data(
    orgs: Organisations,
) -> None:
    """Each batch logs one line naming its log, positions and the correlation ids it carried.

    Names and NHS numbers never appear.
    """
    story = in_time_order(three_organisations_story().values())
    await orgs.record(story)
    with capture_logs(processors=[structlog.contextvars.merge_contextvars]) as logs:
        await orgs.catch_up(orgs.consumer(batch_size=5))
    batches = [e for e in logs if e["event"] == "projection_batch"]
    assert len(batches) == 1 + 2 + 2  # housing 5 events, mental health 7, voluntary 6
    assert sum(b["events"] for b in batches) == STORY_EVENTS
    assert all(b["after"] and b["upto"] and b["source"] for b in batches)
    assert {b["source"] for b in batches} == {"housing", "mental_health", "voluntary"}
    logged = {cid for b in batches for cid in b["correlation_ids"]}
    assert logged == {event.correlation_id for event in story}
    text = repr(logs)
    assert NHS_NUMBER not in text
    assert "Smith" not in text


async def test_two_organisations_using_one_event_id_both_reach_the_view(
    orgs: Organisations,
) -> None:
    """Event ids are unique within an organisation's store; a clash across them loses nothing."""
    housing, health, shared_id = PersonAt("housing"), PersonAt("mental_health"), uuid4()
    h_case, m_case = uuid4(), uuid4()
    await orgs.record(
        [
            housing.registered(minutes(0), details()),
            housing.case_opened(minutes(1), h_case),
            housing.event(
                FlagRaised(case_id=h_case, flag="risk_to_staff"), minutes(2), event_id=shared_id
            ),
            health.registered(minutes(0), details()),
            health.case_opened(minutes(1), m_case),
            health.event(
                FlagRaised(case_id=m_case, flag="risk_to_self"), minutes(3), event_id=shared_id
            ),
        ]
    )
    await orgs.catch_up()
    [found] = await orgs.queries().by_nhs_number(NHS_NUMBER)
    view = await orgs.queries().citizen_view(found.citizen_id)
    assert view is not None
    assert {(f.org, f.flag) for f in view.flags} == {
        ("housing", "risk_to_staff"),
        ("mental_health", "risk_to_self"),
    }
