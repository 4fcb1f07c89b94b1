"""Where an organisation's aggregates live, and how their state is loaded from their streams."""

from collections.abc import Awaitable, Callable, Sequence
from dataclasses import replace
from typing import TypeVar
from uuid import UUID

from events.envelope import Envelope
from services.organisation.domain.cases import CaseState, case_from
from services.organisation.domain.errors import (
    CaseNotFound,
    PersonNotFound,
    ReferralNotFound,
    VersionConflict,
)
from services.organisation.domain.people import PersonState, person_from
from services.organisation.domain.referrals import ReferralState, referral_from
from services.organisation.service_layer.unit_of_work import UnitOfWork
from services.runtime.event_store import StreamConflict

T = TypeVar("T")
# each conflict means another writer committed, so n writers racing on one stream need n attempts
CONFLICT_ATTEMPTS = 5


def person_stream(person_id: UUID) -> str:
    """Return the id of a person's stream."""
    return f"person-{person_id}"


def case_stream(case_id: UUID) -> str:
    """Return the id of a case's stream."""
    return f"case-{case_id}"


def referral_stream(referral_id: UUID) -> str:
    """Return the id of a referral's stream (on either side)."""
    return f"referral-{referral_id}"


async def read_envelopes(uow: UnitOfWork, stream_id: str) -> list[Envelope]:
    """Return a stream's envelopes in order."""
    return [stored.envelope for stored in await uow.streams.read(stream_id)]


async def load_person(uow: UnitOfWork, person_id: UUID) -> PersonState:
    """Return a registered person's state, or raise PersonNotFound."""
    state = person_from(await read_envelopes(uow, person_stream(person_id)))
    if state is None:
        raise PersonNotFound(person_id)
    return state


async def load_people(uow: UnitOfWork, person_ids: Sequence[UUID]) -> dict[UUID, PersonState]:
    """Return these people's states, read together (one erased or never registered is left
    out)."""
    streams = await uow.streams.read_many([person_stream(p) for p in person_ids])
    found = {}
    for person_id in person_ids:
        state = person_from([s.envelope for s in streams[person_stream(person_id)]])
        if state is not None:
            found[person_id] = state
    return found


async def load_case(uow: UnitOfWork, case_id: UUID) -> CaseState:
    """Return a case's state, or raise CaseNotFound."""
    state = case_from(await read_envelopes(uow, case_stream(case_id)))
    if state is None:
        raise CaseNotFound(case_id)
    return state


async def load_referral(uow: UnitOfWork, referral_id: UUID) -> ReferralState:
    """Return this side of a referral, or raise ReferralNotFound.

    Its version is the stream's: a held referral's first event reads as erased once a
    worker chose an existing record (its copy of the details is shredded)."""
    stored = await uow.streams.read(referral_stream(referral_id))
    state = referral_from([event.envelope for event in stored])
    if state is None:
        raise ReferralNotFound(referral_id)
    return replace(state, version=stored[-1].stream_version)


async def retrying_conflicts(
    attempt: Callable[[], Awaitable[T]], *, attempts: int = CONFLICT_ATTEMPTS
) -> T:
    """Run `attempt`, again (up to `attempts` runs in all) when another writer got there first.

    Each attempt re-reads its stream: the event store appends in a savepoint, so a conflict
    leaves the caller's transaction usable, and READ COMMITTED sees the winner's events.
    """
    try:
        return await attempt()
    except StreamConflict as conflict:
        if attempts <= 1:
            raise VersionConflict(expected=conflict.expected, actual=conflict.actual) from conflict
    return await retrying_conflicts(attempt, attempts=attempts - 1)
