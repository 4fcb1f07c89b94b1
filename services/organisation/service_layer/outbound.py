"""Webhooks out: tell a charity's own system of what concerns it, so it never polls.

`queue_notices` runs in the consumer of the organisation's own log (with its checkpoint):
each event a notice is made of (`domain/outbound_notices.py`) is queued once per source of
the organisation that has an endpoint. `deliver_due` sends what is due, signed; a failure is
tried again after 30 s, then twice as long each time (at most an hour), for a day; then the
delivery is parked, for ops to see (`caseweave webhooks list`) and redrive.
"""

from collections.abc import Awaitable, Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any
from uuid import UUID, uuid5

from events.envelope import Envelope
from events.registry import decode_payload
from services.organisation.domain.errors import PersonNotFound
from services.organisation.domain.inbound_mapping import Source
from services.organisation.domain.outbound_notices import (
    GIVE_UP_AFTER_SECONDS,
    NOTIFIED_TYPES,
    Delivery,
    next_try_in,
    notice_of,
)
from services.organisation.service_layer.streams import load_person
from services.organisation.service_layer.unit_of_work import UnitOfWork

_DELIVERY = UUID("6f8c2d7e-1b9a-4e35-8d0c-52f1a7b3c9e4")
Send = Callable[[Source, str, dict[str, Any]], Awaitable[str | None]]  # -> why it failed


@dataclass(frozen=True)
class RetryPolicy:
    """When to try a failed delivery again (after its `attempts`th failure), and when to
    give up and park it."""

    retry_in: Callable[[int], float] = next_try_in
    give_up_after: float = GIVE_UP_AFTER_SECONDS


@dataclass(frozen=True)
class Attempted:
    """What a round of deliveries did."""

    delivered: int = 0
    retrying: int = 0
    parked: int = 0
    dropped: int = 0  # about a person erased meanwhile: nothing to tell


async def queue_notices(
    uow: UnitOfWork, events: Sequence[Envelope], sources: Iterable[Source]
) -> int:
    """Queue a delivery to each source with an endpoint of every event a notice is made of;
    return how many (an event queued before is not queued again)."""
    endpoints = [source for source in sources if source.endpoint]
    deliveries = [
        (uuid5(_DELIVERY, f"{source.name}:{event.event_id}"), source.name, event.event_id,
         f"referral-{event.data['referral_id']}")
        for event in events
        if event.type in NOTIFIED_TYPES
        for source in endpoints
    ]  # fmt: skip
    await uow.webhooks.queue(deliveries)
    return len(deliveries)


LEASE_SECONDS = 60.0  # a delivery being sent is not due elsewhere for this long


async def deliver_due(
    new_uow: Callable[[], UnitOfWork],
    *,
    sources: dict[str, Source],
    send: Send,
    now: datetime,
    limit: int = 50,
    policy: RetryPolicy = RetryPolicy(),
) -> Attempted:
    """Send the deliveries due by `now`: claim them (leased, so no other sender takes them)
    in one short transaction, send with none open (a slow receiver must not hold back the
    log's readers), record how each went in another."""
    async with new_uow() as uow:
        claimed, attempted = await _claim(uow, sources, now=now, limit=limit, policy=policy)
        await uow.commit()
    sent = [
        (delivery, await send(source, str(delivery.delivery_id), notice))
        for delivery, source, notice in claimed
    ]
    async with new_uow() as uow:
        for delivery, failure in sent:
            outcome = _next(delivery, now, failure, policy)
            await _settle(uow, delivery, now, status=outcome, error=failure, policy=policy)
            attempted = _count(attempted, outcome if outcome != "pending" else "retrying")
        await uow.commit()
    return attempted


async def _claim(
    uow: UnitOfWork,
    sources: dict[str, Source],
    *,
    now: datetime,
    limit: int,
    policy: RetryPolicy,
) -> tuple[list[tuple[Delivery, Source, dict[str, Any]]], Attempted]:
    """Return the due deliveries with their sources and notices, leased; settle those that
    cannot be sent (person erased: dropped; source gone: parked)."""
    claimed, attempted = [], Attempted()
    for delivery in await uow.webhooks.due(now, limit):
        source = sources.get(delivery.source)
        notice = await _notice(uow, delivery)
        if notice is None:  # its person erased: nothing to tell, nothing to retry
            await _settle(
                uow, delivery, now, status="dropped", error="person erased", policy=policy
            )
            attempted = _count(attempted, "dropped")
        elif source is None or not source.endpoint:
            why = "source gone or without an endpoint"
            await _settle(uow, delivery, now, status="parked", error=why, policy=policy)
            attempted = _count(attempted, "parked")
        else:
            await uow.webhooks.lease(delivery.delivery_id, now + timedelta(seconds=LEASE_SECONDS))
            claimed.append((delivery, source, notice))
    return claimed, attempted


def _next(delivery: Delivery, now: datetime, failure: str | None, policy: RetryPolicy) -> str:
    if failure is None:
        return "delivered"
    first = delivery.first_tried_at or now
    return "parked" if (now - first).total_seconds() >= policy.give_up_after else "pending"


async def _settle(
    uow: UnitOfWork,
    delivery: Delivery,
    now: datetime,
    *,
    status: str,
    error: str | None,
    policy: RetryPolicy,
) -> None:
    attempts = delivery.attempts + 1
    await uow.webhooks.settle(
        delivery.delivery_id,
        status=status,
        attempts=attempts,
        first_tried_at=delivery.first_tried_at or now,
        next_attempt_at=now + timedelta(seconds=policy.retry_in(attempts)),
        error=error,
        delivered_at=now if status == "delivered" else None,
    )


def _count(attempted: Attempted, outcome: str) -> Attempted:
    return Attempted(**{**attempted.__dict__, outcome: getattr(attempted, outcome) + 1})


async def _notice(uow: UnitOfWork, delivery: Delivery) -> dict[str, Any] | None:
    """Return the notice of a delivery's event, built now (None: its person was erased)."""
    stored = await uow.streams.read(delivery.stream_id)
    event = next((s.envelope for s in stored if s.envelope.event_id == delivery.event_id), None)
    if event is None:  # the whole stream reads as erased
        return None
    payload = decode_payload(event.type, event.schema_version, event.data)
    person = None
    try:
        person = (await load_person(uow, UUID(event.subject))).details
    except PersonNotFound:  # held (no record yet), or erased since
        person = None
    return notice_of(
        payload, event_id=str(event.event_id), occurred_at=event.occurred_at, person=person
    )
