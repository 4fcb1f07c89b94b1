"""Learning a place's matching model from its own records, without knowing who is who.

Pure. The Fellegi-Sunter parameters are estimated as the record-linkage literature (and
Splink) does, from unlabelled records only:

- **u** (how often two different people's records compare at a level) by random sampling:
  two records drawn at random are almost never one person, so the levels of many random
  pairs are the levels of non-matches.
- **m** (how often one person's two records compare at a level) by expectation
  maximisation over the pairs blocking brings together: each pair is a mixture of a match
  and a non-match; EM finds the share of matches and the m that best explain the levels
  seen, u held fixed. A blocking key makes its own fields agree among its pairs, so each
  kind of key is a session that learns the m of the fields it does not constrain; each
  field's m is the mean of the sessions that learnt it. A level EM saw too few matches at
  to learn from (`MIN_SUPPORT`: nicknames in records that carry none) keeps the default
  model's weight, rather than one learnt from noise.
- **Names by how common they are**: an exact agreement on a name `MIN_BEARERS` or more
  records bear is worth log2(m / its share of the records); on a rarer one, the same with
  the mean share of rare names (Splink's term frequency adjustment, for names only). Only
  names that many records bear are listed in the model, so it names no one.
- **The thresholds** from the model's own estimate of how many pairs of records are one
  person (the sum of every candidate pair's match probability): `link` is the score at
  which a pair's match probability reaches `LINK_PROBABILITY`, `review` where it reaches
  `REVIEW_PROBABILITY`. A larger place, where chance agreements are likelier, gets higher
  thresholds.

Never trained on true links or stewards' decisions: a model learnt from decisions would
learn the stewards' habits, and one learnt from the links it made would learn itself.
"""

import random
from collections import Counter, defaultdict
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from math import log2

from services.identity_matching.blocking import blocking_keys
from services.identity_matching.comparisons import FIELDS, LEVELS, FieldName, Level
from services.identity_matching.matching import Levels, PersonRecord, Thresholds, compare
from services.identity_matching.model import (
    DEFAULT_MODEL,
    NAMED_FIELDS,
    LevelWeight,
    MatchingModel,
    NamedField,
    NameWeights,
    Training,
    name_key,
)

MAX_BLOCK = 500  # as the projection's candidates: a key shared by more says too little
MIN_SUPPORT = 10.0  # matches EM must see at a level to learn its weight (else the default's)
MIN_BEARERS = 10  # records bearing a name for its own weight to be kept (never one person's)

LINK_PROBABILITY = 0.99
REVIEW_PROBABILITY = 0.2
RANDOM_PAIRS = 300_000
MAX_ITERATIONS = 50
CONVERGED = 1e-5  # the largest change of any parameter between two iterations
_SMOOTHING = 1.0  # Laplace: a level never seen among random pairs is rare, not impossible
_FLOOR = 1e-6  # no m below this: a level never seen among matches is rare, not impossible
_TELL_EVERY = 1_000_000  # candidate pairs compared between two progress lines
# The fields each kind of blocking key makes agree among its pairs (so cannot learn the m of)
_CONSTRAINED: Mapping[str, frozenset[FieldName]] = {
    "dob": frozenset({"date_of_birth"}),
    "names": frozenset({"given_name", "family_name"}),
    "pc": frozenset({"postcode", "given_name"}),
}
Weights = dict[FieldName, dict[Level, float]]


@dataclass(frozen=True)
class TrainedModel:
    """A learnt model and the thresholds its training worked out."""

    model: MatchingModel
    thresholds: Thresholds
    sessions: tuple[str, ...]  # the kinds of blocking key EM learnt from
    iterations: int  # EM iterations in all


def train(
    records: Sequence[PersonRecord],
    *,
    version: str,
    trained_at: datetime,
    random_pairs: int = RANDOM_PAIRS,
    seed: int = 16,
    progress: Callable[[str], None] = lambda _: None,
) -> TrainedModel:
    """Learn m, u and the thresholds from `records` (a place's registrations); `progress`
    is told of each step as it starts."""
    if len(records) < 2:
        raise ValueError("training needs at least two records")
    progress(f"u: comparing {min(random_pairs, _all_pairs(records)):,} random pairs")
    u = u_by_random_sampling(records, pairs=random_pairs, rng=random.Random(seed))  # noqa: S311 (sampling, not secrets)
    progress("m: comparing the pairs blocking brings together")
    blocked = blocked_levels(records, progress=progress)
    candidates = blocked.every.total()
    progress(f"m: expectation maximisation over {candidates:,} candidate pairs")
    m, support, iterations, sessions = _m_by_sessions(blocked.by_kind, u)
    learnt = {field: _weights(m, u, support, field) for field in FIELDS}
    names = {
        field: name_weights(records, field, m=m[field]["exact"])
        for field in NAMED_FIELDS
        if support[field].get("exact", 0.0) >= MIN_SUPPORT
    }
    model = MatchingModel.model_validate({"version": version, **learnt, "names": names})
    all_pairs = _all_pairs(records)
    matches = _expected_matches(blocked.every, model)
    share = min(max(matches / all_pairs, 1 / all_pairs), 0.5)
    training = Training(
        trained_at=trained_at,
        records=len(records),
        random_pairs=min(random_pairs, all_pairs),
        candidate_pairs=candidates,
        match_share=share,
    )
    model = model.model_copy(update={"training": training})
    return TrainedModel(model, thresholds_for(share), tuple(sessions), iterations)


def name_weights(records: Sequence[PersonRecord], field: NamedField, *, m: float) -> NameWeights:
    """Return the weight of an exact agreement on each name `MIN_BEARERS` or more records
    bear, and on any rarer one: log2(m / u), u the chance that another person's record bears
    the same name (the name's share of the records), for a rarer name the mean of that
    chance over the records bearing one."""
    bearers = Counter(k for record in records if (k := name_key(field, getattr(record, field))))
    named = sum(bearers.values())
    if not named:
        raise ValueError(f"no record has a {field}")
    rare_shares = [count / named for count in bearers.values() if count < MIN_BEARERS]
    rare_u = (
        sum(share * share for share in rare_shares) / sum(rare_shares) if rare_shares else 1 / named
    )
    return NameWeights(
        min_bearers=MIN_BEARERS,
        rare=round(log2(max(m, _FLOOR) / rare_u), 3),
        common={
            name: round(log2(max(m, _FLOOR) / (count / named)), 3)
            for name, count in sorted(bearers.items())
            if count >= MIN_BEARERS
        },
    )


def _all_pairs(records: Sequence[PersonRecord]) -> int:
    return len(records) * (len(records) - 1) // 2


def thresholds_for(match_share: float) -> Thresholds:
    """Return the scores at which a pair's match probability reaches the link and review
    probabilities, when `match_share` of all pairs of records are one person."""
    prior = log2(match_share / (1 - match_share))
    return Thresholds(
        link=round(_bits(LINK_PROBABILITY) - prior, 2),
        review=round(_bits(REVIEW_PROBABILITY) - prior, 2),
    )


def u_by_random_sampling(
    records: Sequence[PersonRecord], *, pairs: int, rng: random.Random
) -> Weights:
    """Return u of every level: its share among the levels of random pairs (smoothed)."""
    seen: dict[FieldName, Counter[Level]] = {field: Counter() for field in FIELDS}
    for a, b in _random_pairs(len(records), pairs, rng):
        for field, level in zip(FIELDS, compare(records[a], records[b]), strict=True):
            seen[field][level] += 1
    return {field: _shares(seen[field], field, _SMOOTHING) for field in FIELDS}


@dataclass(frozen=True)
class BlockedLevels:
    """The levels of the pairs blocking brings together: for each kind of blocking key, of
    the pairs sharing a key of that kind (each pair once); and of every such pair, once."""

    by_kind: dict[str, Counter[Levels]]
    every: Counter[Levels]


def blocked_levels(
    records: Sequence[PersonRecord], *, progress: Callable[[str], None] = lambda _: None
) -> BlockedLevels:
    """Return the levels of the pairs of records sharing a blocking key (NHS numbers aside;
    a key shared by more than `MAX_BLOCK` records skipped, as the projection skips it).

    Each pair is compared once, at the first key (in sorted order) it shares, and counted
    there for every kind of key it shares: nothing is kept per pair, so memory grows with
    the records, not with the pairs (two million pairs at 100,000 records)."""
    by_key: dict[str, list[int]] = {}
    for index, record in enumerate(records):
        for key in blocking_keys(record):
            if _kind(key) in _CONSTRAINED:
                by_key.setdefault(key, []).append(index)
    usable = {key for key, members in by_key.items() if len(members) <= MAX_BLOCK}
    keys = [frozenset(key for key in blocking_keys(record) if key in usable) for record in records]
    by_kind: dict[str, Counter[Levels]] = {}
    every: Counter[Levels] = Counter()
    compared = told = 0
    for key in sorted(usable):
        members = by_key[key]
        for position, a in enumerate(members):
            for b in members[position + 1 :]:
                shared = keys[a] & keys[b]
                if min(shared) != key:
                    continue  # compared at the first key they share
                levels = compare(records[a], records[b])
                every[levels] += 1
                compared += 1
                for kind in {_kind(k) for k in shared}:
                    by_kind.setdefault(kind, Counter())[levels] += 1
        if compared >= told + _TELL_EVERY:
            told = compared // _TELL_EVERY * _TELL_EVERY
            progress(f"m: {told:,} candidate pairs compared")
    return BlockedLevels(by_kind, every)


def _kind(key: str) -> str:
    return key.split(":", 1)[0]


def _m_by_sessions(
    blocked: Mapping[str, Counter[Levels]], u: Weights
) -> tuple[Weights, Weights, int, list[str]]:
    """Run EM once per kind of blocking key; each field's m is the mean of the sessions
    that could learn it, its support (the matches EM saw at each level) their sum."""
    learnt: dict[FieldName, list[dict[Level, float]]] = {field: [] for field in FIELDS}
    support: Weights = {field: dict.fromkeys(_levels(field), 0.0) for field in FIELDS}
    iterations, sessions = 0, []
    for kind, pairs in sorted(blocked.items()):
        free = [f for f in FIELDS if f not in _CONSTRAINED[kind]]
        if not pairs or not free:
            continue
        estimate = expectation_maximisation(pairs, u, free)
        iterations += estimate.iterations
        sessions.append(kind)
        for field in free:
            learnt[field].append(estimate.m[field])
            for level, seen in estimate.support[field].items():
                support[field][level] = support[field].get(level, 0.0) + seen
    m_all: Weights = {}
    for field in FIELDS:
        if not learnt[field]:
            raise ValueError(f"too few records to learn how {field} agrees for one person")
        m_all[field] = {
            level: sum(m[level] for m in learnt[field]) / len(learnt[field])
            for level in _levels(field)
        }
    return m_all, support, iterations, sessions


@dataclass(frozen=True)
class Estimate:
    """What one EM session learnt: m of its fields' levels, how many matches it saw at
    each (its support), and the iterations it took."""

    m: Weights
    support: Weights
    iterations: int


def expectation_maximisation(
    pairs: Counter[Levels], u: Weights, fields: Iterable[FieldName]
) -> Estimate:
    """Return m of `fields`' levels that best explain `pairs` (u fixed). Fields not in
    `fields` take no part (the session's blocking made them agree)."""
    used = [(FIELDS.index(field), field) for field in fields]
    m: Weights = {field: _first_guess(field) for _, field in used}
    share = 0.1
    iteration = 0
    for iteration in range(1, MAX_ITERATIONS + 1):  # noqa: B007 (told after the loop)
        matched: dict[FieldName, defaultdict[Level, float]] = {
            field: defaultdict(float) for _, field in used
        }
        total_matched, total = 0.0, 0
        for levels, count in pairs.items():
            p_match, p_other = share, 1 - share
            for index, field in used:
                level = levels[index]
                if level != "missing":
                    p_match *= m[field][level]
                    p_other *= u[field][level]
            chance = p_match / (p_match + p_other)
            total_matched += chance * count
            total += count
            for index, field in used:
                matched[field][levels[index]] += chance * count
        new_m = {field: _shares(matched[field], field, 0.0) for _, field in used}
        new_share = total_matched / total
        change = max(
            abs(new_share - share),
            *(abs(new_m[f][lv] - m[f][lv]) for _, f in used for lv in _levels(f)),
        )
        m, share = new_m, min(max(new_share, 1e-9), 1 - 1e-9)
        if change < CONVERGED:
            break
    support = {field: dict(matched[field]) for _, field in used}
    return Estimate(m, support, iteration)


def _expected_matches(pairs: Counter[Levels], model: MatchingModel) -> float:
    """Sum the match probability of every candidate pair (`pairs`: how many at each
    combination of levels) under `model`, each pair's probability taken at the share the
    sum implies (a fixed point: a few rounds)."""
    weights: Counter[float] = Counter()
    for levels, count in pairs.items():
        weights[_bits_of(levels, model)] += count
    total = sum(weights.values())
    share = 0.01
    for _ in range(100):
        expected = sum(
            count / (1 + (1 - share) / share * 2 ** (-bits)) for bits, count in weights.items()
        )
        new_share = min(max(expected / total, 1e-9), 1 - 1e-9)
        if abs(new_share - share) < 1e-7:
            break
        share = new_share
    return share * total


def _bits_of(levels: Levels, model: MatchingModel) -> float:
    return sum(model.weight(f, level) for f, level in zip(FIELDS, levels, strict=True))


def _weights(
    m: Weights, u: Weights, support: Weights, field: FieldName
) -> dict[Level, LevelWeight]:
    """Each level's learnt weight; a level too rare among the place's matches to learn from
    (a nickname where records carry none) keeps the default model's weight."""
    return {
        level: LevelWeight.learnt(max(m[field][level], _FLOOR), u[field][level])
        if support[field].get(level, 0.0) >= MIN_SUPPORT
        else DEFAULT_MODEL.of(field)[level].model_copy(update={"u": round(u[field][level], 8)})
        for level in _levels(field)
    }


def _levels(field: FieldName) -> tuple[Level, ...]:
    return tuple(level for level in LEVELS[field] if level != "missing")


def _shares(
    counts: Mapping[Level, float], field: FieldName, smoothing: float
) -> dict[Level, float]:
    levels = _levels(field)
    total = sum(counts.get(level, 0) for level in levels) + smoothing * len(levels)
    if total == 0:
        return {level: 1 / len(levels) for level in levels}
    return {level: (counts.get(level, 0) + smoothing) / total for level in levels}


def _first_guess(field: FieldName) -> dict[Level, float]:
    """m before the first iteration: most of one person's pairs agree exactly."""
    levels = _levels(field)
    rest = 0.1 / (len(levels) - 1)
    return {level: 0.9 if level == "exact" else rest for level in levels}


def _random_pairs(n: int, pairs: int, rng: random.Random) -> Iterable[tuple[int, int]]:
    """Distinct pairs of distinct indexes below n, drawn at random (all, when fewer)."""
    every = n * (n - 1) // 2
    if every <= pairs:
        return ((a, b) for a in range(n) for b in range(a + 1, n))
    drawn: set[tuple[int, int]] = set()
    while len(drawn) < pairs:
        a, b = rng.randrange(n), rng.randrange(n)
        if a != b:
            drawn.add((a, b) if a < b else (b, a))
    return drawn


def _bits(probability: float) -> float:
    return log2(probability / (1 - probability))
