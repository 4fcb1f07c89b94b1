"""The best-known identity of a citizen, chosen from every organisation's registration.

Each value is the one the most organisations' registrations attest (names compared without
case, accents or punctuation; postcodes without spaces), so a single new registration cannot
overwrite what several organisations agree on; among values attested equally often, the most
recently registered wins, so a later registration without a postcode does not hide an
earlier one's, and a person who moved shows their new postcode once it is as well attested.
The value shown is its first attester's spelling, with that registration as its source (a
copy of one organisation's details, made by a referral inbox from its referral, adds no
weight). Registrations that occurred at the same moment rank by organisation name, then
person id, the alphabetically first winning: the choice never depends on the order events
arrived in. A disputed registration (`identity_conflicts`) gives no value.
"""

from collections import Counter
from collections.abc import Callable, Collection, Hashable, Iterable
from datetime import date, datetime
from typing import TypeVar

from events.envelope import OrgId
from services.projection.domain.identity_conflicts import RecordKey, disputed_records
from services.projection.domain.matching import normalise_name
from services.projection.domain.view import (
    Identity,
    Involvement,
    Registration,
    SourcedDate,
    SourcedText,
)

V = TypeVar("V")
Ranked = list[tuple[OrgId, Registration]]


def best_known_identity(
    involvements: Iterable[Involvement], *, disputed: Collection[RecordKey] | None = None
) -> Identity:
    """Return the identity that the registrations behind `involvements` give, value by value
    (`disputed`: registrations that give none; by default, those disputed among these)."""
    involvements = list(involvements)
    left_out = disputed_records(involvements) if disputed is None else disputed
    ranked = _most_recent_first(i for i in involvements if (i.org, i.person_id) not in left_out)
    return Identity(
        given_name=_text(ranked, lambda r: r.known_as.given_name, normalise_name),
        family_name=_text(ranked, lambda r: r.known_as.family_name, normalise_name),
        date_of_birth=_date(ranked, lambda r: r.known_as.date_of_birth),
        nhs_number=_text(ranked, lambda r: r.known_as.nhs_number),
        postcode=_text(ranked, lambda r: r.known_as.postcode, _postcode_key),
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


def _postcode_key(postcode: str) -> str:
    return postcode.replace(" ", "").upper()


def _identical(value: V) -> Hashable:
    return value  # the values compared are str or date: hashable


def _best(
    ranked: Ranked,
    value_of: Callable[[Registration], V | None],
    key: Callable[[V], Hashable] = _identical,
) -> tuple[OrgId, datetime, V] | None:
    """The value most organisations attest, the most recently attested of equals (`ranked` is
    most recent first), as its first attester registered it: a copy of what one organisation
    said (a referral's receiver registering the person from it) neither counts nor becomes
    its source."""
    attested = [
        (org, registration, value)
        for org, registration in ranked
        if (value := value_of(registration)) is not None
    ]
    if not attested:
        return None
    by_org = {
        (org, key(value)) for org, registration, value in attested if not registration.from_referral
    }
    weight = Counter(value_key for _, value_key in by_org)  # a value only copies hold: 0
    most = max(weight[key(value)] for _, _, value in attested)
    winner = next(key(value) for _, _, value in attested if weight[key(value)] == most)
    org, registration, value = [entry for entry in attested if key(entry[2]) == winner][-1]
    return org, registration.occurred_at, value


def _text(
    ranked: Ranked,
    value_of: Callable[[Registration], str | None],
    key: Callable[[str], Hashable] = _identical,
) -> SourcedText | None:
    found = _best(ranked, value_of, key)
    return None if found is None else SourcedText(org=found[0], as_of=found[1], value=found[2])


def _date(ranked: Ranked, value_of: Callable[[Registration], date | None]) -> SourcedDate | None:
    found = _best(ranked, value_of)
    return None if found is None else SourcedDate(org=found[0], as_of=found[1], value=found[2])
