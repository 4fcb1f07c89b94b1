"""Does a search find a person in what one viewer may see of them? Pure.

A search is answered from the registrations the viewer may see (`person.identity` of their
source, and not withheld by the person's consent decisions), never from the best-known
identity across every organisation: a value only a hidden organisation holds finds
nothing (no oracle), and a value a visible organisation holds finds the person even when a
hidden organisation registered them differently since (no false negative).
"""

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date

from services.identity_matching.matching import MatchScore, PersonRecord, Thresholds, score
from services.projection.domain.sharing import IDENTITY, Viewer
from services.projection.domain.view import CitizenView

MIN_SCORE = Thresholds().review  # enough evidence to show a person the candidate


@dataclass(frozen=True)
class Sought:
    """What a search asks for: an NHS number, or a family name and date of birth."""

    nhs_number: str | None = None
    family_name: str | None = None
    date_of_birth: date | None = None
    given_name: str | None = None

    def as_record(self) -> PersonRecord:
        """Return the search as a record the matcher can compare."""
        return PersonRecord(
            org="search", person_id="search", given_name=self.given_name,
            family_name=self.family_name, date_of_birth=self.date_of_birth,
        )  # fmt: skip


@dataclass(frozen=True)
class Found:
    """How well the best registration the viewer may see matches the search."""

    score: float | None
    matched_on: list[str]


def visible_records(view: CitizenView, viewer: Viewer) -> list[PersonRecord]:
    """Return the registrations of the citizen the viewer may see, as matchable records."""
    viewer = viewer.about(view)
    return [
        PersonRecord(
            org=involvement.org,
            person_id=involvement.person_id,
            nhs_number=known.nhs_number,
            given_name=known.given_name,
            family_name=known.family_name,
            date_of_birth=known.date_of_birth,
            postcode=known.postcode,
            address=known.address,
        )
        for involvement in view.involvements
        if involvement.registration is not None and viewer.may_see(involvement.org, IDENTITY)
        for known in (involvement.registration.known_as,)
    ]


def best_match(wanted: PersonRecord, records: Iterable[PersonRecord]) -> MatchScore | None:
    """Return the best score of the records that match: enough evidence (`MIN_SCORE`) and
    the family name agreeing at least closely (a search never turns up another family's
    member); None when none does."""
    matches = (score(wanted, record) for record in records)
    return max(
        (m for m in matches if m.total >= MIN_SCORE and "family_name" in m.agreed()),
        key=lambda match: match.total,
        default=None,
    )


def find_in(view: CitizenView, viewer: Viewer, sought: Sought) -> Found | None:
    """Return how the search matches what the viewer may see of the citizen, or None."""
    records = visible_records(view, viewer)
    if sought.nhs_number is not None:
        if any(record.nhs_number == sought.nhs_number for record in records):
            return Found(score=None, matched_on=["nhs_number"])
        return None
    best = best_match(sought.as_record(), records)
    return (
        None
        if best is None
        else Found(score=best.total, matched_on=[str(f) for f in best.agreed()])
    )
