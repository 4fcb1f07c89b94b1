"""What every read of a citizen's data shares: who reads (and why), the access log entry
written before the answer, the read model, and the refusals (404, 403) that say nothing
about whether the person exists."""

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Annotated
from uuid import UUID

from fastapi import Depends, Request

from events.consent import Purpose
from events.envelope import ORGANISATIONS, OrgId
from events.registry import registered_types
from services.projection.adapters.access_log import Access, AccessLog, ReadKind
from services.projection.adapters.break_glass import BreakGlass
from services.projection.adapters.identity_confirmations import IdentityConfirmations
from services.projection.adapters.queries import CitizenQueries
from services.projection.domain.identity_conflicts import (
    RecordKey,
    StandingLinks,
    disputed_records,
)
from services.projection.domain.sharing import SharingPolicy, Viewer, has_relationship, may_find
from services.projection.domain.view import CitizenView
from services.projection.entrypoints.http.purpose_of_use import PurposeDep
from services.runtime.api_keys import Caller
from services.runtime.http.auth import CallerDep
from services.runtime.http.errors import ApiError, not_found

EVENT_CATEGORIES = {model.event_type: model.category for model in registered_types()}


def _recorders_by_category() -> dict[str, frozenset[OrgId]]:
    """Which organisations record each category: an organisation's own vocabulary (its
    name is the type's prefix), or everyone's shared one."""
    recorders: dict[str, frozenset[OrgId]] = {}
    for model in registered_types():
        prefix = model.event_type.split(".")[0]
        by = frozenset(org for org in ORGANISATIONS if org == prefix) or frozenset(ORGANISATIONS)
        recorders[model.category] = recorders.get(model.category, frozenset()) | by
    return recorders


_RECORDERS = _recorders_by_category()


def recorders_of(category: str) -> frozenset[OrgId]:
    """Return the organisations that record events of `category` (every organisation for a
    category no event type has: the kinds of information a view is made of)."""
    return _RECORDERS.get(category, frozenset(ORGANISATIONS))


READ_ERRORS: dict[int | str, dict[str, str]] = {
    401: {"description": "no API key or token, or an unknown, revoked or expired one"},
    422: {"description": "the request breaks a rule; the body names the field and the rule"},
}


def viewer_of(request: Request, caller: CallerDep, purpose: PurposeDep) -> Viewer:
    """Return who is looking and why, with the place's sharing rules."""
    policy: SharingPolicy = request.app.state.sharing
    return Viewer(org=caller.org, role=caller.role, policy=policy, purpose=purpose)


ViewerDep = Annotated[Viewer, Depends(viewer_of)]


@dataclass(frozen=True)
class Reads:
    """Records each read of a citizen's data in the access log, before it is answered."""

    log: AccessLog
    glass: BreakGlass
    caller: Caller
    purpose: Purpose
    correlation_id: str
    confirmations: IdentityConfirmations
    _links: dict[UUID, StandingLinks] = field(default_factory=dict, compare=False)

    async def links(self, view: CitizenView) -> StandingLinks:
        """Return the stewards' links that settle the person's identity conflicts (read from
        the decision store once per request, and only for a person who has any)."""
        if view.citizen_id not in self._links:
            self._links[view.citizen_id] = await links_of(view, self.confirmations)
        return self._links[view.citizen_id]

    async def works_with(self, view: CitizenView) -> bool:
        """Tell whether the caller's organisation works with the person (`has_relationship`)."""
        return has_relationship(view, self.caller.org, links=await self.links(view))

    async def related(self, view: CitizenView) -> tuple[bool, bool]:
        """Tell whether the caller may open the full record, and whether only by break-glass."""
        if await self.works_with(view):
            return True, False
        now = datetime.now(UTC)
        glass = await self.glass.is_open(view.citizen_id, key_id=self.caller.key_id, now=now)
        return glass, glass

    async def hidden(self, view: CitizenView) -> frozenset[RecordKey]:
        """Return the records in an identity conflict that are not the caller's own
        organisation's: their data shows to nobody else (`identity_conflicts`)."""
        disputed = disputed_records(view.involvements, links=await self.links(view))
        return frozenset(key for key in disputed if key[0] != self.caller.org)

    async def record(
        self,
        kind: ReadKind,
        citizen_categories: Sequence[tuple[UUID, Sequence[str]]],
        *,
        break_glass: bool = False,
    ) -> None:
        """Log that these citizens' data of these categories is about to be returned."""
        now = datetime.now(UTC)
        await self.log.record(
            [
                Access(
                    read_at=now, citizen_id=citizen, viewer_org=self.caller.org,
                    viewer_role=self.caller.role, key_id=self.caller.key_id, read_kind=kind,
                    categories=list(categories), purpose=self.purpose, break_glass=break_glass,
                    correlation_id=self.correlation_id,
                )
                for citizen, categories in citizen_categories
            ]
        )  # fmt: skip


def reads_of(request: Request, caller: CallerDep, purpose: PurposeDep) -> Reads:
    """Return the access log recorder of this request."""
    log: AccessLog = request.app.state.access_log
    glass: BreakGlass = request.app.state.break_glass
    confirmations: IdentityConfirmations = request.app.state.identity_confirmations
    return Reads(log, glass, caller, purpose, request.state.correlation_id, confirmations)


ReadsDep = Annotated[Reads, Depends(reads_of)]


def citizen_queries(request: Request) -> CitizenQueries:
    """Return the app's read-model queries."""
    queries: CitizenQueries = request.app.state.citizens
    return queries


QueriesDep = Annotated[CitizenQueries, Depends(citizen_queries)]


async def citizen_or_404(queries: CitizenQueries, citizen_id: UUID) -> CitizenView:
    """Return the citizen's stored view, or answer 404."""
    view = await queries.citizen_view(citizen_id)
    if view is None:
        raise not_found("citizen")
    return view


async def full_record_open(view: CitizenView, viewer: Viewer, reads: Reads) -> bool:
    """Return whether the caller opens the full record only by break-glass; if they may not
    open it, answer 403, or 404 when the rules hide the person from them altogether."""
    related, glass = await reads.related(view)
    if not related:
        raise relationship_required() if may_find(view, viewer) else not_found("citizen")
    return glass


async def links_of(view: CitizenView, confirmations: IdentityConfirmations) -> StandingLinks:
    """Return the stewards' standing links among the person's records that settle identity
    conflicts (read only when the person has any: none otherwise)."""
    if not disputed_records(view.involvements):
        return {}
    records = [(i.org, i.person_id) for i in view.involvements if i.registration is not None]
    return await confirmations.links(records)


async def works_with(view: CitizenView, org: OrgId, confirmations: IdentityConfirmations) -> bool:
    """Tell whether `org` works with the person (`has_relationship`), identity conflicts
    settled as the stewards' links say."""
    return has_relationship(view, org, links=await links_of(view, confirmations))


async def holds_attested_record(
    view: CitizenView, org: OrgId, confirmations: IdentityConfirmations
) -> bool:
    """Tell whether `org` holds a record of the person that is not disputed (an organisation
    whose only record claims the person's NHS number under other details is told nothing
    of what happens with them: no alerts)."""
    disputed = disputed_records(view.involvements, links=await links_of(view, confirmations))
    return any(i.org == org and (i.org, i.person_id) not in disputed for i in view.involvements)


def relationship_required() -> ApiError:
    return ApiError(
        403,
        "relationship_required",
        "only an organisation working with the person (an open case or an accepted "
        "referral) may read this; GET /v1/citizens/{id} shows who to contact",
    )
