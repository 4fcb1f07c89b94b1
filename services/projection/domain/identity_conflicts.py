"""Identity conflicts: records that claim one NHS number under names or birth dates that
do not agree.

Pure. The same valid NHS number joins records outright (`matching.strong_identifiers`), so a
worker who registers a known NHS number with any name ("Vic Anything, 2000-01-01") would
join the person's citizen and, by opening a case, read everything; and one who registers a
number first, under made-up details, would be there before the person's real records. So the
registrations of one NHS number are grouped into versions of the person: records whose
family name, given name and birth date agree (beyond nicknames, typos, sound-alikes, day
and month swapped, one digit wrong: any comparison level short of "disagree", "similar"
and, for dates, the same year or month only), or that the
stewards of both their organisations have linked (`identity.linked`: a name changed on
marriage). The version more organisations attest is the person (a registration a referral
inbox made from the sender's details attests nothing of its own); a record of any other
version is *disputed*, and so is every record when the largest versions are attested
equally often (first is not right). A disputed record stays with the citizen (one NHS
number, one citizen), but its organisation's cases give it no relationship to the person and
its values do not change the best-known identity. The pairs wait in both stewards' review
queues (`candidates`), each showing the other side's details to neither.
"""

from collections.abc import Iterable, Mapping
from datetime import date
from typing import Protocol

from services.identity_matching.comparisons import (
    Level,
    compare_dates_of_birth,
    compare_family_names,
    compare_given_names,
)
from services.projection.domain.view import Involvement

_DIFFERENT_NAMES: frozenset[Level] = frozenset({"disagree", "similar"})
_DIFFERENT_DATES: frozenset[Level] = frozenset({"disagree", "year_month", "year"})
RecordKey = tuple[str, str]  # (organisation, its person id)
Pair = frozenset[RecordKey]
StandingLinks = Mapping[Pair, frozenset[str]]
"""For each pair of records, the organisations whose stewards' links of it still stand."""


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
        compare_family_names(a.family_name, b.family_name) not in _DIFFERENT_NAMES
        and compare_given_names(a.given_name, b.given_name) not in _DIFFERENT_NAMES | {"initial"}
        and compare_dates_of_birth(a.date_of_birth, b.date_of_birth) not in _DIFFERENT_DATES
    )


def linked_by_both(pair: Pair, links: StandingLinks) -> bool:
    """Tell whether the stewards of both records' organisations have linked the pair."""
    return {org for org, _ in pair} <= links.get(pair, frozenset())


def standing_links(decisions: Iterable[tuple[Pair, bool, str]]) -> dict[Pair, frozenset[str]]:
    """Return, from (pair, same person?, deciding organisation) in the order decided, which
    organisations' links of each pair still stand (a later keep-apart ends them all)."""
    links: dict[Pair, frozenset[str]] = {}
    for pair, same, decided_by in decisions:
        links[pair] = links.get(pair, frozenset()) | {decided_by} if same else frozenset()
    return links


def disputed_records(
    involvements: Iterable[Involvement], *, links: StandingLinks | None = None
) -> frozenset[RecordKey]:
    """Return the registrations of a version of the person that fewer organisations attest
    than another version of the same NHS number (or no more, when no version leads)."""
    by_number: dict[str, dict[RecordKey, NamedAndBorn]] = {}
    copies: set[RecordKey] = set()
    for i in involvements:
        registration = i.registration
        if registration is not None and registration.known_as.nhs_number:
            number = registration.known_as.nhs_number
            by_number.setdefault(number, {})[(i.org, i.person_id)] = registration.known_as
            if registration.from_referral:
                copies.add((i.org, i.person_id))
    disputed: set[RecordKey] = set()
    for records in by_number.values():
        disputed |= _outvoted(records, links or {}, copies)
    return frozenset(disputed)


def _outvoted(
    records: Mapping[RecordKey, NamedAndBorn], links: StandingLinks, copies: set[RecordKey]
) -> set[RecordKey]:
    """The records of every version but the one most organisations attest (a copy of a
    referral's details attests nothing: a claim referred on gains no weight)."""
    versions = _versions(records, links)
    if len(versions) < 2:
        return set()
    attested = [
        len({org for org, pid in version if (org, pid) not in copies}) for version in versions
    ]
    best = max(attested)
    leaders = [v for v, n in zip(versions, attested, strict=True) if n == best]
    person = leaders[0] if len(leaders) == 1 else set()
    return {key for version in versions if version is not person for key in version}


def _versions(
    records: Mapping[RecordKey, NamedAndBorn], links: StandingLinks
) -> list[set[RecordKey]]:
    """Group the records into versions: connected by agreeing, or by both stewards' links."""
    keys = sorted(records)
    version_of = {key: {key} for key in keys}
    for n, a in enumerate(keys):
        for b in keys[n + 1 :]:
            same = agrees(records[a], records[b]) or linked_by_both(frozenset((a, b)), links)
            if same and version_of[a] is not version_of[b]:
                merged = version_of[a] | version_of[b]
                for key in merged:
                    version_of[key] = merged
    unique: dict[int, set[RecordKey]] = {id(v): v for v in version_of.values()}
    return sorted(unique.values(), key=min)


def is_conflict(a: NamedAndBorn, b: NamedAndBorn, nhs_a: str | None, nhs_b: str | None) -> bool:
    """Tell whether two records claim one NHS number under details that disagree."""
    return nhs_a is not None and nhs_a == nhs_b and not agrees(a, b)
