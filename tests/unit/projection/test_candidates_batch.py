"""A batch's candidate pairs are exactly those of scoring every pair sharing a key, once each.

`candidate_pairs` scores each pair once, however many keys its records share and whichever
of two changed records meets the other first; that is only right because `score` is
symmetric, so both are checked here against the plain definition.
"""

from datetime import date

from hypothesis import given, settings
from hypothesis import strategies as st

from services.identity_matching.blocking import blocking_keys
from services.identity_matching.comparisons import jaro_winkler
from services.identity_matching.matching import PersonRecord, score, strong_identifiers
from services.projection.domain.candidates import CandidatePair, candidate_pairs, key_of
from services.projection.domain.identity_conflicts import agrees

_GIVEN = ["David", "Dave", "Davyd", "Mary-Ann", "Mary-Jane", "Sam", "Samuel", "Louis", "Louise"]
_FAMILY = ["Smith", "Smyth", "Smith-Jones", "Jones", "Müller", "Mueller", "Мария"]
_BORN = [date(1979, 3, 12), date(1979, 12, 3), date(1978, 3, 12), date(1990, 1, 1)]
_POSTCODES = ["BS5 6XX", "BS5 6XY", "BS56XX", "LS1 1AA", "BS5 7AB"]
_NUMBERS = ["9434765919", "4010232137"]

records = st.builds(
    PersonRecord,
    org=st.sampled_from(["housing", "voluntary", "mental_health"]),
    person_id=st.sampled_from([f"p{n}" for n in range(8)]),
    nhs_number=st.none() | st.sampled_from(_NUMBERS),
    given_name=st.none() | st.sampled_from(_GIVEN),
    family_name=st.none() | st.sampled_from(_FAMILY),
    date_of_birth=st.none() | st.sampled_from(_BORN),
    postcode=st.none() | st.sampled_from(_POSTCODES),
)


def _unique(found: list[PersonRecord]) -> list[PersonRecord]:
    return list({key_of(r): r for r in found}.values())


def _every_pair_sharing_a_key(
    changed: list[PersonRecord], stored: list[PersonRecord], keep_from: float, max_block: int
) -> set[CandidatePair]:
    """The definition, pair by pair: no shortcut, both orders tried."""
    now = {key_of(r): r for r in stored} | {key_of(r): r for r in changed}
    sizes: dict[str, int] = {}
    for r in now.values():
        for key in blocking_keys(r):
            sizes[key] = sizes.get(key, 0) + 1
    usable = {key for key, size in sizes.items() if size <= max_block}
    expected = set()
    for record in changed:
        for other in now.values():
            if key_of(other) == key_of(record):
                continue
            if not blocking_keys(record) & blocking_keys(other) & usable:
                continue
            verdict = strong_identifiers(record, other)
            if verdict == "different" or (verdict == "same" and agrees(record, other)):
                continue
            match = score(record, other)
            if match.total >= keep_from or verdict == "same":
                a, b = sorted((key_of(record), key_of(other)))
                expected.add(CandidatePair(a, b, match))
    return expected


@settings(max_examples=300, deadline=None)
@given(
    changed=st.lists(records, max_size=6).map(_unique),
    stored=st.lists(records, max_size=10).map(_unique),
    keep_from=st.sampled_from([-20.0, 0.0, 6.0, 12.0]),
    max_block=st.sampled_from([2, 4, 500]),
)
def test_candidate_pairs_are_every_pair_sharing_a_usable_key_scored_once(
    changed: list[PersonRecord],
    stored: list[PersonRecord],
    keep_from: float,
    max_block: int,
) -> None:
    changed_keys = {key_of(r) for r in changed}
    stored = [r for r in stored if key_of(r) not in changed_keys] + changed  # as stored now
    blocks = [(key, r) for r in stored for key in blocking_keys(r)]
    found = candidate_pairs(changed, blocks, keep_from=keep_from, max_block=max_block)
    assert len({(p.a, p.b) for p in found.pairs}) == len(found.pairs)
    assert set(found.pairs) == _every_pair_sharing_a_key(changed, stored, keep_from, max_block)


@settings(max_examples=300, deadline=None)
@given(a=records, b=records)
def test_score_and_agreement_do_not_depend_on_which_record_comes_first(
    a: PersonRecord, b: PersonRecord
) -> None:
    assert score(a, b) == score(b, a)
    assert agrees(a, b) == agrees(b, a)


@given(a=st.text("abcdé", max_size=9), b=st.text("abcdé", max_size=9))
def test_jaro_winkler_is_symmetric(a: str, b: str) -> None:
    assert jaro_winkler(a, b) == jaro_winkler(b, a)
