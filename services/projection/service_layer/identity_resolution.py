"""Identity resolution: which citizen each organisation's record is, kept up to date.

A `person.registered` event stores the record's latest details (`MatchStore`), scores it
against the records sharing a blocking key or NHS number with it (never the whole
population), and re-resolves every record connected to it (by scored pair, NHS number,
shared citizen or human decision) with `linkage.resolve`. Two records of one NHS
number whose names or birth dates disagree are joined by the number and wait in the review
queue (an identity conflict: `domain/identity_conflicts.py`). A data steward's decision
re-resolves the records it names the same way (a link of two organisations' records takes
effect once the stewards of both have linked it: `identity_decisions.decisions_in_force`);
a recorded decision that would break an NHS-number rule is skipped and logged
(`identity_decisions_skipped`). Each citizen's id
comes from its anchor (`citizen_ids`), so the same records, scores and decisions give the
same ids in any order.

Incremental folding is right for almost every batch; a citizen is folded afresh from the
timeline instead when
- a record moved to another citizen (a new link, a split, a changed registration): both the
  old and the new citizen are refolded;
- a record's earlier events arrived before any registration linked it: those events are in
  the timeline, unapplied, and folding the citizen from the timeline applies them.

Re-linking is one at a time per read model (the unit of work's re-linking lock), so
two batches or a batch and a decision never resolve the same records from stale reads. A
batch that only folds holds the same lock shared from before it reads links until it
commits: no link it folds by can change under it, and such batches run side by side.
"""

import dataclasses
import functools
from collections.abc import Collection, Sequence
from dataclasses import dataclass
from uuid import UUID

import structlog

from events.envelope import Envelope
from events.registry import EventPayload
from events.shared import PersonDetailsChanged, PersonRegistered
from services.identity_matching.matching import MatchingConfig, PersonRecord
from services.projection.domain.candidates import (
    candidate_pairs,
    lowest_link,
    lowest_review,
    pair_thresholds,
    scored_pair,
)
from services.projection.domain.citizen_ids import citizen_id_of_anchor
from services.projection.domain.identity_conflicts import (
    is_conflict,
    linked_by_both,
    standing_links,
)
from services.projection.domain.identity_decisions import DecisionsInForce, decisions_in_force
from services.projection.domain.identity_records import Registration, StoredPair, pair_id_of
from services.projection.domain.linkage import (
    HumanDecision,
    PersonKey,
    ScoredPair,
    SkippedDecision,
    resolve,
)
from services.projection.service_layer.unit_of_work import UnitOfWork

logger = structlog.get_logger(__name__)
_CITIZEN_ID_CACHE = 65_536  # citizens named lately: a batch re-links the same citizens again

# an HMAC per citizen per batch is dear, and a catch-up re-links each citizen many times
_citizen_id_of_anchor = functools.lru_cache(maxsize=_CITIZEN_ID_CACHE)(citizen_id_of_anchor)


@dataclass(frozen=True)
class Links:
    """Which citizen each person in a batch is, and which citizens to fold from the timeline."""

    citizen_of: dict[PersonKey, UUID]
    refold: frozenset[UUID]


@dataclass(frozen=True)
class Relinked:
    """What a re-resolution changed: records' new citizens, and their citizens before."""

    moved_to: dict[PersonKey, UUID]
    moved_from: dict[PersonKey, UUID]

    def refold(self, *, fresh_needing_refold: Collection[PersonKey] = ()) -> set[UUID]:
        """Return the citizens to fold afresh: those records left and those they joined
        (a record linked for the first time only when its events arrived early)."""
        joined = {
            citizen
            for key, citizen in self.moved_to.items()
            if key in self.moved_from or key in fresh_needing_refold
        }
        return joined | set(self.moved_from.values())


class IdentityResolution:
    """Links organisations' records to citizens, in the caller's unit of work."""

    def __init__(self, *, id_secret: bytes, matching: MatchingConfig) -> None:
        self._secret = id_secret
        self._matching = matching

    async def resolve(
        self,
        uow: UnitOfWork,
        events: Sequence[tuple[Envelope, EventPayload]],
        *,
        batch_arrival: int,
    ) -> Links:
        """Match the batch's registrations and re-link what they change; return every link
        the batch needs."""
        identifying = [
            (envelope, payload)
            for envelope, payload in events
            if isinstance(payload, PersonRegistered | PersonDetailsChanged)
        ]
        refold: set[UUID] = set()
        if not identifying:
            await uow.hold_links_still()
        else:
            await uow.hold_relinking()
            registrations = await _registrations_after(uow, identifying)
            changed = await uow.matches.save_latest(registrations)
            if changed:
                relinked = await self._rematch(uow, changed)
                fresh = [key for key in changed if key not in relinked.moved_from]
                fresh_moved = [key for key in fresh if key in relinked.moved_to]
                early = (
                    await uow.read_model.seen_before(fresh_moved, batch_arrival)
                    if fresh_moved
                    else set()
                )
                refold = relinked.refold(fresh_needing_refold=early)
        people = {(envelope.org, envelope.subject) for envelope, _ in events}
        return Links(await uow.read_model.links_of(people), frozenset(refold))

    async def hold_links(self, uow: UnitOfWork, *, registering: bool) -> None:
        """Take the lock `resolve` will hold, early: exclusive for a batch that registers
        people, else shared (an erasure takes it exclusive: no batch reads a key before an
        erasure and writes what it read after it)."""
        if registering:
            await uow.hold_relinking()
        else:
            await uow.hold_links_still()

    async def relink(self, uow: UnitOfWork, start: Collection[PersonKey]) -> Relinked:
        """Resolve every record connected to `start` afresh; save and return what moved.

        The caller holds the re-linking lock (`uow.hold_relinking`).
        """
        component = await uow.matches.component(start, link_from=lowest_link(self._matching))
        held = component.held
        among = [pair for pair in component.pairs if pair.a in held and pair.b in held]
        decided = decisions_in_force(component.decisions)
        resolution = resolve(
            {key: registration.record.nhs_number for key, registration in held.items()},
            [self._scored(pair, held) for pair in among],
            decided.decisions,
        )
        _log_skipped(resolution.skipped)
        review = {pair_id_of(p.a, p.b) for p in resolution.review}
        review.update(_conflicts_unsettled(among, held, component.decisions))
        review.update(_links_awaiting_a_steward(among, decided, resolution.anchor_of))
        crossing = [p for p in component.pairs if p.a not in held or p.b not in held]
        review.update(self._reviewed_across(crossing, held | component.outside))
        wanted = self._citizens_of(resolution.anchor_of)
        existing = component.links
        moved_to = {key: citizen for key, citizen in wanted.items() if existing.get(key) != citizen}
        if moved_to:
            await uow.read_model.save_links(moved_to)
        flipped = [p.pair_id for p in component.pairs if p.in_review != (p.pair_id in review)]
        if flipped:  # the pairs were read in this transaction: only those that change
            await uow.matches.mark_review(flipped, [p for p in flipped if p in review])
        return Relinked(moved_to, {key: existing[key] for key in moved_to if key in existing})

    def _citizens_of(self, anchor_of: dict[PersonKey, str]) -> dict[PersonKey, UUID]:
        """Return each record's citizen id, by its citizen's anchor."""
        return {
            key: _citizen_id_of_anchor(self._secret, anchor) for key, anchor in anchor_of.items()
        }

    def _reviewed_across(
        self, crossing: Sequence[StoredPair], known: dict[PersonKey, Registration]
    ) -> list[UUID]:
        """Return which pairs reaching out of a resolved component await review: those
        scoring at least their review threshold (they score below any link threshold, and
        no person decided them, or they would be inside the component).

        `known` are the registrations of the component and of the records these pairs reach."""
        return [
            pair.pair_id
            for pair in crossing
            if pair.a in known and pair.b in known and self._scored(pair, known).at_least_review
        ]

    async def _rematch(self, uow: UnitOfWork, changed: dict[PersonKey, Registration]) -> Relinked:
        """Score the changed records (as just stored) against their blocks afresh, store the
        pairs worth keeping, and re-link every record connected to them."""
        records = [registration.record for registration in changed.values()]
        blocks = await uow.matches.blocks(records)
        found = candidate_pairs(
            records, blocks, keep_from=lowest_review(self._matching), model=self._matching.model
        )
        if found.too_common:  # the kind of key only: its value is personal data
            logger.warning("blocking_keys_too_common", kinds=found.too_common)
        await uow.matches.replace_pairs(
            list(changed),
            [StoredPair(p.a, p.b, p.match.total, p.match.evidence) for p in found.pairs],
            model=self._matching.model.version,
        )
        return await self.relink(uow, list(changed))

    def _scored(self, pair: StoredPair, held: dict[PersonKey, Registration]) -> ScoredPair:
        thresholds = pair_thresholds(
            self._matching, held[pair.a].record.place, held[pair.b].record.place
        )
        return scored_pair(pair.a, pair.b, pair.score, thresholds, may_link=pair.may_link)


async def _registrations_after(
    uow: UnitOfWork, identifying: Sequence[tuple[Envelope, EventPayload]]
) -> list[Registration]:
    """Return each record's registration after each of these registrations and changes of
    details, in order: a change applies to the record's registration in this batch, else to
    the stored one (none yet: the change waits for the registration's refold)."""
    changed_only = {
        (envelope.org, envelope.subject)
        for envelope, payload in identifying
        if isinstance(payload, PersonDetailsChanged)
    }
    latest = await uow.matches.registrations(changed_only) if changed_only else {}
    registrations = []
    for envelope, payload in identifying:
        key = (envelope.org, envelope.subject)
        if isinstance(payload, PersonRegistered):
            record = record_of(envelope, payload)
        elif key in latest:
            record = changed_record(latest[key].record, payload)
        else:
            continue
        latest[key] = Registration(record, envelope.event_id, envelope.occurred_at)
        registrations.append(latest[key])
    return registrations


def changed_record(record: PersonRecord, change: EventPayload) -> PersonRecord:
    """Return what matching compares of a record after a change of its details."""
    assert isinstance(change, PersonDetailsChanged)
    compared = {"nhs_number", "given_name", "family_name", "date_of_birth", "postcode", "address"}
    changed = change.changes.model_fields_set & compared
    return dataclasses.replace(record, **{name: getattr(change.changes, name) for name in changed})


def _conflicts_unsettled(
    among: Sequence[StoredPair],
    held: dict[PersonKey, Registration],
    decisions: Sequence[tuple[HumanDecision, str]],
) -> list[UUID]:
    """Return the identity conflicts among these pairs that await review: every one not
    yet linked by the stewards of both its organisations (one side's link is not enough,
    so the pair stays in the other steward's queue). `decisions` are those among `held`,
    each with its steward's organisation, in the order decided."""
    conflicts = [pair for pair in among if _in_conflict(pair, held)]
    if not conflicts:
        return []
    records = {key for pair in conflicts for key in (pair.a, pair.b)}
    links = standing_links(
        [
            (decision.pair, decision.same, decided_by)
            for decision, decided_by in decisions
            if decision.a in records and decision.b in records
        ]
    )
    return [
        pair.pair_id for pair in conflicts if not linked_by_both(frozenset((pair.a, pair.b)), links)
    ]


def _links_awaiting_a_steward(
    among: Sequence[StoredPair], decided: DecisionsInForce, anchor_of: dict[PersonKey, str]
) -> list[UUID]:
    """Return the scored pairs one organisation's steward has linked and the other's has not
    (yet): they wait in the other steward's queue, unless something else joined them."""
    return [
        pair.pair_id
        for pair in among
        if frozenset((pair.a, pair.b)) in decided.awaiting
        and anchor_of.get(pair.a) != anchor_of.get(pair.b)
    ]


def _in_conflict(pair: StoredPair, held: dict[PersonKey, Registration]) -> bool:
    """Tell whether a pair's records claim one NHS number under names or birth dates that
    disagree (`identity_conflicts`): joined by the number, reviewed by a data steward."""
    a, b = held[pair.a].record, held[pair.b].record
    return is_conflict(a, b, a.nhs_number, b.nhs_number)


def _log_skipped(skipped: Sequence[SkippedDecision]) -> None:
    """Say which recorded decisions a resolution left out, by rule and when each was made
    (no record keys: they would tie people to decisions in the logs)."""
    if skipped:
        logger.warning(
            "identity_decisions_skipped",
            rules=sorted({s.rule for s in skipped}),
            decided_at=[s.decision.decided_at.isoformat() for s in skipped],
        )


def record_of(envelope: Envelope, registration: PersonRegistered) -> PersonRecord:
    """Return what matching compares of a registration."""
    details = registration.details
    return PersonRecord(
        org=envelope.org,
        person_id=envelope.subject,
        nhs_number=details.nhs_number,
        given_name=details.given_name,
        family_name=details.family_name,
        date_of_birth=details.date_of_birth,
        postcode=details.postcode,
        place=envelope.place,
        address=details.address,
    )
