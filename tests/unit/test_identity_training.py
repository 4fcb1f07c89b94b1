"""Learning a matching model from unlabelled records: what it learns, and what it does then.

The population is made here, FEBRL-style: people with varied names, birth dates,
postcodes and address lines, a third of them registered twice with the slips real records
have (a typo, a digit, a move, a missing value, names the wrong way round). The model never sees
which records are one person; the tests do.
"""

import random
from collections import Counter
from dataclasses import replace
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pytest
from pydantic import ValidationError

from services.identity_matching import training
from services.identity_matching.blocking import blocking_keys
from services.identity_matching.comparisons import FIELDS
from services.identity_matching.matching import (
    Levels,
    MatchingConfig,
    PersonRecord,
    Thresholds,
    compare,
    score,
)
from services.identity_matching.model import DEFAULT_MODEL, MatchingModel
from services.identity_matching.training import (
    blocked_levels,
    name_weights,
    thresholds_for,
    train,
)
from services.projection.domain.candidates import candidate_pairs
from services.runtime.matching_config import load_matching_config, matching_file_text

AT = datetime(2026, 12, 7, 12, 0, tzinfo=UTC)
BORN = date(1980, 5, 17)
_SYLLABLES = ["an", "bel", "cor", "dan", "el", "fi", "gor", "han", "is", "jo", "ka", "lin",
              "mar", "nor", "ol", "pe", "ri", "sa", "tam", "vic", "wen", "ya", "zo"]  # fmt: skip


def _name(rng: random.Random, syllables: int) -> str:
    return "".join(rng.choice(_SYLLABLES) for _ in range(syllables)).capitalize()


def _postcode(rng: random.Random) -> str:
    return f"BS{rng.randrange(1, 16)} {rng.randrange(1, 10)}{rng.choice('ABDEFG')}X"


def _address(rng: random.Random) -> str | None:
    street = f"{_name(rng, 2)} {rng.choice(['Road', 'Street', 'Lane', 'Close'])}"
    return None if rng.random() < 0.2 else f"{rng.randrange(1, 200)} {street}"


def _slip(rng: random.Random, text: str) -> str:
    at = rng.randrange(1, len(text))
    return text[:at] + rng.choice("aeiourstn") + text[at + 1 :]


def _duplicate(rng: random.Random, record: PersonRecord, person_id: str) -> PersonRecord:
    given, family = record.given_name, record.family_name
    born, postcode, address = record.date_of_birth, record.postcode, record.address
    for _ in range(rng.choice([1, 1, 2])):
        kind = rng.choice(["given", "family", "born", "postcode", "address", "missing", "swap"])
        if kind == "given" and given:
            given = _slip(rng, given)
        elif kind == "family" and family:
            family = _slip(rng, family)
        elif kind == "born" and born:
            born = born + timedelta(days=rng.choice([1, 10, 365]))
        elif kind == "postcode":  # moved
            postcode, address = _postcode(rng), _address(rng)
        elif kind == "address" and address:
            address = _slip(rng, address)
        elif kind == "missing":
            born = None
        else:
            given, family = family, given
    return PersonRecord(
        org="voluntary", person_id=person_id, given_name=given, family_name=family,
        date_of_birth=born, postcode=postcode, address=address,
    )  # fmt: skip


def population(people: int, seed: int) -> tuple[list[PersonRecord], set[frozenset[str]]]:
    """Return records of `people` people (a third registered twice) and the true pairs."""
    rng = random.Random(seed)
    records, pairs = [], set()
    for n in range(people):
        original = PersonRecord(
            org="housing", person_id=f"h{n}", given_name=_name(rng, 2),
            family_name=_name(rng, 3), postcode=_postcode(rng),
            date_of_birth=date(1930, 1, 1) + timedelta(days=rng.randrange(70 * 365)),
            address=_address(rng),
        )  # fmt: skip
        records.append(original)
        if n % 3 == 0:
            records.append(_duplicate(rng, original, f"v{n}"))
            pairs.add(frozenset({f"h{n}", f"v{n}"}))
    return records, pairs


@pytest.fixture(scope="module")
def learnt() -> tuple[MatchingModel, Thresholds]:
    records, _ = population(1500, seed=1)
    trained = train(records, version="test", trained_at=AT, random_pairs=60_000)
    return trained.model, trained.thresholds


def test_agreement_is_learnt_to_count_for_and_disagreement_against(
    learnt: tuple[MatchingModel, Thresholds],
) -> None:
    """m of each field's exact level is near the share of true pairs agreeing exactly (which
    the model never saw), and agreeing counts for, disagreeing against."""
    model, _ = learnt
    records, truth = population(1500, seed=1)
    by_id = {record.person_id: record for record in records}
    true_levels = [compare(*(by_id[person] for person in sorted(pair))) for pair in truth]
    for index, field in enumerate(FIELDS):
        weights = model.of(field)
        exact_share = sum(levels[index] == "exact" for levels in true_levels) / len(truth)
        assert weights["exact"].m == pytest.approx(exact_share, abs=0.15), field
        assert weights["exact"].weight > 3, field
        assert weights["disagree"].weight < 0, field
    # a birth date is rarer to share by chance than a postcode of a few hundred
    assert model.of("date_of_birth")["exact"].weight > model.of("postcode")["exact"].weight


def test_what_it_learnt_links_the_people_registered_twice_and_no_one_else(
    learnt: tuple[MatchingModel, Thresholds],
) -> None:
    """Fresh records of the same kind: the model was learnt on others."""
    model, thresholds = learnt
    records, truth = population(1500, seed=2)
    found = candidate_pairs(records, (), keep_from=float("-inf"), model=model)
    linked = {
        frozenset({p.a[1], p.b[1]}) for p in found.pairs if p.match.decision(thresholds) == "link"
    }

    assert linked - truth == set()  # two people wrongly joined: the worst failure
    assert len(linked & truth) >= 0.85 * len(truth)


def test_blocking_brings_each_pair_sharing_a_key_once_per_kind_and_once_in_all(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """What EM learns from is every pair sharing a usable key of each kind (a pair sharing
    keys of two kinds counts in both, sharing two of one kind once), and every such pair
    once in all: as comparing every pair of records and asking which keys they share finds.
    A key shared by too many records (a placeholder birth date) brings no pair."""
    monkeypatch.setattr(training, "MAX_BLOCK", 6)
    records, _ = population(150, seed=3)
    placeholder = [
        replace(record, person_id=f"p{n}", date_of_birth=date(1900, 1, 1))
        for n, record in enumerate(records[:7])
    ]
    records += placeholder
    found = blocked_levels(records)

    sizes = Counter(key for record in records for key in blocking_keys(record))
    by_kind: dict[str, Counter[Levels]] = {}
    every: Counter[Levels] = Counter()
    for i, a in enumerate(records):
        for b in records[i + 1 :]:
            shared = {
                key.split(":")[0]
                for key in blocking_keys(a) & blocking_keys(b)
                if key.split(":")[0] in ("dob", "names", "pc") and sizes[key] <= 6
            }
            for kind in shared:
                by_kind.setdefault(kind, Counter())[compare(a, b)] += 1
            every.update([compare(a, b)] if shared else [])

    assert found.by_kind == by_kind
    assert found.every == every
    assert sizes["dob:1900-01-01"] == 7
    assert sorted(by_kind) == ["dob", "names", "pc"]


def test_the_link_threshold_rises_with_the_population() -> None:
    """The more records, the likelier a chance agreement: more evidence is asked for."""
    small, large = thresholds_for(1e-4), thresholds_for(1e-6)

    assert large.link > small.link > small.review
    assert large.link - small.link == pytest.approx(6.64, abs=0.01)  # log2(100)


def test_the_same_records_learn_the_same_model() -> None:
    records, _ = population(600, seed=3)
    first = train(records, version="a", trained_at=AT, random_pairs=20_000)
    again = train(list(records), version="a", trained_at=AT, random_pairs=20_000)

    assert first.model == again.model
    assert first.thresholds == again.thresholds


def test_the_learnt_model_is_written_and_read_back_as_it_was(
    learnt: tuple[MatchingModel, Thresholds], tmp_path: Path
) -> None:
    model, thresholds = learnt
    config = MatchingConfig(default=thresholds, places={"E1": Thresholds(link=40)}, model=model)
    path = tmp_path / "matching.toml"
    path.write_text(matching_file_text(config, heading="learnt for a test"))

    assert load_matching_config(path) == config
    assert path.read_text().startswith("# learnt for a test\n")


def test_a_model_file_learnt_before_addresses_and_crossed_names_still_loads(
    tmp_path: Path,
) -> None:
    """A place that trained a model before the address line and the crossed-names level
    existed keeps starting: the new levels weigh as the default model's."""
    path = tmp_path / "matching.toml"
    path.write_text(
        """[model]
version = "trained-2026-12-06T101010Z"
[model.given_name]
exact = { weight = 7.0 }
swapped = { weight = 5.0 }
nickname = { weight = 2.0 }
initial = { weight = 0.5 }
typo = { weight = 5.0 }
variant = { weight = 4.0 }
first_name = { weight = 1.5 }
similar = { weight = 1.0 }
disagree = { weight = -3.0 }
[model.family_name]
exact = { weight = 7.5 }
swapped = { weight = 5.0 }
typo = { weight = 5.0 }
part = { weight = 4.0 }
sound = { weight = 3.0 }
similar = { weight = 1.0 }
disagree = { weight = -3.0 }
[model.date_of_birth]
exact = { weight = 8.0 }
day_month_swapped = { weight = 4.0 }
typo = { weight = 4.0 }
year_month = { weight = -1.0 }
year = { weight = -2.0 }
disagree = { weight = -4.0 }
[model.postcode]
exact = { weight = 6.0 }
typo = { weight = 3.0 }
sector = { weight = 2.0 }
district = { weight = 0.5 }
disagree = { weight = -2.0 }
"""
    )
    model = load_matching_config(path).model

    assert model.version == "trained-2026-12-06T101010Z"
    assert model.family_name["exact"].weight == 7.5
    assert model.family_name["crossed"] == DEFAULT_MODEL.family_name["crossed"]
    assert model.address == DEFAULT_MODEL.address
    assert model.names == {}


def test_a_model_must_weigh_every_level_of_every_field() -> None:
    levels = DEFAULT_MODEL.model_dump()
    del levels["postcode"]["sector"]
    with pytest.raises(ValidationError, match="postcode: no weight for sector"):
        MatchingModel.model_validate(levels)
    levels = DEFAULT_MODEL.model_dump()
    levels["given_name"]["sector"] = {"weight": 1.0}
    with pytest.raises(ValidationError, match="given_name: sector is no level of this field"):
        MatchingModel.model_validate(levels)


def test_a_scored_pair_uses_the_model_it_is_given(learnt: tuple[MatchingModel, Thresholds]) -> None:
    model, _ = learnt
    a = PersonRecord(org="housing", person_id="a", given_name="Anbel", family_name="Corfigor")
    b = PersonRecord(org="voluntary", person_id="b", given_name="Anbel", family_name="Corfigor")

    assert score(a, b).total == 8.0  # the default model's 3.5 + 4.5
    assert score(a, b, model).total == pytest.approx(
        model.names["given_name"].weight("anbel") + model.names["family_name"].weight("corfigor"),
        abs=0.01,
    )


def test_a_common_name_is_weaker_evidence_than_a_rare_one() -> None:
    """Two people share Smith by chance far more often than Okafor: an exact Smith counts
    for less. Only names at least ten records bear are listed (the model names no one)."""
    rng = random.Random(3)
    records = [
        PersonRecord(
            org="housing", person_id=f"p{n}", given_name=_name(rng, 2),
            family_name="Smith" if n < 120 else "Okafor" if n < 125 else _name(rng, 3),
            date_of_birth=date(1930, 1, 1) + timedelta(days=rng.randrange(70 * 365)),
        )
        for n in range(1000)
    ]  # fmt: skip
    names = name_weights(records, "family_name", m=0.9)

    assert set(names.common) == {"smith"}
    assert names.weight("okafor") == names.rare > names.weight("smith")
    model = DEFAULT_MODEL.model_copy(update={"names": {"family_name": names}})
    smiths = [
        PersonRecord(
            org=org, person_id=org, given_name="Jo", family_name="Smith", date_of_birth=BORN
        )
        for org in ("housing", "voluntary")
    ]
    okafors = [replace(record, family_name="OKAFOR") for record in smiths]
    assert score(*smiths, model).total < score(*okafors, model).total
    assert score(*smiths, DEFAULT_MODEL).total == score(*okafors, DEFAULT_MODEL).total
    assert model.name_frequency("family_name", "Smith") == "common"
    assert model.name_frequency("family_name", "Okafor") == "rare"
    assert model.name_frequency("given_name", "Jo") is None


def test_training_needs_records() -> None:
    with pytest.raises(ValueError, match="at least two records"):
        train([], version="x", trained_at=AT)


def test_a_level_too_rare_among_matches_to_learn_keeps_the_default_weight(
    learnt: tuple[MatchingModel, Thresholds],
) -> None:
    """The population has no nicknames: nothing to learn their weight from, so a Dave and a
    David still count for, not (as noise would have it) against."""
    model, _ = learnt
    nickname = model.of("given_name")["nickname"]

    assert nickname.m is None
    assert nickname.weight == DEFAULT_MODEL.of("given_name")["nickname"].weight
    assert model.of("given_name")["exact"].m is not None
