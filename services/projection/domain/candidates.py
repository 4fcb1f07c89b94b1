"""Which pairs of records to score when records change, and the thresholds each pair uses.

Pure. A changed record is compared with every record that shares a blocking key with it
(`matching.blocking_keys`), never with the whole population. Pairs whose NHS numbers already
decide (the same number: one person; two different numbers: two people) are not scored,
except two records of the same number whose names or birth dates disagree: an identity
conflict (`identity_conflicts`), kept whatever it scores, for a data steward to review.

A blocking key shared by more than `MAX_BLOCK` records (a placeholder birth date such as
1900-01-01, thousands of test records alike) says too little to compare on: it is skipped,
and the caller logs it. Below that size, the pairs found never depend on arrival order.
"""

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from services.projection.domain.identity_conflicts import agrees
from services.projection.domain.linkage import PersonKey, ScoredPair
from services.projection.domain.matching import (
    MatchingConfig,
    MatchScore,
    PersonRecord,
    Thresholds,
    blocking_keys,
    score,
    strong_identifiers,
)

MAX_BLOCK = 500


@dataclass(frozen=True)
class CandidatePair:
    """Two records (a before b by key) and how they scored."""

    a: PersonKey
    b: PersonKey
    match: MatchScore


def key_of(record: PersonRecord) -> PersonKey:
    """Return the key of a record."""
    return (record.org, record.person_id)


@dataclass(frozen=True)
class Candidates:
    """The pairs worth keeping, and the kinds of blocking key skipped as too common."""

    pairs: list[CandidatePair]
    too_common: list[str]


def candidate_pairs(
    changed: Sequence[PersonRecord],
    blocks: Iterable[tuple[str, PersonRecord]],
    *,
    keep_from: float,
    max_block: int = MAX_BLOCK,
) -> Candidates:
    """Score each changed record against the records sharing a blocking key with it; return
    the pairs scoring at least `keep_from` (each pair once).

    `blocks` holds every stored record under each of its blocking keys (the changed records
    included), as the store looks them up by the changed records' keys.
    """
    by_key: dict[str, dict[PersonKey, PersonRecord]] = {}
    for key, record in blocks:
        by_key.setdefault(key, {})[key_of(record)] = record
    for record in changed:
        for key in blocking_keys(record):
            by_key.setdefault(key, {})[key_of(record)] = record
    common = {key for key, block in by_key.items() if len(block) > max_block}
    pairs: dict[tuple[PersonKey, PersonKey], CandidatePair] = {}
    for record in changed:
        for key in blocking_keys(record) - common:
            for other in by_key[key].values():
                a, b = sorted((key_of(record), key_of(other)))
                if a == b or (a, b) in pairs:
                    continue
                verdict = strong_identifiers(record, other)
                if verdict == "different" or (verdict == "same" and agrees(record, other)):
                    continue
                match = score(record, other)
                if match.total >= keep_from or verdict == "same":
                    pairs[a, b] = CandidatePair(a, b, match)
    return Candidates(list(pairs.values()), sorted({key.split(":")[0] for key in common}))


def pair_thresholds(config: MatchingConfig, place_a: str | None, place_b: str | None) -> Thresholds:
    """Return the thresholds of a pair whose records are in these places.

    A link needs the link threshold of both places; a review, that of either.
    """
    first, second = config.thresholds_for(place_a), config.thresholds_for(place_b)
    if first is second:
        return first
    return Thresholds(link=max(first.link, second.link), review=min(first.review, second.review))


def lowest_review(config: MatchingConfig) -> float:
    """Return the lowest review threshold of any place: scores below it are never kept."""
    return min([config.default.review, *(t.review for t in config.places.values())])


def lowest_link(config: MatchingConfig) -> float:
    """Return the lowest link threshold of any place: pairs below it never join records."""
    return min([config.default.link, *(t.link for t in config.places.values())])


def scored_pair(a: PersonKey, b: PersonKey, total: float, thresholds: Thresholds) -> ScoredPair:
    """Return a pair as `linkage.resolve` takes it, with its own thresholds."""
    return ScoredPair(a, b, total, link_at=thresholds.link, review_at=thresholds.review)
