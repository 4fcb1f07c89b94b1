"""Who a referral received is about, among the receiving organisation's own people.

A referral carries the sender's details of the person. The receiver takes it in against a
record it already has when it can tell which one: the record holding the same NHS number, or
the one record whose details match above the place's link threshold (the same matcher and
thresholds the projection links organisations' records with). Records in between (at or
above review, below link), or several above link, are for a worker of the receiver to
choose from: the referral is held (`referral.held`). Matching nothing, the person gets a
record of their own. A record with another NHS number is never the person (twins).
"""

from collections.abc import Iterable
from dataclasses import dataclass
from uuid import UUID

from events.shared import PersonDetails, ReferralCandidate
from services.identity_matching.matching import MatchScore, PersonRecord, Thresholds, score
from services.identity_matching.model import DEFAULT_MODEL, MatchingModel
from services.organisation.domain.people import PersonState

MAX_CANDIDATES = 5  # a worker compares a handful of records, best first


@dataclass(frozen=True)
class KnownPerson:
    """The referral is about this record: found by NHS number, or by details (`score`)."""

    person_id: UUID
    score: float | None = None


@dataclass(frozen=True)
class PersonToChoose:
    """The referral waits for a worker to choose among these records (best first), or none."""

    candidates: tuple[ReferralCandidate, ...]


@dataclass(frozen=True)
class NewPerson:
    """No record of the receiver's is the person: register them from the referral."""


FoundPerson = KnownPerson | PersonToChoose | NewPerson


def find_referred_person(
    referred: PersonDetails,
    known: Iterable[PersonState],
    thresholds: Thresholds,
    model: MatchingModel = DEFAULT_MODEL,
) -> FoundPerson:
    """Decide which of the receiver's records (`known`: those its search found for the
    referred details) the referral is about, or that a worker chooses, or that none is."""
    people = list(known)
    if referred.nhs_number:
        for person in people:
            if person.details.nhs_number == referred.nhs_number:
                return KnownPerson(person.person_id)
    referred_record = _record("referral", referred)
    matches = {
        known_person.person_id: score(
            _record(str(known_person.person_id), known_person.details), referred_record, model
        )
        for known_person in people
        if not _other_nhs_number(referred, known_person.details)
    }
    scored = sorted(
        (_candidate(person_id, match) for person_id, match in matches.items()),
        key=lambda c: (-c.match_score, str(c.person_id)),
    )
    linked = [c for c in scored if matches[c.person_id].decision(thresholds) == "link"]
    if len(linked) == 1:
        return KnownPerson(linked[0].person_id, linked[0].match_score)
    reviewable = [c for c in scored if c.match_score >= thresholds.review]
    if reviewable:
        return PersonToChoose(tuple(reviewable[:MAX_CANDIDATES]))
    return NewPerson()


def _other_nhs_number(referred: PersonDetails, details: PersonDetails) -> bool:
    return bool(referred.nhs_number and details.nhs_number) and (
        referred.nhs_number != details.nhs_number
    )


def _candidate(person_id: UUID, match: MatchScore) -> ReferralCandidate:
    return ReferralCandidate(
        person_id=person_id, match_score=match.total, matched_on=match.agreed()
    )


def _record(person_id: str, details: PersonDetails) -> PersonRecord:
    return PersonRecord(
        org="",
        person_id=person_id,
        nhs_number=details.nhs_number,
        given_name=details.given_name,
        family_name=details.family_name,
        date_of_birth=details.date_of_birth,
        postcode=details.postcode,
        address=details.address,
    )


def may_be_the_referred_person(referred: PersonDetails, chosen: PersonDetails) -> bool:
    """Tell whether a worker may say the referral is about a record with these details:
    not when both hold NHS numbers and they differ."""
    return not _other_nhs_number(referred, chosen)
