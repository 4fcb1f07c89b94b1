"""'What happened recently': the latest events from every organisation, newest first."""

from services.projection.domain.view import RECENT_EVENTS
from tests.unit.projection.factories import folded, interleaved
from tests.unit.projection.stories import three_organisations_story


def test_the_view_lists_the_latest_events_of_every_organisation_newest_first() -> None:
    story = three_organisations_story()
    everything = [e for events in story.values() for e in events]
    newest = sorted(everything, key=lambda e: (e.occurred_at, e.recorded_at, e.event_id))[::-1]

    view = folded(everything)

    assert len(view.recent) == RECENT_EVENTS
    assert [r.event_id for r in view.recent] == [e.event_id for e in newest[:RECENT_EVENTS]]
    assert {r.org for r in view.recent} == {"housing", "mental_health", "voluntary"}


def test_the_list_is_the_same_whatever_order_the_events_arrive_in() -> None:
    logs = list(three_organisations_story().values())
    first = folded(interleaved(logs, seed=1)).recent
    for seed in range(2, 30):
        assert folded(interleaved(logs, seed=seed)).recent == first


def test_an_event_delivered_twice_is_listed_once() -> None:
    events = three_organisations_story()["housing"]
    view = folded(events + events)

    assert len({r.event_id for r in view.recent}) == len(view.recent) == len(events)
