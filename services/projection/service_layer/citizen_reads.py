"""Reading one citizen's data: the single view (also as FHIR), the timeline, the access log.

Each read decides here, in one place, what the caller sees: the person is found (or not, as
the rules say), the full record opens only to an organisation working with them (or by
break-glass), the place's sharing rules and the person's decisions filter what is shown,
records in an identity conflict show to their own organisation only, and the read is in the
access log before the answer leaves. Refusals are `CitizenNotFound` and
`RelationshipRequired` (`reading.py`); the HTTP routes only parse and answer.
"""

import asyncio
from collections.abc import Collection, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from uuid import UUID

from events.envelope import OrgId
from services.projection.adapters.access_log import AccessLog, AccessLogPage
from services.projection.adapters.queries import (
    CitizenQueries,
    Timeline,
    TimelineEvent,
    TimelineFilter,
)
from services.projection.domain.fhir_bundle import citizen_bundle
from services.projection.domain.free_text import without_hidden_text
from services.projection.domain.identity_conflicts import RecordKey
from services.projection.domain.sharing import (
    IDENTITY,
    SharedView,
    Viewer,
    categories_shown,
    may_find,
    may_read_text_of,
    organisations_named,
    shared_view,
    visible_categories,
    with_last_contacts,
)
from services.projection.domain.view import RECENT_EVENTS, CitizenView, RecentEvent
from services.projection.service_layer.reading import (
    EVENT_CATEGORIES,
    CitizenNotFound,
    Reads,
    RelationshipRequired,
    citizen_view,
    full_record_open,
    recorders_of,
)


@dataclass(frozen=True)
class TimelineNarrowing:
    """What a caller narrowed a timeline to: one organisation, one category, a period."""

    org: OrgId | None = None
    category: str | None = None
    occurred_from: datetime | None = None
    occurred_before: datetime | None = None


@dataclass(frozen=True)
class CitizenReading:
    """One caller's reads of citizens' data: who reads and why, the read model, the log."""

    viewer: Viewer
    reads: Reads
    queries: CitizenQueries

    async def single_view(self, citizen_id: UUID) -> SharedView:
        """Return the citizen's single view as the caller may see it (contacts only for an
        organisation that does not work with them)."""
        view = await citizen_view(self.queries, citizen_id)
        related, glass = await self.reads.related(view)
        if not related and not may_find(view, self.viewer):
            raise CitizenNotFound()
        hidden = await self.reads.hidden(view)
        shared, access = shared_view(
            view, self.viewer, flag_categories=EVENT_CATEGORIES, related=related, hidden=hidden
        )
        recent: tuple[RecentEvent, ...] = ()
        if access == "full":
            only = _visible_to(self.viewer.about(view), hidden)
            latest, contacts = await asyncio.gather(  # two reads at once, on two connections
                self.queries.recent_events(citizen_id, only=only, limit=RECENT_EVENTS),
                self.queries.last_contacts(citizen_id, only=only),
            )
            recent = tuple(latest)
            shared = with_last_contacts(shared, contacts)
        answer = SharedView(
            **{**dict(shared), "recent": recent}, access=access,
            organisations=organisations_named(shared, self.viewer.policy.place),
        )  # fmt: skip
        shown = categories_shown(answer, flag_categories=EVENT_CATEGORIES)
        await self.reads.record("view", [(citizen_id, shown)], break_glass=glass)
        return answer

    async def fhir_bundle(self, citizen_id: UUID, *, generated_at: datetime) -> dict[str, Any]:
        """Return the citizen's full single view as a FHIR R4 Bundle."""
        view = await citizen_view(self.queries, citizen_id)
        glass = await full_record_open(view, self.viewer, self.reads)
        hidden = await self.reads.hidden(view)
        shared, _ = shared_view(
            view, self.viewer, flag_categories=EVENT_CATEGORIES, related=True, hidden=hidden
        )
        bundle = citizen_bundle(shared, generated_at=generated_at, place=self.viewer.policy.place)
        shown = categories_shown(shared, flag_categories=EVENT_CATEGORIES)
        await self.reads.record("fhir", [(citizen_id, shown)], break_glass=glass)
        return bundle

    async def timeline(
        self, citizen_id: UUID, *, limit: int, offset: int, narrowing: TimelineNarrowing
    ) -> Timeline:
        """Return a page of the citizen's timeline, of what the caller may see."""
        view = await citizen_view(self.queries, citizen_id)
        glass = await full_record_open(view, self.viewer, self.reads)
        viewer = self.viewer.about(view)
        only = _visible_to(viewer, await self.reads.hidden(view)).model_copy(
            update={
                "org": narrowing.org,
                "category": narrowing.category,
                "occurred_from": narrowing.occurred_from,
                "occurred_before": narrowing.occurred_before,
            }
        )
        page = await self.queries.timeline(citizen_id, limit=limit, offset=offset, only=only)
        senders = {str(r.referral_id): r.from_org for r in view.referrals}
        page = page.model_copy(
            update={"events": [_without_hidden_details(e, viewer, senders) for e in page.events]}
        )
        categories = sorted({e.category for e in page.events})
        await self.reads.record("timeline", [(citizen_id, categories)], break_glass=glass)
        return page

    async def access_log(
        self, log: AccessLog, citizen_id: UUID, *, limit: int, offset: int
    ) -> AccessLogPage:
        """Return a page of who read the citizen's data, for an organisation working with
        them; reading it is logged too."""
        view = await citizen_view(self.queries, citizen_id)
        if not await self.reads.works_with(view):
            raise RelationshipRequired() if may_find(view, self.viewer) else CitizenNotFound()
        viewer = self.viewer.about(view)
        accesses = [
            access.model_copy(update={"categories": _seen_by(viewer, access.categories)})
            for access in await log.of_citizen(
                citizen_id,
                limit=limit,
                offset=offset,
                not_by=viewer.withheld,
                read_since=_first_registered(view, viewer.org),
            )
        ]
        await self.reads.record("access_log", [(citizen_id, [])])
        return AccessLogPage(citizen_id=citizen_id, limit=limit, offset=offset, accesses=accesses)


def _first_registered(view: CitizenView, org: OrgId) -> datetime | None:
    """When `org` first registered the person: reads before then were of other
    organisations' records, which the person may since have kept from it (their existence
    alone would say so)."""
    return min(
        (i.registration.occurred_at for i in view.involvements if i.org == org and i.registration),
        default=None,
    )


def _seen_by(viewer: Viewer, categories: list[str]) -> list[str]:
    """Keep the categories the viewer may see of some organisation that records them: the
    log does not tell them which kinds of information exist that the rules hide from them
    (their own organisation's records being open to them does not open another's clinical
    categories)."""
    return [
        category
        for category in categories
        if any(viewer.may_see(org, category) for org in recorders_of(category, viewer.policy.place))
    ]


def _visible_to(viewer: Viewer, hidden: Collection[RecordKey]) -> TimelineFilter:
    """Return the timeline filter of what the viewer (narrowed to one person) may see,
    without the events of `hidden` records."""
    return TimelineFilter(
        visible=tuple(visible_categories(viewer, viewer.policy.place.ids)),
        naming_none_of=tuple(viewer.withheld),
        own_org=viewer.org,
        hidden_records=tuple(sorted(hidden)),
    )


_RECEIVERS_OWN = frozenset({"person_id", "found_by", "match_score"})  # of `referral.received`


def _without_hidden_details(
    event: TimelineEvent, viewer: Viewer, senders: Mapping[str, str]
) -> TimelineEvent:
    """Drop what the event carries that the viewer may not see of it: a referral's copy of
    the person's details unless the rules share the sender's `person.identity` (a referral
    carries who the person is), the receiver's person id and how it found them on another
    organisation's receipt, and free text unless the viewer may read its writer's
    (`domain/free_text.py`: a mental health case's reason is clinical)."""
    data = event.data
    if "person" in data and not viewer.may_see(event.org, IDENTITY):
        data = {key: value for key, value in data.items() if key != "person"}
    if event.org != viewer.org and event.type == "referral.received":
        # the receiver's own reference for the person, and how it found them: whether it
        # held a record already (one the person may withhold from the viewer) stays unsaid
        data = {key: value for key, value in data.items() if key not in _RECEIVERS_OWN}
    sides = {event.org, data.get("from_org"), data.get("to_org")}
    party = event.type.startswith("referral.") and viewer.org in sides
    data = without_hidden_text(
        event.type,
        event.org,
        data,
        may_read=lambda writer: writer == viewer.org or may_read_text_of(viewer, writer),
        party=party,
        senders=senders,
    )
    return event if data == event.data else event.model_copy(update={"data": data})
