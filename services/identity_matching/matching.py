"""Probabilistic matching: how likely two organisations' records are the same person.

Pure. Used where no shared strong identifier decides (two different valid NHS numbers mean two
different people; the same NHS number means the same person: `strong_identifiers`).

The score is a Fellegi-Sunter log-likelihood ratio in bits: each compared field falls in a
comparison level (`comparisons.py`: exact, a slip, a nickname, names swapped, ...) and adds
that level's weight, log2(m/u), from the place's model (`model.py`: learnt from the place's
own records by `caseweave identity train`, else the cautious `DEFAULT_MODEL`; a learnt
model weighs an exact name by how common it is). A score of S says the evidence is 2^S
times likelier if the records are one person than if they are two. Fields missing on
either side add nothing.

Two thresholds per place decide what happens: at or above `link`, link automatically; at or
above `review` (but below `link`), put the pair in a review queue for a person to decide;
below, do nothing. A learnt model comes with the thresholds its training worked out; the
default ones (link 15, review 6) suit the default model, under which a name and a birth date
alone (14) go to review. Whatever the score, the twins rule holds unless the place turns it
off (`Thresholds.twins_rule`): given names that are different names, or variants of one
(Louis and Louise, Mary-Ann and Mary-Jane), never link automatically (`link_barred`); a
person decides.
"""

from collections.abc import Iterable
from dataclasses import dataclass, replace
from datetime import date
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from services.identity_matching.comparisons import (
    FIELDS,
    NO_EVIDENCE,
    FieldName,
    Level,
    compare_addresses,
    compare_dates_of_birth,
    compare_family_names,
    compare_given_names,
    compare_postcodes,
    initials_only,
    names_crossed,
    names_swapped,
)
from services.identity_matching.model import (
    DEFAULT_MODEL,
    NAMED_FIELDS,
    MatchingModel,
)

Decision = Literal["link", "review", "none"]
TWINS: frozenset[Level] = frozenset({"disagree", "variant"})  # given-name levels never linked
Levels = tuple[Level, Level, Level, Level, Level]  # one per field, in `FIELDS`' order


@dataclass(frozen=True, slots=True, kw_only=True)
class PersonRecord:
    """What matching compares of one organisation's record of a person (already validated:
    it is built from registration events, so it is a plain dataclass, cheap by the thousand)."""

    org: str
    person_id: str
    nhs_number: str | None = None
    given_name: str | None = None
    family_name: str | None = None
    date_of_birth: date | None = None
    postcode: str | None = None
    place: str | None = None
    address: str | None = None  # the first line: house number or name, and street


class Thresholds(BaseModel):
    """Where a score links automatically, and where it goes to a person for review."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    link: float = Field(default=15.0, description="at or above: link automatically")
    review: float = Field(default=6.0, description="at or above (below link): review queue")
    twins_rule: bool = Field(
        default=True,
        description="given names that differ, or are variants of one name, never link "
        "automatically whatever the score: a person decides (twins share a family name, a "
        "birth date and an address)",
    )

    @model_validator(mode="after")
    def _review_below_link(self) -> "Thresholds":
        if self.review > self.link:
            raise ValueError("review must not be above link")
        return self


class MatchingConfig(BaseModel):
    """Thresholds for every place, with overrides for some (by place code), and the model
    that scores pairs."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    default: Thresholds = Thresholds()
    places: dict[str, Thresholds] = Field(default_factory=dict)
    model: MatchingModel = DEFAULT_MODEL

    def thresholds_for(self, place: str | None) -> Thresholds:
        """Return the thresholds of `place`, else the default ones."""
        return self.places.get(place or "", self.default)


@dataclass(frozen=True)
class FieldEvidence:
    """How one field compared, and what that added to the score."""

    field: FieldName
    agreement: Level | str  # a level; stored evidence may name one of an earlier version
    weight: float


def agrees(agreement: str) -> bool:
    """Whether a field that compared so is evidence for the pair (not a disagreement, not a
    missing value)."""
    return agreement not in NO_EVIDENCE


def link_barred(evidence: Iterable[FieldEvidence]) -> bool:
    """Whether the twins rule keeps this pair from linking automatically: given names that
    are different names, or variants of one, are for a person to judge."""
    return any(e.field == "given_name" and e.agreement in TWINS for e in evidence)


@dataclass(frozen=True)
class MatchScore:
    """The score of a pair of records and the evidence behind it, field by field."""

    total: float
    evidence: tuple[FieldEvidence, ...]

    @property
    def may_link(self) -> bool:
        """Whether the pair may link automatically at all (the twins rule)."""
        return not link_barred(self.evidence)

    def decision(self, thresholds: Thresholds) -> Decision:
        """Return what to do with the pair under `thresholds`."""
        if self.total >= thresholds.link and (self.may_link or not thresholds.twins_rule):
            return "link"
        return "review" if self.total >= thresholds.review else "none"

    def agreed(self) -> list[FieldName]:
        """Return the fields that agreed, more or less (what a reviewer is shown first)."""
        return [e.field for e in self.evidence if agrees(e.agreement)]


StrongVerdict = Literal["same", "different", "unknown"]


def strong_identifiers(a: PersonRecord, b: PersonRecord) -> StrongVerdict:
    """Say what NHS numbers alone decide: same person, different people, or nothing."""
    if a.nhs_number and b.nhs_number:
        return "same" if a.nhs_number == b.nhs_number else "different"
    return "unknown"


def score(a: PersonRecord, b: PersonRecord, model: MatchingModel = DEFAULT_MODEL) -> MatchScore:
    """Return the match score of two records under `model` (without regard to NHS numbers):
    each field's level weight, an exact name's by how common the name is when the model
    knows (`MatchingModel.names`), an exact given name of initials only as an initial."""
    levels = compare(a, b)
    match = _scores_of(model).get(levels) or _scored(model, levels)
    exact_given = levels[0] == "exact"
    if model.names and levels[0] == "swapped":
        return _weighed_by_name(match, levels, _swapped_name_weights(a, b, model), model)
    if (model.names and (exact_given or levels[1] == "exact")) or (
        exact_given and initials_only(a.given_name)
    ):
        return _weighed_by_name(match, levels, _exact_name_weights(levels, a, model), model)
    return match


def _exact_name_weights(
    levels: Levels, a: PersonRecord, model: MatchingModel
) -> tuple[float | None, float | None]:
    """Each exact name's weight by the name itself (both records hold it), else None."""
    given, family = (
        model.exact_name_weight(field, getattr(a, field)) if levels[index] == "exact" else None
        for index, field in enumerate(NAMED_FIELDS)  # the first two of `FIELDS`
    )
    return given, family


def _swapped_name_weights(
    a: PersonRecord, b: PersonRecord, model: MatchingModel
) -> tuple[float | None, float | None]:
    """Names written the wrong way round weigh no more than the names themselves would as
    exact agreements (both records' names of each field: the same either way round)."""
    return (
        model.swapped_name_weight("given_name", (a.given_name, b.given_name)),
        model.swapped_name_weight("family_name", (a.family_name, b.family_name)),
    )


_NamedScores = dict[tuple[Levels, float | None, float | None], MatchScore]


def compare(a: PersonRecord, b: PersonRecord) -> Levels:
    """Return the level each field of two records compares at (given name, family name,
    birth date, postcode, address line: `FIELDS`' order)."""
    given = compare_given_names(a.given_name, b.given_name)
    family = compare_family_names(a.family_name, b.family_name)
    if given in ("disagree", "similar") and family in ("disagree", "similar"):
        names = (a.given_name, a.family_name, b.given_name, b.family_name)
        if names_swapped(*names):
            given = family = "swapped"
        elif names_crossed(*names):
            family = "crossed"
    return (
        given,
        family,
        compare_dates_of_birth(a.date_of_birth, b.date_of_birth),
        compare_postcodes(a.postcode, b.postcode),
        compare_addresses(a.address, b.address),
    )


_SCORES: dict[int, tuple[MatchingModel, dict[Levels, MatchScore], _NamedScores]] = {}


def _scores_of(model: MatchingModel) -> dict[Levels, MatchScore]:
    """The scores of each combination of levels seen under this model: there are at most a
    few thousand, so each is added up once, not once per pair (a score is immutable, so
    pairs share it). Keyed by the model's identity; the model is kept with its scores, so
    its id is never another's."""
    return _held(model)[1]


def _held(model: MatchingModel) -> tuple[MatchingModel, dict[Levels, MatchScore], _NamedScores]:
    held = _SCORES.get(id(model))
    if held is None:
        held = _SCORES[id(model)] = (model, {}, {})
    return held


def _weighed_by_name(
    match: MatchScore,
    levels: Levels,
    weights: tuple[float | None, float | None],
    model: MatchingModel,
) -> MatchScore:
    """`match` with the names' weights (`weights`: given, family; None keeps the level's);
    as with levels, each combination of levels and name weights is added up once."""
    given, family = weights
    named = _held(model)[2]
    key = (levels, given, family)
    found = named.get(key)
    if found is None:
        evidence = [
            e if weight is None else replace(e, weight=weight)
            for e, weight in zip(match.evidence, (given, family, None, None, None), strict=True)
        ]
        found = MatchScore(round(sum(e.weight for e in evidence), 2), tuple(evidence))
        named[key] = found
    return found


def _scored(model: MatchingModel, levels: Levels) -> MatchScore:
    evidence = tuple(
        FieldEvidence(field, level, model.weight(field, level))
        for field, level in zip(FIELDS, levels, strict=True)
    )
    match = MatchScore(round(sum(e.weight for e in evidence), 2), evidence)
    _scores_of(model)[levels] = match
    return match
