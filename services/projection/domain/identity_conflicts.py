"""Identity conflicts: a registration that claims an NHS number the citizen already has,
under a name or birth date that does not agree.

Pure. The same valid NHS number joins records outright (`matching.strong_identifiers`), so a
worker who registers a known NHS number with any name ("Vic Anything, 2000-01-01") would
join the person's citizen and, by opening a case, read everything. A registration whose NHS
number an earlier registration of the citizen already gave, but whose family name, given
name or birth date disagrees with every such earlier one (beyond nicknames, typos,
sound-alikes, day and month swapped, one year digit wrong: `matching`'s "close" and
"similar"), is *disputed*: it stays with the citizen (one NHS number, one citizen), but its
organisation's cases give it no relationship to the person and its values do not change
the best-known identity, until a data steward of another organisation confirms it
(`identity.linked`, naming it and an earlier record): such pairs wait in the stewards'
review queue (`candidates`).
"""

from collections.abc import Collection, Iterable
from datetime import date
from typing import Protocol

from services.projection.domain.matching import (
    compare_dates_of_birth,
    compare_family_names,
    compare_given_names,
)
from services.projection.domain.view import Involvement, KnownAs

RecordKey = tuple[str, str]  # (organisation, its person id)


class NamedAndBorn(Protocol):
    """What two registrations are compared on: names and birth date."""

    @property
    def given_name(self) -> str | None: ...
    @property
    def family_name(self) -> str | None: ...
    @property
    def date_of_birth(self) -> date | None: ...


def agrees(a: NamedAndBorn, b: NamedAndBorn) -> bool:
    """Tell whether two registrations' names and birth dates could be one person's."""
    return (
        compare_family_names(a.family_name, b.family_name) != "disagree"
        and compare_given_names(a.given_name, b.given_name) != "disagree"
        and compare_dates_of_birth(a.date_of_birth, b.date_of_birth) != "disagree"
    )


def disputed_records(
    involvements: Iterable[Involvement], *, confirmed: Collection[RecordKey] = ()
) -> frozenset[RecordKey]:
    """Return the registrations that claim an earlier registration's NHS number under a
    name or birth date agreeing with none of the earlier ones (`confirmed`: records a data
    steward has confirmed are the person, never disputed)."""
    registered = sorted(
        (
            (i.registration.occurred_at, i.org, i.person_id, i.registration.known_as)
            for i in involvements
            if i.registration is not None and i.registration.known_as.nhs_number
        ),
        key=lambda entry: entry[:3],
    )
    disputed: set[RecordKey] = set()
    attested: list[KnownAs] = []
    for _, org, person_id, known_as in registered:
        earlier = [e for e in attested if e.nhs_number == known_as.nhs_number]
        if (
            earlier
            and (org, person_id) not in confirmed
            and not any(agrees(known_as, e) for e in earlier)
        ):
            disputed.add((org, person_id))
        else:
            attested.append(known_as)
    return frozenset(disputed)
