"""What every read of a citizen's data shares: who reads (and why), the access log entry
written before the answer, and the refusals that say nothing about whether the person
exists (`CitizenNotFound` for a person the caller may not know of, as for nobody at all;
`RelationshipRequired` for one they may find but not read)."""

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from uuid import UUID

from events.consent import Purpose
from events.envelope import OrgId
from events.organisations import SECTORS, Organisations, Sector
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
from services.projection.domain.sharing import Viewer, has_relationship, may_find
from services.projection.domain.view import CitizenView
from services.runtime.api_keys import Caller

EVENT_CATEGORIES = {model.event_type: model.category for model in registered_types()}


class CitizenNotFound(Exception):
    """No such citizen, or one the caller may not know of: the same answer either way."""


class RelationshipRequired(Exception):
    """The caller may find the person but not read this: their organisation does not work
    with them (no open case, no accepted referral) and has not broken the glass."""


def _recording_sectors_by_category() -> dict[str, frozenset[Sector]]:
    """Which sectors record each category: a sector's own vocabulary (its name is the type's
    prefix), or everyone's shared one."""
    recorders: dict[str, frozenset[Sector]] = {}
    for model in registered_types():
        prefix = model.event_type.split(".")[0]
        by = frozenset(s for s in SECTORS if s == prefix) or frozenset(SECTORS)
        recorders[model.category] = recorders.get(model.category, frozenset()) | by
    return recorders


_RECORDING_SECTORS = _recording_sectors_by_category()


def recorders_of(category: str, place: Organisations) -> frozenset[OrgId]:
    """Return the organisations of `place` that record events of `category` (every one for a
    category no event type has: the kinds of information a view is made of)."""
    sectors = _RECORDING_SECTORS.get(category, frozenset(SECTORS))
    return frozenset(o.id for o in place.organisations if o.sector in sectors)


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


async def citizen_view(queries: CitizenQueries, citizen_id: UUID) -> CitizenView:
    """Return the citizen's stored view (raises CitizenNotFound)."""
    view = await queries.citizen_view(citizen_id)
    if view is None:
        raise CitizenNotFound()
    return view


async def full_record_open(view: CitizenView, viewer: Viewer, reads: Reads) -> bool:
    """Return whether the caller opens the full record only by break-glass (raises
    RelationshipRequired if they may not open it, CitizenNotFound when the rules hide the
    person from them altogether)."""
    related, glass = await reads.related(view)
    if not related:
        raise RelationshipRequired() if may_find(view, viewer) else CitizenNotFound()
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
