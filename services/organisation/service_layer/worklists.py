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
from services.organisation.domain.errors import CaseNotFound
from services.organisation.domain.worklists import (
    CaseRow,
    Page,
    PersonRow,
    ReferralRow,
    WorklistChange,
    lead_restored,
    needs_opening,
    restores_a_lead,
    search_token,
    worklist_change,
)
from services.organisation.service_layer.streams import load_case, load_people
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
        if restores_a_lead(envelope):
            change = await _lead_without_the_retracted(uow, envelope)
        else:
            opened = await _registered_details(uow, envelope) if needs_opening(envelope) else None
            change = worklist_change(envelope, details=opened, search_key=uow.search_key)
        if change is not None:
            changes.append(change)
    await uow.worklists.apply(changes)
    return len(changes)


async def _lead_without_the_retracted(uow: UnitOfWork, envelope: Envelope) -> WorklistChange | None:
    """Return who leads the case now that a change of lead was retracted (None: the case
    is gone, its person erased)."""
    try:
        case = await load_case(uow, UUID(str(envelope.data["case_id"])))
    except CaseNotFound:
        return None
    return lead_restored(envelope, case.key_worker)


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
    """Return the page with each row's person, all read together."""
    known = await load_people(uow, list(dict.fromkeys(people)))
    items = [
        Named(row, known[person].details if person in known else None)
        for row, person in zip(page.rows, people, strict=True)
    ]
    return NamedPage(items, page.total, page.next_cursor)
