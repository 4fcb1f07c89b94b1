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

from services.identity_matching.blocking import blocking_keys
from services.identity_matching.matching import (
    MatchingConfig,
    MatchScore,
    PersonRecord,
    Thresholds,
    score,
    strong_identifiers,
)
from services.identity_matching.model import DEFAULT_MODEL, MatchingModel
from services.projection.domain.identity_conflicts import agrees
from services.projection.domain.linkage import PersonKey, ScoredPair

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
    model: MatchingModel = DEFAULT_MODEL,
    max_block: int = MAX_BLOCK,
) -> Candidates:
    """Score each changed record against the records sharing a blocking key with it; return
    the pairs scoring at least `keep_from` (each pair once).

    `blocks` holds every stored record under each of its blocking keys (the changed records
    included), as the store looks them up by the changed records' keys. A pair is scored
    once however many keys its records share, and two changed records once between them
    (`score` is symmetric: which side is the changed one makes no difference).
    """
    keyed = _keyed_once(changed)
    by_key = _by_key(keyed, blocks)
    common = {key for key, block in by_key.items() if len(block) > max_block}
    pairs: list[CandidatePair] = []
    done: set[PersonKey] = set()
    for own, (record, keys) in keyed.items():
        done.add(own)
        number = record.nhs_number
        for other_key, other in _sharing(by_key, keys - common).items():
            if other_key in done or (number and other.nhs_number not in (None, "", number)):
                continue  # itself, a changed record that met it, or two NHS numbers: two people
            match = _kept(record, other, keep_from, model)
            if match is not None:
                a, b = (own, other_key) if own < other_key else (other_key, own)
                pairs.append(CandidatePair(a, b, match))
    return Candidates(pairs, sorted({key.split(":")[0] for key in common}))


def _keyed_once(
    changed: Sequence[PersonRecord],
) -> dict[PersonKey, tuple[PersonRecord, frozenset[str]]]:
    """Return each changed record (the first given of a key) with its blocking keys, by key."""
    keyed: dict[PersonKey, tuple[PersonRecord, frozenset[str]]] = {}
    for record in changed:
        keyed.setdefault(key_of(record), (record, blocking_keys(record)))
    return keyed


def _by_key(
    keyed: dict[PersonKey, tuple[PersonRecord, frozenset[str]]],
    blocks: Iterable[tuple[str, PersonRecord]],
) -> dict[str, dict[PersonKey, PersonRecord]]:
    """Return the records under each blocking key, a changed record as it is now."""
    by_key: dict[str, dict[PersonKey, PersonRecord]] = {}
    for key, record in blocks:
        by_key.setdefault(key, {})[record.org, record.person_id] = record
    for own, (record, keys) in keyed.items():
        for key in keys:
            by_key.setdefault(key, {})[own] = record
    return by_key


def _sharing(
    by_key: dict[str, dict[PersonKey, PersonRecord]], keys: Iterable[str]
) -> dict[PersonKey, PersonRecord]:
    """Return the records under any of these keys, each once."""
    records: dict[PersonKey, PersonRecord] = {}
    for key in keys:
        records.update(by_key[key])
    return records


def _kept(
    record: PersonRecord, other: PersonRecord, keep_from: float, model: MatchingModel
) -> MatchScore | None:
    """Return the score of a pair worth keeping, else None: NHS numbers that decide leave
    nothing to score, but an identity conflict is kept whatever it scores."""
    verdict = strong_identifiers(record, other)
    if verdict == "different" or (verdict == "same" and agrees(record, other)):
        return None
    match = score(record, other, model)
    return match if match.total >= keep_from or verdict == "same" else None


def pair_thresholds(config: MatchingConfig, place_a: str | None, place_b: str | None) -> Thresholds:
    """Return the thresholds of a pair whose records are in these places.

    A link needs the link threshold of both places; a review, that of either; the twins rule
    holds if either place keeps it.
    """
    first, second = config.thresholds_for(place_a), config.thresholds_for(place_b)
    if first is second:
        return first
    return Thresholds(
        link=max(first.link, second.link),
        review=min(first.review, second.review),
        twins_rule=first.twins_rule or second.twins_rule,
    )


def lowest_review(config: MatchingConfig) -> float:
    """Return the lowest review threshold of any place: scores below it are never kept."""
    return min([config.default.review, *(t.review for t in config.places.values())])


def lowest_link(config: MatchingConfig) -> float:
    """Return the lowest link threshold of any place: pairs below it never join records."""
    return min([config.default.link, *(t.link for t in config.places.values())])


def scored_pair(
    a: PersonKey,
    b: PersonKey,
    total: float,
    thresholds: Thresholds,
    *,
    may_link: bool = True,
) -> ScoredPair:
    """Return a pair as `linkage.resolve` takes it, with its own thresholds, `barred` when
    the twins rule holds in its places and bars it (`link_barred`): no link by any score."""
    barred = not may_link and thresholds.twins_rule
    return ScoredPair(
        a, b, total, link_at=thresholds.link, review_at=thresholds.review, barred=barred
    )
