"""What each comparison level is worth: the matching model, learnt or shipped.

Pure. A Fellegi-Sunter model: for each field and level, m is how often the two records of
one person compare at that level, u how often two different people's records do; the
level adds log2(m/u) bits to a pair's score (a missing value adds nothing). A score of S
says the pair's comparisons are 2^S times likelier for one person than for two. A learnt
model also weighs an exact name by how common it is among the place's records
(`NameWeights`): sharing Smith proves less than sharing Okafor.

`DEFAULT_MODEL` is what a place starts from before it has records to learn from: weights
set by hand from typical UK record-linkage figures, cautious (a name and a birth date alone
never link). `caseweave identity train` learns a place's own (`training.py`) and writes it
with its version into the matching file; the projection and the referral inboxes score
with whichever the file holds.
"""

from collections.abc import Mapping
from datetime import datetime
from math import log2
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from services.identity_matching.comparisons import (
    FIELDS,
    LEVELS,
    FieldName,
    Level,
    family_name_key,
    given_name_key,
    initials_only,
)


class LevelWeight(BaseModel):
    """What one comparison level adds to a score (bits), and the m and u it came from."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    weight: float = Field(description="bits added to the score: log2(m / u)")
    m: float | None = Field(default=None, gt=0, le=1, description="share of one person's pairs")
    u: float | None = Field(default=None, gt=0, le=1, description="share of two people's pairs")

    @classmethod
    def learnt(cls, m: float, u: float) -> "LevelWeight":
        """Return the weight of a level from its m and u."""
        return cls(weight=round(log2(m / u), 3), m=round(m, 6), u=round(u, 8))


class Training(BaseModel):
    """What a learnt model was learnt from (never from true links: it has none)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    trained_at: datetime
    records: int = Field(ge=0, description="registrations learnt from")
    random_pairs: int = Field(ge=0, description="random pairs sampled for u")
    candidate_pairs: int = Field(ge=0, description="pairs blocking brought together, for m")
    match_share: float = Field(
        ge=0, le=1, description="estimated share of all pairs of records that are one person"
    )


FieldWeights = Mapping[Level, LevelWeight]
NamedField = Literal["given_name", "family_name"]
NAMED_FIELDS: tuple[NamedField, ...] = ("given_name", "family_name")


def name_key(field: NamedField, name: str | None) -> str:
    """A name as its field's exact agreements compare it: how it is looked up in `NameWeights`."""
    return given_name_key(name) if field == "given_name" else family_name_key(name)


class NameWeights(BaseModel):
    """What an exact agreement on one name is worth, by how common the name is among the
    place's records: two records of different people share a common name (Smith, Mohammed)
    by chance far more often than a rare one. A name is listed only when at least
    `min_bearers` records bear it (a list of a place's common names says nothing about any
    one person); any other name is worth `rare`."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    min_bearers: int = Field(ge=2, description="records that bear a name listed in `common`")
    rare: float = Field(description="bits for an exact agreement on a name not listed")
    common: dict[str, float] = Field(
        default_factory=dict, description="bits for an exact agreement on each common name"
    )

    def weight(self, name_key: str) -> float:
        """Return the bits an exact agreement on this name (normalised) adds."""
        return self.common.get(name_key, self.rare)


def _hand_set(weights: Mapping[Level, float]) -> dict[Level, LevelWeight]:
    return {level: LevelWeight(weight=weight) for level, weight in weights.items()}


DEFAULT_ADDRESS_WEIGHTS = _hand_set({
    "exact": 5.0, "typo": 3.0, "street": 1.0, "similar": 0.0, "disagree": -1.0,
})  # fmt: skip
# Levels added since models were first written to files: a file learnt before one was
# added weighs it as the default model does (its training never saw it).
LEVELS_ADDED: Mapping[FieldName, dict[Level, LevelWeight]] = {
    "family_name": _hand_set({"crossed": 2.0}),
}


class MatchingModel(BaseModel):
    """A weight for every level of every field, with the model's version."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    version: str = Field(min_length=1, max_length=80)
    training: Training | None = None
    given_name: dict[Level, LevelWeight]
    family_name: dict[Level, LevelWeight]
    date_of_birth: dict[Level, LevelWeight]
    postcode: dict[Level, LevelWeight]
    address: dict[Level, LevelWeight] = Field(
        default_factory=lambda: dict(DEFAULT_ADDRESS_WEIGHTS),
        description="learnt since addresses were recorded; a model learnt before has the "
        "default model's weights",
    )
    names: dict[NamedField, NameWeights] = Field(
        default_factory=dict,
        description="exact agreements on names weighed by how common each name is (a learnt "
        "model); a field without them weighs every exact name the same",
    )

    @model_validator(mode="before")
    @classmethod
    def _levels_added_since(cls, data: object) -> object:
        """A model written before a level was added weighs it as the default model does."""
        if not isinstance(data, dict):
            return data
        filled = dict(data)
        for field, added in LEVELS_ADDED.items():
            weights = filled.get(field)
            if isinstance(weights, dict):
                filled[field] = weights | {k: v for k, v in added.items() if k not in weights}
        return filled

    @model_validator(mode="after")
    def _every_level_weighed(self) -> "MatchingModel":
        for field in FIELDS:
            given, wanted = set(self.of(field)), set(LEVELS[field]) - {"missing"}
            if missing := sorted(wanted - given):
                raise ValueError(f"{field}: no weight for {', '.join(missing)}")
            if stray := sorted(given - set(LEVELS[field])):
                raise ValueError(f"{field}: {', '.join(stray)} is no level of this field")
        return self

    def of(self, field: FieldName) -> FieldWeights:
        """Return the weights of one field's levels."""
        weights: FieldWeights = getattr(self, field)
        return weights

    def name_frequency(
        self, field: FieldName, name: str | None
    ) -> Literal["common", "rare"] | None:
        """Say whether an exact agreement on `name` weighs as a common or a rare name (None:
        the field's exact names all weigh the same)."""
        if field not in ("given_name", "family_name") or field not in self.names:
            return None
        return "common" if name_key(field, name) in self.names[field].common else "rare"

    def exact_name_weight(self, field: NamedField, name: str | None) -> float | None:
        """Return the bits an exact agreement on `name` adds by how common it is (None: the
        field's exact names all weigh their level's weight). A given name of initials only
        (J; J R) adds what an initial does, however rare: it may stand for any name of its
        letter, so two records of "J Smith" prove no more than "J" and "John" do."""
        if field == "given_name" and initials_only(name):
            return self.weight("given_name", "initial")
        names = self.names.get(field)
        return None if names is None else names.weight(name_key(field, name))

    def weight(self, field: FieldName, level: Level) -> float:
        """Return the bits one field's level adds (a missing value adds nothing), never more
        than an exact agreement of the field adds: nothing is stronger evidence than exact
        agreement, however rarely random pairs fall in a level (names swapped are rare by
        chance, so a learnt model weighed them above exact names)."""
        if level == "missing":
            return 0.0
        weights = self.of(field)
        return min(weights[level].weight, weights["exact"].weight)

    def swapped_name_weight(self, field: NamedField, names: tuple[str | None, ...]) -> float:
        """Return the bits names written the wrong way round add to `field`: the level's
        weight, but no more than an exact agreement on the commoner of `names` (both
        records' names of that field) would add."""
        exact = [w for name in names if (w := self.exact_name_weight(field, name)) is not None]
        return min([self.weight(field, "swapped"), *exact])


DEFAULT_MODEL = MatchingModel(
    version="default-3",
    given_name=_hand_set({
        "exact": 3.5, "swapped": 2.5, "nickname": 2.0, "first_name": 1.5, "initial": 0.5,
        "typo": 1.0, "variant": 0.0, "similar": 0.0, "disagree": -3.0,
    }),
    family_name=_hand_set({
        "exact": 4.5, "swapped": 3.5, "typo": 2.5, "part": 2.5, "sound": 2.5, "similar": 1.0,
        "disagree": -3.0,
    }) | LEVELS_ADDED["family_name"],
    date_of_birth=_hand_set({
        "exact": 6.0, "day_month_swapped": 3.0, "typo": 3.0, "year_month": -2.0, "year": -3.0,
        "disagree": -5.0,
    }),
    postcode=_hand_set({
        "exact": 4.0, "typo": 2.0, "sector": 2.0, "district": 0.5, "disagree": -2.0,
    }),
    address=DEFAULT_ADDRESS_WEIGHTS,
)  # fmt: skip
