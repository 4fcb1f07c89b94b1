"""For dead-letter tests: an event type this release learns mid-test (as an upgrade would teach
it), and a fold that counts how often each event is applied."""

from collections import Counter
from collections.abc import Iterable, Mapping
from datetime import datetime
from uuid import UUID, uuid4

import pytest

from events import registry
from events.envelope import Envelope
from events.registry import EventPayload, event_type
from services.projection.domain.fold import fold
from services.projection.domain.view import CitizenView
from tests.factories import an_envelope
from tests.unit.projection.factories import PersonAt

SUPPORT_PLAN = "housing.support_plan_agreed"  # unknown to this release until `upgrade`


def support_plan_agreed(person: PersonAt, at: datetime) -> Envelope:
    """Return an event of the type this release does not know yet, about `person`."""
    return an_envelope(
        org=person.org, subject=person.subject, type_=SUPPORT_PLAN, category="housing.tenancy",
        data={"plan_id": str(uuid4())}, occurred_at=at, recorded_at=at,
    )  # fmt: skip


def upgrade(monkeypatch: pytest.MonkeyPatch) -> None:
    """Teach this process `SUPPORT_PLAN`, as the next release would (undone after the test)."""
    monkeypatch.setattr(registry, "_TYPES", dict(registry._TYPES))
    monkeypatch.setattr(registry, "_LATEST", dict(registry._LATEST))

    @event_type(SUPPORT_PLAN, category="housing.tenancy")
    class SupportPlanAgreed(EventPayload):
        """A support plan was agreed with the person (test only)."""

        plan_id: UUID


class CountingFold:
    """The projection's fold, counting how many times each event id is applied."""

    def __init__(self) -> None:
        self.applied: Counter[UUID] = Counter()

    def __call__(
        self,
        views: Mapping[UUID, CitizenView],
        events: Iterable[tuple[UUID, Envelope, EventPayload]],
    ) -> dict[UUID, CitizenView]:
        listed = list(events)
        self.applied.update(envelope.event_id for _, envelope, _ in listed)
        return fold(views, listed)
