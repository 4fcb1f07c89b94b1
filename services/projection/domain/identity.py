"""The best-known identity of a citizen, chosen from every organisation's registration.

Each value comes from the most recently occurred registration that has it, so a later
registration without a postcode does not hide an earlier one's. Registrations that occurred
at the same moment rank by organisation name, then person id, the alphabetically first
winning: the choice never depends on the order events arrived in.
"""

from collections.abc import Callable, Iterable
from datetime import date, datetime
from typing import TypeVar

from events.envelope import OrgId
from services.projection.domain.view import (
    Identity,
    Involvement,
    Registration,
    SourcedDate,
    SourcedText,
)

V = TypeVar("V")
Ranked = list[tuple[OrgId, Registration]]


def best_known_identity(involvements: Iterable[Involvement]) -> Identity:
    """Return the identity that the registrations behind `involvements` give, value by value."""
    ranked = _most_recent_first(involvements)
    return Identity(
        given_name=_text(ranked, lambda r: r.known_as.given_name),
        family_name=_text(ranked, lambda r: r.known_as.family_name),
        date_of_birth=_date(ranked, lambda r: r.known_as.date_of_birth),
        nhs_number=_text(ranked, lambda r: r.known_as.nhs_number),
        postcode=_text(ranked, lambda r: r.known_as.postcode),
        place=_text(ranked, lambda r: r.place),
    )


def _most_recent_first(involvements: Iterable[Involvement]) -> Ranked:
    registered = sorted(
        ((i.org, i.person_id, i.registration) for i in involvements if i.registration),
        key=lambda entry: (entry[0], entry[1]),
    )
    # a stable sort: registrations that occurred together stay in (org, person id) order
    registered.sort(key=lambda entry: entry[2].occurred_at, reverse=True)
    return [(org, registration) for org, _, registration in registered]


def _first(
    ranked: Ranked, value_of: Callable[[Registration], V | None]
) -> tuple[OrgId, datetime, V] | None:
    for org, registration in ranked:
        value = value_of(registration)
        if value is not None:
            return org, registration.occurred_at, value
    return None


def _text(ranked: Ranked, value_of: Callable[[Registration], str | None]) -> SourcedText | None:
    found = _first(ranked, value_of)
    return None if found is None else SourcedText(org=found[0], as_of=found[1], value=found[2])


def _date(ranked: Ranked, value_of: Callable[[Registration], date | None]) -> SourcedDate | None:
    found = _first(ranked, value_of)
    return None if found is None else SourcedDate(org=found[0], as_of=found[1], value=found[2])
