"""The projection consumer: each batch of an organisation's log in one transaction.

Per batch: lock the checkpoint, read up to `batch_size` events, add them to the timeline
in one statement (the ids it returns are the events not seen before: a redelivered event
is a no-op), link new registrations, lock and load the affected citizens' views, fold the
events in memory with the pure domain, write the views back in one statement, move the
checkpoint, commit. A crash anywhere leaves the batch to be read again, whole.

Citizens are locked with transaction-scoped advisory locks taken in one sorted order, not
`SELECT ... FOR UPDATE`: a row lock cannot hold a citizen whose row does not exist yet, and
two organisations' batches may both be about to create the same citizen. So batches of
different logs can run at once (the worker runs one task per log) without losing updates.
"""

import time
from collections.abc import Collection, Sequence
from dataclasses import dataclass
from typing import Any, TypeGuard
from uuid import UUID

import structlog
from pydantic import ValidationError

from events.envelope import Envelope
from events.inbound import MessageDiscarded, MessageQuarantined, MessageRedriven
from events.registry import EventPayload, UnknownEventType, decode_payload
from events.shared import EnteredInError, PersonDetailsChanged, PersonRegistered, ReferralHeld
from services.identity_matching.matching import MatchingConfig
from services.projection.domain.fold import BatchFold, fold, new_view
from services.projection.domain.view import CitizenView
from services.projection.service_layer.identity_resolution import IdentityResolution, Links
from services.projection.service_layer.unit_of_work import UnitOfWork, UnitsOfWork
from services.runtime.event_log import EventLog, LoggedEvent, LogPosition
from services.runtime.metrics import observe_projection_batch
from services.runtime.parked_events import split_readable
from services.runtime.sealing import has_erased_values

logger = structlog.get_logger(__name__)
# A held referral (`referral.held`) is the receiver's working copy until a worker says which
# of its records the person is: it names other people as candidates, and its own person id
# is nobody's yet. The view learns of the referral from `referral.received` once chosen.
# An adapter's record of a charity's message it quarantined, applied or discarded is about a
# message, not a person: the view learns what the message did from the events it caused.
NOT_PROJECTED = frozenset(
    {
        ReferralHeld.event_type,
        MessageQuarantined.event_type,
        MessageRedriven.event_type,
        MessageDiscarded.event_type,
    }
)
BATCH_SIZE = 1000
IDENTIFYING_TYPES = frozenset({PersonRegistered.event_type, PersonDetailsChanged.event_type})
DEFAULT_MATCHING = MatchingConfig()
Target = tuple[UUID, Envelope, EventPayload]


@dataclass(frozen=True)
class BatchOutcome:
    """What a batch changed: events new to the timeline, and citizens whose view was written."""

    new_events: int = 0
    citizens: int = 0


class ProjectionConsumer:
    """Folds organisations' logs into the single view, one unit of work per batch."""

    def __init__(
        self,
        units: UnitsOfWork,
        *,
        id_secret: bytes,
        batch_size: int = BATCH_SIZE,
        fold_batch: BatchFold = fold,
        matching: MatchingConfig = DEFAULT_MATCHING,
    ) -> None:
        self._units = units
        self._identities = IdentityResolution(id_secret=id_secret, matching=matching)
        self._batch_size = batch_size
        self._fold = fold_batch

    async def handle_next_batch(self, log: EventLog) -> int:
        """Fold the events after the checkpoint in `log` into the read model; return how many."""
        started = time.perf_counter()
        with structlog.contextvars.bound_contextvars(source=log.source, after=None, upto=None):
            async with self._units() as uow:
                await uow.hold_live()
                batch = await self._next_batch(uow, log)
                if not batch:
                    return 0
                outcome = await self.project(uow, [(event.envelope, None) for event in batch])
                await uow.checkpoints.save(log.source, batch[-1].position)
                await uow.commit()
            seconds = time.perf_counter() - started
            observe_projection_batch("postgres", seconds)
            logger.info(
                "projection_batch",
                events=len(batch),
                correlation_ids=_correlation_ids(batch),
                new_events=outcome.new_events,
                citizens=outcome.citizens,
                duration_ms=round(seconds * 1000, 1),
            )
        return len(batch)

    async def _next_batch(self, uow: UnitOfWork, log: EventLog) -> list[LoggedEvent]:
        after = await uow.checkpoints.lock(log.source)
        batch = await log.read_after(after, limit=self._batch_size)
        if batch:
            structlog.contextvars.bind_contextvars(
                after=_position(after), upto=_position(batch[-1].position)
            )
        return batch

    async def project(
        self, uow: UnitOfWork, batch: Sequence[tuple[Envelope, EventPayload | None]]
    ) -> BatchOutcome:
        """Apply a batch in the caller's unit of work: timeline, links, views; once per event.

        A payload given as None is decoded here (one that cannot be is parked: kept in the
        timeline, not folded, until `caseweave dead-letters redrive`). The
        timeline keeps each event as it came, personal values sealed; they are opened with
        `keys` for identity and the view, and an erased person's events are kept out of both
        (they still count in the timeline, unlinked: non-personal facts stay). An
        event given twice (a relay's re-send inside one Kafka batch) counts once. Call it
        once per transaction: it holds the re-linking lock to commit, shared or exclusive,
        and a second call that needs it exclusive could deadlock with another batch.
        """
        batch = _first_of_each(_projected(batch))
        if not batch:
            return BatchOutcome()
        new = await uow.read_model.insert_timeline([envelope for envelope, _ in batch])
        if not new:
            return BatchOutcome()
        arrived = [(e, given) for e, given in batch if e.event_id in new]
        registering = any(e.type in IDENTIFYING_TYPES for e, _ in arrived)
        await self._identities.hold_links(uow, registering=registering)
        opened = await uow.open([e for e, _ in arrived])
        events, unreadable = split_readable(
            [(o, given) for (_, given), o in zip(arrived, opened, strict=True) if _foldable(o)]
        )
        await uow.park(unreadable)  # in the timeline, folded once redriven
        await _erase_retracted_values(uow, events)
        # the links hold still from here to commit: `resolve` keeps re-linking out
        links = _refolding_retractions(
            await self._identities.resolve(uow, events, batch_arrival=min(new.values())), events
        )
        targets = _targets(events, links)
        affected = {citizen for citizen, _, _ in targets} | links.refold
        if not affected:
            return BatchOutcome(new_events=len(new))
        await uow.read_model.lock_citizens(affected)
        views = await uow.read_model.load_views(affected - links.refold)
        views.update(await refolded_views(uow, links.refold, self._fold))
        folded = self._fold(views, targets)
        await uow.read_model.save_views(list(folded.values()))
        return BatchOutcome(new_events=len(new), citizens=len(folded))


async def refolded_views(
    uow: UnitOfWork, citizen_ids: Collection[UUID], fold_batch: BatchFold
) -> dict[UUID, CitizenView]:
    """Return these citizens' views folded afresh from the timeline of their linked people."""
    if not citizen_ids:
        return {}
    linked = await uow.read_model.linked_events(citizen_ids)
    opened = await uow.open([e for _, e in linked])
    events = [
        (c, o, p)
        for (c, _), o in zip(linked, opened, strict=True)
        if _foldable(o) and (p := _decoded(o)) is not None
    ]
    return fold_batch({c: new_view(c) for c in citizen_ids}, without_retracted(events))


def _foldable(envelope: Envelope | None) -> TypeGuard[Envelope]:
    """Tell whether an opened event can be folded: not an erased person's (None), nor one
    retracted with its values (erased in place: it counts in the timeline, nothing more)."""
    return envelope is not None and not has_erased_values(envelope)


async def _erase_retracted_values(
    uow: UnitOfWork, events: Sequence[tuple[Envelope, EventPayload]]
) -> None:
    """Erase in the timeline the personal values of events retracted with theirs, as
    their organisation did in its store."""
    for envelope, payload in events:
        if isinstance(payload, EnteredInError) and payload.values_erased:
            await uow.read_model.erase_timeline_values(envelope.org, payload.retracted_event_id)


def without_retracted(events: Sequence[Target]) -> list[Target]:
    """Return the events but those entered in error and their retractions (an organisation
    retracts only its own events)."""
    retracted = {
        (envelope.org, payload.retracted_event_id)
        for _, envelope, payload in events
        if isinstance(payload, EnteredInError)
    }
    return [
        (citizen, envelope, payload)
        for citizen, envelope, payload in events
        if not isinstance(payload, EnteredInError)
        and (envelope.org, envelope.event_id) not in retracted
    ]


def _projected(
    batch: Sequence[tuple[Envelope, EventPayload | None]],
) -> Sequence[tuple[Envelope, EventPayload | None]]:
    """Return the batch but the events an organisation keeps to itself (`NOT_PROJECTED`)."""
    if not any(envelope.type in NOT_PROJECTED for envelope, _ in batch):
        return batch
    return [(e, payload) for e, payload in batch if e.type not in NOT_PROJECTED]


def _first_of_each(
    batch: Sequence[tuple[Envelope, EventPayload | None]],
) -> Sequence[tuple[Envelope, EventPayload | None]]:
    seen: set[tuple[str, UUID]] = set()
    firsts = []
    for envelope, payload in batch:
        key = (envelope.org, envelope.event_id)
        if key not in seen:
            seen.add(key)
            firsts.append((envelope, payload))
    return firsts if len(firsts) < len(batch) else batch


def _decoded(envelope: Envelope) -> EventPayload | None:
    """Return an event's typed payload, or None (logged) for one this version cannot read."""
    try:
        return decode_payload(envelope.type, envelope.schema_version, envelope.data)
    except (UnknownEventType, ValidationError) as error:
        with structlog.contextvars.bound_contextvars(**event_context(envelope)):
            logger.warning("event_not_understood", error_type=type(error).__name__)
        return None


def event_context(envelope: Envelope) -> dict[str, Any]:
    """Return what log lines about an event name: ids and type, never personal data."""
    return {
        "event_id": str(envelope.event_id),
        "event_type": envelope.type,
        "org": envelope.org,
        "correlation_id": envelope.correlation_id,
    }


def _refolding_retractions(links: Links, events: Sequence[tuple[Envelope, EventPayload]]) -> Links:
    """Return `links` with the citizens of events entered in error to fold afresh: a fold
    cannot take an event back, so the citizen is folded from the timeline without it."""
    retracting = {
        citizen
        for envelope, payload in events
        if isinstance(payload, EnteredInError)
        and (citizen := links.citizen_of.get((envelope.org, envelope.subject))) is not None
    }
    if not retracting:
        return links
    return Links(links.citizen_of, links.refold | retracting)


def _targets(events: Sequence[tuple[Envelope, EventPayload]], links: Links) -> list[Target]:
    targets: list[Target] = []
    for envelope, payload in events:
        citizen = links.citizen_of.get((envelope.org, envelope.subject))
        if citizen is None:
            with structlog.contextvars.bound_contextvars(**event_context(envelope)):
                logger.info("event_awaits_person_link")
        elif citizen not in links.refold:
            targets.append((citizen, envelope, payload))
    return targets


def _correlation_ids(batch: Sequence[LoggedEvent]) -> list[str]:
    """Return the batch's distinct correlation ids (at most 50), so a request can be traced here."""
    return sorted({event.envelope.correlation_id for event in batch})[:50]


def _position(position: LogPosition) -> str:
    return f"{position.transaction_id}:{position.position}"
