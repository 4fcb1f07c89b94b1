"""The single view as a fold: `apply` one event at a time, the same result in any cross-org order.

Each part of the view is either keyed by one organisation's own references (involvements,
cases, flags), which only that organisation's in-order events touch, or computed from a
set of facts (identity from registrations, a referral's status from its history, last
contact as a maximum). So two interleavings of the same organisations' logs fold to the
same view.
"""

from collections.abc import Callable, Iterable, Mapping
from typing import Any
from uuid import UUID

from events.envelope import Envelope
from events.registry import EventPayload
from events.shared import PersonRegistered
from services.projection.domain.flags import apply_to_flags
from services.projection.domain.identity import best_known_identity
from services.projection.domain.involvements import apply_to_involvements
from services.projection.domain.referrals import apply_to_referrals
from services.projection.domain.view import CitizenView

Apply = Callable[[CitizenView, Envelope, EventPayload], CitizenView]


def new_view(citizen_id: UUID) -> CitizenView:
    """Return the view of a citizen nothing is known about yet."""
    return CitizenView(citizen_id=citizen_id)


def apply(view: CitizenView, envelope: Envelope, payload: EventPayload) -> CitizenView:
    """Return the view with one more event folded in; `view` itself is left as it was."""
    update: dict[str, Any] = {}
    involvements = apply_to_involvements(view.involvements, envelope, payload)
    if involvements is not view.involvements:
        update["involvements"] = involvements
        if isinstance(payload, PersonRegistered):
            update["identity"] = best_known_identity(involvements)
    flags = apply_to_flags(view.flags, envelope, payload)
    if flags is not view.flags:
        update["flags"] = flags
    referrals = apply_to_referrals(view.referrals, envelope, payload)
    if referrals is not view.referrals:
        update["referrals"] = referrals
    return view.model_copy(update=update) if update else view


def fold(
    views: Mapping[UUID, CitizenView],
    events: Iterable[tuple[UUID, Envelope, EventPayload]],
    *,
    apply_event: Apply = apply,
) -> dict[UUID, CitizenView]:
    """Return `views` with each `(citizen id, envelope, payload)` applied in turn."""
    folded = dict(views)
    for citizen_id, envelope, payload in events:
        view = folded.get(citizen_id) or new_view(citizen_id)
        folded[citizen_id] = apply_event(view, envelope, payload)
    return folded
