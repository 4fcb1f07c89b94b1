"""The place's matching model: learnt from its registrations, and a pair's score explained.

`learn_matching_model` reads every record the projection matches (each organisation's latest
registration of each person) and learns m, u and the thresholds from them
(`identity_matching.training`): no labels, no stewards' decisions. `explain_pair` says how two
records compare under the place's model: each field's level, its m, u and weight, the total,
the thresholds of their places and what matching does with the pair.
"""

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

from services.identity_matching.blocking import blocking_keys
from services.identity_matching.matching import (
    Decision,
    MatchingConfig,
    MatchScore,
    PersonRecord,
    Thresholds,
    score,
)
from services.identity_matching.training import TrainedModel, train
from services.projection.domain.candidates import pair_thresholds
from services.projection.domain.linkage import PersonKey
from services.projection.service_layer.unit_of_work import UnitsOfWork

MIN_RECORDS = 500  # fewer, and EM learns noise: keep the model there is


class CannotLearn(Exception):
    """The place's registrations cannot teach a model (too few, or too alike)."""


class TooFewRecords(CannotLearn):
    """The place holds too few registrations to learn a model from."""

    def __init__(self, records: int) -> None:
        super().__init__(
            f"{records:,} registration(s): at least {MIN_RECORDS:,} are needed to learn from"
        )
        self.records = records


async def learn_matching_model(
    units: UnitsOfWork,
    *,
    version: str,
    trained_at: datetime,
    random_pairs: int,
    progress: Callable[[str], None] = lambda _: None,
) -> TrainedModel:
    """Learn the place's model from every stored registration (read in one transaction)."""
    async with units() as uow:
        records = await uow.matches.every_record()
    progress(f"read {len(records):,} registrations")
    if len(records) < MIN_RECORDS:
        raise TooFewRecords(len(records))
    try:
        return train(
            records, version=version, trained_at=trained_at, random_pairs=random_pairs,
            progress=progress,
        )  # fmt: skip
    except ValueError as error:  # e.g. no pair of records shares a blocking key
        raise CannotLearn(str(error)) from None


@dataclass(frozen=True)
class PairExplained:
    """How two records compare under the place's model, and what matching does with them."""

    a: PersonRecord
    b: PersonRecord
    match: MatchScore
    thresholds: Thresholds
    decision: Decision
    shared_keys: list[str]  # the kinds of blocking key they share (none: never compared)


class NoRegistration(Exception):
    """Records the projection holds no registration of (never registered, or erased)."""

    def __init__(self, records: list[PersonKey]) -> None:
        named = ", ".join(f"{org}:{person_id}" for org, person_id in records)
        super().__init__(f"no registration of {named}")
        self.records = records


async def explain_pair(
    units: UnitsOfWork, a: PersonKey, b: PersonKey, matching: MatchingConfig
) -> PairExplained:
    """Return how records `a` and `b` compare; raise `NoRegistration` naming those the
    projection holds no registration of."""
    async with units() as uow:
        held = await uow.matches.registrations([a, b])
    missing = [key for key in dict.fromkeys((a, b)) if key not in held]
    if missing:
        raise NoRegistration(missing)
    first, second = held[a].record, held[b].record
    match = score(first, second, matching.model)
    thresholds = pair_thresholds(matching, first.place, second.place)
    shared = sorted({key.split(":", 1)[0] for key in blocking_keys(first) & blocking_keys(second)})
    return PairExplained(first, second, match, thresholds, match.decision(thresholds), shared)
