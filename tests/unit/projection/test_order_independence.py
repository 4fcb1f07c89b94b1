"""The single view does not depend on how organisations' logs interleave (replay, Kafka)."""

from collections.abc import Iterable
from itertools import permutations
from uuid import uuid4

import pytest

from events.envelope import Envelope
from events.registry import decode_payload
from services.projection.domain.fold import apply, new_view
from services.projection.domain.view import CitizenView
from tests.unit.projection.factories import interleaved
from tests.unit.projection.stories import three_organisations_story

CITIZEN = uuid4()
STORY = three_organisations_story()
LOGS = list(STORY.values())


def folded(events: Iterable[Envelope]) -> CitizenView:
    view = new_view(CITIZEN)
    for envelope in events:
        payload = decode_payload(envelope.type, envelope.schema_version, envelope.data)
        view = apply(view, envelope, payload)
    return view


BASELINE = folded(event for log in LOGS for event in log)


@pytest.mark.parametrize("seed", range(200))
def test_any_interleaving_of_the_organisations_gives_the_same_view(seed: int) -> None:
    """Two hundred random merges of the three logs, each log in its own order: one view."""
    view = folded(interleaved(LOGS, seed))
    assert view == BASELINE
    assert view.model_dump_json() == BASELINE.model_dump_json()


@pytest.mark.parametrize("order", list(permutations(range(3))))
def test_each_organisation_replayed_whole_in_turn_gives_the_same_view(
    order: tuple[int, ...],
) -> None:
    """Replaying one organisation at a time, in any order (the receiver before the sender)."""
    assert folded(event for index in order for event in LOGS[index]) == BASELINE


def test_the_baseline_is_the_whole_story() -> None:
    """The story the property is checked on has every part of the view in it."""
    assert len(BASELINE.involvements) == 3
    assert len(BASELINE.flags) == 4
    assert BASELINE.referrals[0].status == "accepted"
