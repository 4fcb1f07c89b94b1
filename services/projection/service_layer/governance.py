"""Information governance: breaking the glass, and the alerts IG leads review.

Breaking the glass opens a person's full record to one key for a short time, for a caller
whose organisation does not work with them; each grant is an alert. A new relationship (a
case another organisation opened, without a referral, on a person the lead's organisation
holds) is an alert too. A lead sees an alert about a person only if their organisation holds
an undisputed record of them and the person's decisions do not withhold the other
organisation from theirs; each person shown is a read in their access log.
"""

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from uuid import UUID

import structlog

from events.envelope import OrgId
from events.governance import BREAK_GLASS_CATEGORY
from services.projection.adapters.access_log import Access, AccessLog, ReadKind
from services.projection.adapters.break_glass import BreakGlass, BreakGlassGrant
from services.projection.adapters.identity_confirmations import IdentityConfirmations
from services.projection.adapters.queries import CitizenQueries
from services.projection.adapters.relationship_starts import RelationshipStarts
from services.projection.domain.identity_conflicts import disputed_records
from services.projection.domain.sharing import SharingPolicy, Viewer, has_relationship, may_find
from services.projection.service_layer.reading import (
    CitizenNotFound,
    holds_attested_record,
    links_of,
    works_with,
)
from services.runtime.api_keys import Caller

logger = structlog.get_logger(__name__)


class RelationshipExists(Exception):
    """The caller's organisation works with the person: no glass to break (an alert for
    nothing would bury the others)."""


@dataclass(frozen=True)
class NewRelationship:
    """A case another organisation opened, without a referral, on a person the lead's
    organisation holds: who, which case, when, and whether the record it rests on is
    disputed and whether the organisation works with the person now."""

    citizen_id: UUID
    org: OrgId
    actor: str
    case_id: UUID
    opened_at: datetime
    recorded_at: datetime
    disputed: bool
    relationship: bool


@dataclass(frozen=True)
class Governance:
    """The read model, the stewards' links, the grants and the access log, for one request."""

    policy: SharingPolicy
    queries: CitizenQueries
    confirmations: IdentityConfirmations
    access_log: AccessLog
    correlation_id: str

    async def break_the_glass(
        self, glass: BreakGlass, caller: Caller, viewer: Viewer, citizen_id: UUID, reason: str
    ) -> BreakGlassGrant:
        """Grant the caller's key emergency access to the citizen's record (raises
        CitizenNotFound, the same whether hidden or unknown; RelationshipExists)."""
        view = await self.queries.citizen_view(citizen_id)
        if view is None or not may_find(view, viewer):
            raise CitizenNotFound()
        if await works_with(view, caller.org, self.confirmations):
            raise RelationshipExists()
        grant = await glass.grant(
            citizen_id,
            caller=caller,
            reason=reason,
            correlation_id=self.correlation_id,
            now=datetime.now(UTC),
        )
        logger.warning(  # the reason may name people: it stays in the audit schema, not the logs
            "break_glass_granted", citizen_id=str(citizen_id), expires_at=str(grant.expires_at)
        )
        return grant

    async def break_glass_alerts(
        self, glass: BreakGlass, lead: Caller, *, limit: int, offset: int
    ) -> list[BreakGlassGrant]:
        """Return a page of the lead's organisation's break-glass alerts (its own keys'
        grants, and those opening a person it holds, as the class says)."""
        grants = await glass.of_org(lead.org, limit=limit, offset=offset)
        views = await self.queries.citizen_views(list({g.citizen_id for g in grants}))
        reader = self._reader(lead)
        held = {
            citizen: await holds_attested_record(view, lead.org, self.confirmations)
            for citizen, view in views.items()
        }
        shown = [
            g
            for g in grants
            if g.viewer_org == lead.org
            or (
                held.get(g.citizen_id, False)
                and g.viewer_org not in reader.about(views[g.citizen_id]).withheld
            )
        ]
        citizens = (g.citizen_id for g in shown)
        await self._log_review(lead, citizens, "break_glass_alerts", [BREAK_GLASS_CATEGORY])
        return shown

    async def new_relationships(
        self, starts: RelationshipStarts, lead: Caller, *, limit: int, offset: int
    ) -> list[NewRelationship]:
        """Return a page of the lead's organisation's new-relationship alerts, newest first."""
        found = await starts.seen_by(lead.org, limit=limit, offset=offset)
        views = await self.queries.citizen_views(list({citizen for citizen, _ in found}))
        reader = self._reader(lead)
        alerts = []
        for citizen, opened in found:
            view = views.get(citizen)
            if view is None or opened.org in reader.about(view).withheld:
                continue
            links = await links_of(view, self.confirmations)
            disputed = disputed_records(view.involvements, links=links)
            if not any(
                i.org == lead.org and (i.org, i.person_id) not in disputed
                for i in view.involvements
            ):
                continue  # a claimant to the person's NHS number is told nothing of them
            alerts.append(
                NewRelationship(
                    citizen_id=citizen, org=opened.org, actor=opened.actor,
                    case_id=opened.data["case_id"], opened_at=opened.occurred_at,
                    recorded_at=opened.recorded_at,
                    disputed=(opened.org, opened.subject) in disputed,
                    relationship=has_relationship(view, opened.org, links=links),
                )
            )  # fmt: skip
        citizens = (a.citizen_id for a in alerts)
        await self._log_review(lead, citizens, "relationship_alerts", ["case.involvement"])
        return alerts

    def _reader(self, lead: Caller) -> Viewer:
        return Viewer(org=lead.org, role=lead.role, policy=self.policy, purpose="audit")

    async def _log_review(
        self, lead: Caller, citizens: Iterable[UUID], kind: ReadKind, categories: list[str]
    ) -> None:
        """Record in each person's access log that an IG lead read alerts about them."""
        await self.access_log.record(
            [
                Access(
                    read_at=datetime.now(UTC), citizen_id=citizen, viewer_org=lead.org,
                    viewer_role=lead.role, key_id=lead.key_id, read_kind=kind,
                    categories=categories, purpose="audit", break_glass=False,
                    correlation_id=self.correlation_id,
                )
                for citizen in sorted(set(citizens))
            ]
        )  # fmt: skip
