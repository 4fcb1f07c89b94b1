"""The best-known identity of a citizen, chosen from every organisation's registration.

Each value is the one the most organisations' registrations attest (names compared without
case, accents or punctuation; postcodes without spaces; address lines with short forms
written out), so a single new registration cannot overwrite what several organisations
agree on; among values attested equally often, the most recently registered wins, so a
later registration without a postcode does not hide an earlier one's, and a person who
moved shows their new postcode once it is as well attested.
The value shown is its first attester's spelling, with that registration as its source (a
copy of one organisation's details, made by a referral inbox from its referral, adds no
weight). Registrations that occurred at the same moment rank by organisation name, then
person id, the alphabetically first winning: the choice never depends on the order events
arrived in. A disputed registration (`identity_conflicts`) gives no value.
"""

from collections.abc import Callable, Collection, Hashable, Iterable, Sequence
from datetime import date, datetime
from operator import attrgetter
from typing import TypeVar

from events.envelope import OrgId
from services.identity_matching.comparisons import address_key, normalise_name
from services.projection.domain.identity_conflicts import RecordKey, disputed_records
from services.projection.domain.view import (
    Identity,
    Involvement,
    Registration,
    SourcedDate,
    SourcedText,
)

V = TypeVar("V")
Ranked = list[tuple[OrgId, Registration]]

# what each value of the identity is, in a registration
_GIVEN_NAME: Callable[[Registration], str | None] = attrgetter("known_as.given_name")
_FAMILY_NAME: Callable[[Registration], str | None] = attrgetter("known_as.family_name")
_DATE_OF_BIRTH: Callable[[Registration], date | None] = attrgetter("known_as.date_of_birth")
_NHS_NUMBER: Callable[[Registration], str | None] = attrgetter("known_as.nhs_number")
_POSTCODE: Callable[[Registration], str | None] = attrgetter("known_as.postcode")
_ADDRESS: Callable[[Registration], str | None] = attrgetter("known_as.address")
_PLACE: Callable[[Registration], str | None] = attrgetter("place")


def best_known_identity(
    involvements: Iterable[Involvement], *, disputed: Collection[RecordKey] | None = None
) -> Identity:
    """Return the identity that the registrations behind `involvements` give, value by value
    (`disputed`: registrations that give none; by default, those disputed among these)."""
    involvements = list(involvements)
    left_out = disputed_records(involvements) if disputed is None else disputed
    ranked = _most_recent_first(i for i in involvements if (i.org, i.person_id) not in left_out)
    if len(ranked) == 1:
        return _as_registered(*ranked[0])
    return Identity(
        given_name=_text(ranked, _GIVEN_NAME, normalise_name),
        family_name=_text(ranked, _FAMILY_NAME, normalise_name),
        date_of_birth=_date(ranked, _DATE_OF_BIRTH),
        nhs_number=_text(ranked, _NHS_NUMBER),
        postcode=_text(ranked, _POSTCODE, _postcode_key),
        address=_text(ranked, _ADDRESS, address_key),
        place=_text(ranked, _PLACE),
    )


def _as_registered(org: OrgId, registration: Registration) -> Identity:
    """The identity one registration gives: each value it has, as it has it (what `_best`
    gives when a single registration attests)."""
    known_as, at = registration.known_as, registration.known_since

    def text(value: str | None) -> SourcedText | None:
        return None if value is None else SourcedText(org=org, as_of=at, value=value)

    born = known_as.date_of_birth
    return Identity(
        given_name=text(known_as.given_name),
        family_name=text(known_as.family_name),
        date_of_birth=None if born is None else SourcedDate(org=org, as_of=at, value=born),
        nhs_number=text(known_as.nhs_number),
        postcode=text(known_as.postcode),
        address=text(known_as.address),
        place=text(registration.place),
    )


def _most_recent_first(involvements: Iterable[Involvement]) -> Ranked:
    registered = sorted(
        ((i.org, i.person_id, i.registration) for i in involvements if i.registration),
        key=lambda entry: (entry[0], entry[1]),
    )
    # a stable sort: registrations that occurred together stay in (org, person id) order
    registered.sort(key=lambda entry: entry[2].known_since, reverse=True)
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
    its source. Each value's key is worked out once."""
    attested: list[tuple[OrgId, Registration, V, Hashable]] = []
    for org, registration in ranked:
        value = value_of(registration)
        if value is not None:
            attested.append((org, registration, value, value if key is _identical else key(value)))
    if not attested:
        return None
    winner = _winning_key(attested)
    for org, registration, value, value_key in reversed(attested):
        if value_key == winner:
            return org, registration.known_since, value
    raise AssertionError("the winner is one of the attested values")  # pragma: no cover


def _winning_key(attested: Sequence[tuple[OrgId, Registration, object, Hashable]]) -> Hashable:
    """The key most organisations attest (a value only copies hold counts none), the most
    recently attested of equals."""
    first = attested[0][3]
    if all(value_key == first for *_, value_key in attested):
        return first  # every registration agrees: the common case
    attesters: dict[Hashable, set[OrgId]] = {}
    for org, registration, _, value_key in attested:
        if not registration.from_referral:
            attesters.setdefault(value_key, set()).add(org)
    weight = {value_key: len(orgs) for value_key, orgs in attesters.items()}
    most = max(weight.get(value_key, 0) for *_, value_key in attested)
    return next(value_key for *_, value_key in attested if weight.get(value_key, 0) == most)


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
