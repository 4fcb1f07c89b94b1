"""A frontline worker's lists: keep them up to date from the organisation's own log, and read
them a page at a time with the people's names (opened from their own streams).

`list_changes_of` runs in the worklists consumer's unit of work (with its checkpoint);
the reads in a request's. A person erased since is listed without a name.
"""

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date
from typing import Generic, TypeVar
from uuid import UUID

from events.envelope import Envelope
from events.registry import decode_payload
from events.shared import DetailsChange, PersonDetails, PersonDetailsChanged, PersonRegistered
from services.organisation.domain.errors import PersonNotFound
from services.organisation.domain.worklists import (
    CaseRow,
    Page,
    PersonRow,
    ReferralRow,
    needs_opening,
    search_token,
    worklist_change,
)
from services.organisation.service_layer.streams import load_person
from services.organisation.service_layer.unit_of_work import UnitOfWork

Row = TypeVar("Row")


@dataclass(frozen=True)
class Named(Generic[Row]):
    """A row of a list and the person it is about, as this organisation registered them
    (None: erased since)."""

    row: Row
    person: PersonDetails | None


@dataclass(frozen=True)
class NamedPage(Generic[Row]):
    """A page of a list with each row's person."""

    items: list[Named[Row]]
    total: int
    next_cursor: str | None


async def apply_to_worklists(uow: UnitOfWork, events: Sequence[Envelope]) -> int:
    """Apply the changes these events of the organisation's own log make to its lists, in
    order; return how many changes there were (one seen before changes nothing again)."""
    changes = []
    for envelope in events:
        details = await _registered_details(uow, envelope) if needs_opening(envelope) else None
        change = worklist_change(envelope, details=details, search_key=uow.search_key)
        if change is not None:
            changes.append(change)
    await uow.worklists.apply(changes)
    return len(changes)


async def _registered_details(
    uow: UnitOfWork, envelope: Envelope
) -> PersonDetails | DetailsChange | None:
    """Return a registration's details or a change's changes, opened (None: the person was
    erased since)."""
    opened = await uow.streams.open(envelope)
    if opened is None:
        return None
    payload = decode_payload(opened.type, opened.schema_version, opened.data)
    if isinstance(payload, PersonDetailsChanged):
        return payload.changes
    assert isinstance(payload, PersonRegistered)  # `needs_opening` passes these two only
    return payload.details


async def referrals_page(
    uow: UnitOfWork, *, direction: str, statuses: Sequence[str], limit: int, cursor: str | None
) -> NamedPage[ReferralRow]:
    """Return a page of the referrals made (outgoing) or received (incoming), newest first."""
    page = await uow.worklists.referrals(
        direction=direction, statuses=statuses, limit=limit, cursor=cursor
    )
    return await _named(uow, page, [row.person_id for row in page.rows])


async def caseload_page(
    uow: UnitOfWork,
    *,
    statuses: Sequence[str],
    key_worker: str | None,
    limit: int,
    cursor: str | None,
) -> NamedPage[CaseRow]:
    """Return a page of the cases (a key worker's caseload, with `key_worker`), newest first."""
    page = await uow.worklists.cases(
        statuses=statuses, key_worker=key_worker, limit=limit, cursor=cursor
    )
    return await _named(uow, page, [row.person_id for row in page.rows])


async def people_page(
    uow: UnitOfWork,
    *,
    family_name: str | None,
    date_of_birth: date | None,
    limit: int,
    cursor: str | None,
) -> NamedPage[PersonRow]:
    """Return a page of the organisation's people with this family name (however it is
    typed: case, accents, spaces and hyphens aside) and/or birth date, newest first."""
    key = uow.search_key
    page = await uow.worklists.people(
        family_name_token=search_token(key, "family_name", family_name) if family_name else None,
        date_of_birth_token=(
            search_token(key, "date_of_birth", date_of_birth) if date_of_birth else None
        ),
        limit=limit,
        cursor=cursor,
    )
    return await _named(uow, page, [row.person_id for row in page.rows])


async def _named(uow: UnitOfWork, page: Page[Row], people: Sequence[UUID]) -> NamedPage[Row]:
    """Return the page with each row's person, read once each."""
    known: dict[UUID, PersonDetails | None] = {}
    for person_id in dict.fromkeys(people):
        try:
            known[person_id] = (await load_person(uow, person_id)).details
        except PersonNotFound:
            known[person_id] = None
    items = [Named(row, known[person]) for row, person in zip(page.rows, people, strict=True)]
    return NamedPage(items, page.total, page.next_cursor)
