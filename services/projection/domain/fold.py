"""The single view as a fold: `apply` one event at a time, the same result in any cross-org order.

Each part of the view is either keyed by one organisation's own references (involvements,
cases, flags), which only that organisation's in-order events touch, or computed from a
set of facts (identity from registrations, a referral's status from its history, last
contact as a maximum). So two interleavings of the same organisations' logs fold to the
same view.

Events are folded into a `WorkingView`, a mutable working copy of the view, and the frozen
`CitizenView` is built from it once: `fold` does so once per citizen for a whole batch,
`apply` once per event.
"""

from collections.abc import Callable, Iterable, Mapping
from datetime import UTC, datetime
from typing import Any
from uuid import UUID

from events.envelope import Envelope
from events.registry import EventPayload
from events.shared import PersonDetailsChanged, PersonRegistered
from services.projection.domain.consent import (
    apply_to_consents,
    concerns_consents,
    consents_of,
    working_consents,
)
from services.projection.domain.flags import apply_to_flags, concerns_flags, flags_of
from services.projection.domain.identity import best_known_identity
from services.projection.domain.involvements import (
    apply_to_involvements,
    concerns_involvements,
    involvements_of,
    working_involvements,
)
from services.projection.domain.referrals import (
    apply_to_referrals,
    concerns_referrals,
    referrals_of,
    working_referrals,
)
from services.projection.domain.view import RECENT_EVENTS, CitizenView, RecentEvent

BatchFold = Callable[
    [Mapping[UUID, CitizenView], Iterable[tuple[UUID, Envelope, EventPayload]]],
    dict[UUID, CitizenView],
]


_IDENTIFYING = (PersonRegistered, PersonDetailsChanged)  # events that change who the person is


class WorkingView:
    """A citizen's view while events are folded into it; `view()` gives the frozen view."""

    __slots__ = (
        "_changed", "_consents", "_flags", "_involvements", "_recent", "_referrals",
        "_registered", "_view",
    )  # fmt: skip

    def __init__(self, view: CitizenView) -> None:
        self._view = view
        self._involvements = working_involvements(view.involvements)
        self._flags = {(f.org, f.flag): f for f in view.flags}
        self._referrals = working_referrals(view.referrals)
        self._consents = working_consents(view.consents)
        self._recent = WorkingRecent(view.recent)
        self._changed: set[str] = set()
        self._registered = False

    def apply(self, envelope: Envelope, payload: EventPayload) -> None:
        """Fold one more event in."""
        if self._recent.add(envelope):
            self._changed.add("recent")
        kind = type(payload)
        involvements, flags, referrals, consents = _CONCERNS.get(kind) or _concerns(kind)
        if involvements and apply_to_involvements(self._involvements, envelope, payload):
            self._changed.add("involvements")
            self._registered = self._registered or isinstance(payload, _IDENTIFYING)
        if flags and apply_to_flags(self._flags, envelope, payload):
            self._changed.add("flags")
        if referrals and apply_to_referrals(self._referrals, envelope, payload):
            self._changed.add("referrals")
        if consents and apply_to_consents(self._consents, envelope, payload):
            self._changed.add("consents")

    def view(self) -> CitizenView:
        """Return the view with every event folded in (the original when none changed it)."""
        if not self._changed:
            return self._view
        update: dict[str, Any] = {}
        if "involvements" in self._changed:
            update["involvements"] = involvements = involvements_of(self._involvements)
            if self._registered:
                update["identity"] = best_known_identity(involvements)
        if "flags" in self._changed:
            update["flags"] = flags_of(self._flags)
        if "referrals" in self._changed:
            update["referrals"] = referrals_of(self._referrals)
        if "consents" in self._changed:
            update["consents"] = consents_of(self._consents)
        if "recent" in self._changed:
            update["recent"] = self._recent.recent()
        return self._view.model_copy(update=update)


Recency = tuple[datetime, datetime, int]  # occurred, recorded, event id (as its number)


class WorkingRecent:
    """The latest events while a fold adds to them; `recent()` gives the view's tuple.

    Events rank by when they occurred, then when they were recorded, then their id, so the
    list is the same for every arrival order. Entries stay newest first (as every view's list
    is), each with its rank worked out once; an event's `RecentEvent` is made only if it is
    still among the latest when the fold ends.
    """

    __slots__ = ("_entries", "_listed")

    def __init__(self, stored: Iterable[RecentEvent]) -> None:
        self._entries: list[tuple[Recency, str, RecentEvent | Envelope]] = [
            ((_utc(r.occurred_at), _utc(r.recorded_at), r.event_id.int), r.org, r) for r in stored
        ]
        self._listed = {(rank[2], org) for rank, org, _ in self._entries}  # (event id, org)

    def add(self, envelope: Envelope) -> bool:
        """Add an event unless it is listed already or older than the latest ones; return
        whether it made the list. It goes in after every entry ranking at least as high:
        where a stable sort of the list would put it."""
        entries = self._entries
        event_id, org = envelope.event_id.int, envelope.org
        rank = (_utc(envelope.occurred_at), _utc(envelope.recorded_at), event_id)
        if len(entries) >= RECENT_EVENTS and rank <= entries[-1][0]:
            return False
        if (event_id, org) in self._listed:
            return False
        at = 0
        while at < len(entries) and entries[at][0] >= rank:
            at += 1
        entries.insert(at, (rank, org, envelope))
        self._listed.add((event_id, org))
        if len(entries) > RECENT_EVENTS:
            dropped, dropped_org, _ = entries.pop()
            self._listed.discard((dropped[2], dropped_org))
        return True

    def recent(self) -> tuple[RecentEvent, ...]:
        """Return the latest events, newest first."""
        return tuple(
            entry if isinstance(entry, RecentEvent) else _recent_event(entry)
            for _, _, entry in self._entries
        )


def _utc(moment: datetime) -> datetime:
    """Return the same instant in UTC: instants whose time zones are one object compare
    without asking each its offset (a view read back from JSON and an event read from
    PostgreSQL hold UTC as different objects, and ranks are compared for every event)."""
    return moment if moment.tzinfo is UTC else moment.astimezone(UTC)


def _recent_event(envelope: Envelope) -> RecentEvent:
    return RecentEvent(
        event_id=envelope.event_id, org=envelope.org, type=envelope.type,
        category=envelope.category, occurred_at=envelope.occurred_at,
        recorded_at=envelope.recorded_at,
    )  # fmt: skip


_CONCERNS: dict[type[EventPayload], tuple[bool, bool, bool, bool]] = {}


def _concerns(kind: type[EventPayload]) -> tuple[bool, bool, bool, bool]:
    """Return (and remember) which parts of the view events of this payload type can change."""
    concerns = (
        concerns_involvements(kind),
        concerns_flags(kind),
        concerns_referrals(kind),
        concerns_consents(kind),
    )
    _CONCERNS[kind] = concerns
    return concerns


def new_view(citizen_id: UUID) -> CitizenView:
    """Return the view of a citizen nothing is known about yet."""
    return CitizenView(citizen_id=citizen_id)


def apply(view: CitizenView, envelope: Envelope, payload: EventPayload) -> CitizenView:
    """Return the view with one more event folded in; `view` itself is left as it was."""
    working = WorkingView(view)
    working.apply(envelope, payload)
    return working.view()


def fold(
    views: Mapping[UUID, CitizenView], events: Iterable[tuple[UUID, Envelope, EventPayload]]
) -> dict[UUID, CitizenView]:
    """Return `views` with each `(citizen id, envelope, payload)` applied in turn."""
    folded = dict(views)
    working: dict[UUID, WorkingView] = {}
    for citizen_id, envelope, payload in events:
        draft = working.get(citizen_id)
        if draft is None:
            draft = working[citizen_id] = WorkingView(
                folded.get(citizen_id) or new_view(citizen_id)
            )
        draft.apply(envelope, payload)
    folded.update((citizen_id, draft.view()) for citizen_id, draft in working.items())
    return folded
