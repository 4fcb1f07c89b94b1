"""Realistic events to append: housing case streams built from the real payload models."""

import json
import math
import uuid
from collections.abc import Callable, Sequence
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from functools import cache
from typing import NamedTuple

from events.envelope import Envelope, new_event_id
from events.housing import EvictionNoticeServed, TenancyAtRisk
from events.registry import EventPayload
from events.shared import CaseOpened, FlagLifted, FlagRaised, KeyWorker

_NOTE = (
    "Dog at the property; visit in pairs and phone ahead. Tenant prefers calls after 2pm and"
    " has asked that letters go to their sister's address while the repairs are outstanding."
    " Neighbour reported shouting on two recent evenings; police aware, no arrests. Officer to"
    " check in weekly by phone until the hearing and to offer a referral to debt advice again."
)


class StreamEvent(NamedTuple):
    """An event with the stream it goes to and the version it takes there."""

    stream_id: str
    version: int
    envelope: Envelope


def _case_opened(case_id: uuid.UUID, _: int) -> EventPayload:
    worker = KeyWorker(
        name="Sam Okafor", role="Tenancy sustainment officer", team="Housing options East",
        phone="0117 496 0123", email="sam.okafor@example.org",
    )  # fmt: skip
    reason = "Rent arrears after loss of employment; at risk of eviction"
    return CaseOpened(case_id=case_id, person_id=uuid.uuid4(), reason=reason, key_worker=worker)


def _tenancy_at_risk(case_id: uuid.UUID, n: int) -> EventPayload:
    return TenancyAtRisk(case_id=case_id, risk="rent_arrears", arrears_amount=Decimal(n % 5000))


def _flag_raised(case_id: uuid.UUID, _: int) -> EventPayload:
    return FlagRaised(case_id=case_id, flag="lone_working_only", note=_NOTE)


def _eviction_notice(case_id: uuid.UUID, n: int) -> EventPayload:
    served = date(2025, 1, 1) + timedelta(days=n % 300)
    return EvictionNoticeServed(
        case_id=case_id, notice="section_8", served_on=served,
        possession_date=served + timedelta(days=28),
    )  # fmt: skip


def _flag_lifted(case_id: uuid.UUID, _: int) -> EventPayload:
    return FlagLifted(case_id=case_id, flag="lone_working_only", note=_NOTE)


_CASE_STORY: tuple[Callable[[uuid.UUID, int], EventPayload], ...] = (
    _case_opened, _tenancy_at_risk, _flag_raised, _eviction_notice, _flag_lifted,
)  # fmt: skip


def _envelope(payload: EventPayload, *, person: int, caused_by: Envelope | None) -> Envelope:
    now = datetime.now(UTC)
    return Envelope(
        event_id=new_event_id(), type=payload.event_type, schema_version=payload.schema_version,
        occurred_at=now, recorded_at=now, org="housing", subject=f"H-{person:07d}",
        place="E05001234", category=payload.category, correlation_id=str(uuid.uuid4()),
        causation_id=str(caused_by.event_id) if caused_by else None, actor="housing:key-0042",
        data=payload.model_dump(mode="json"),
    )  # fmt: skip


def _case_stream(person: int, length: int) -> list[StreamEvent]:
    case_id, stream_id = uuid.uuid4(), f"case-{person:07d}"
    events: list[StreamEvent] = []
    for version in range(1, length + 1):
        payload = _CASE_STORY[(version - 1) % len(_CASE_STORY)](case_id, person + version)
        previous = events[-1].envelope if events else None
        events.append(
            StreamEvent(stream_id, version, _envelope(payload, person=person, caused_by=previous))
        )
    return events


@cache
def case_streams(events: int, events_per_stream: int) -> tuple[tuple[StreamEvent, ...], ...]:
    """Return enough case streams of `events_per_stream` events to hold `events` events."""
    count = math.ceil(events / events_per_stream)
    return tuple(tuple(_case_stream(person, events_per_stream)) for person in range(count))


def in_stream_order(events: int, events_per_stream: int) -> list[StreamEvent]:
    """Return `events` events stream after stream (how a batch import arrives)."""
    streams = case_streams(events, events_per_stream)
    return [event for stream in streams for event in stream][:events]


def interleaved(events: int, events_per_stream: int) -> list[StreamEvent]:
    """Return `events` events round-robin over the streams (how live cases move on)."""
    streams = case_streams(events, events_per_stream)
    by_version = sorted((e for s in streams for e in s), key=lambda e: e.version)
    return by_version[:events]


def as_json(envelope: Envelope) -> bytes:
    """Return the whole event as compact JSON bytes (the peer's stored state)."""
    return envelope.model_dump_json().encode()


def describe(sample: Sequence[StreamEvent]) -> str:
    """Return a line giving the mean data and whole-event JSON sizes of a sample."""
    data = sum(len(json.dumps(e.envelope.data, separators=(",", ":"))) for e in sample)
    whole = sum(len(as_json(e.envelope)) for e in sample)
    n = max(len(sample), 1)
    return f"payload: data JSON {data / n:.0f} B, whole event JSON {whole / n:.0f} B (mean)"
