"""Which pairs get scored when records change; thresholds of a pair across places."""

from datetime import UTC, date, datetime
from uuid import uuid4

from events.identity import IdentityLinked, IdentityNotSamePerson, IdentityUnlinked, RecordRef
from services.identity_matching.blocking import blocking_keys
from services.identity_matching.matching import MatchingConfig, PersonRecord, Thresholds
from services.projection.domain.candidates import candidate_pairs, lowest_review, pair_thresholds
from services.projection.domain.identity_decisions import pairwise, records_named

BORN = date(1979, 3, 12)


def record(person: str, **fields: object) -> PersonRecord:
    values: dict[str, object] = {
        "org": "housing",
        "given_name": "David",
        "family_name": "Smith",
        "date_of_birth": BORN,
    }
    values.update(fields)
    return PersonRecord(person_id=person, **values)  # type: ignore[arg-type]


def blocks(*records: PersonRecord) -> list[tuple[str, PersonRecord]]:
    return [(key, r) for r in records for key in blocking_keys(r)]


def test_a_changed_record_is_scored_against_records_sharing_a_blocking_key_only() -> None:
    new = record("new", org="voluntary", given_name="Dave")
    same_birthday = record("a")
    elsewhere = record("b", family_name="Jones", date_of_birth=date(1990, 1, 1))
    found = candidate_pairs([new], blocks(same_birthday, elsewhere), keep_from=6)
    assert [(p.a, p.b) for p in found.pairs] == [(("housing", "a"), ("voluntary", "new"))]
    assert found.pairs[0].match.total == 12.5


def test_nhs_numbers_that_decide_leave_nothing_to_score() -> None:
    new = record("new", nhs_number="9434765919")
    twin = record("twin", nhs_number="4010232137")
    same = record("same", org="voluntary", nhs_number="9434765919")
    unknown = record("unknown", org="mental_health")
    found = candidate_pairs([new], blocks(twin, same, unknown), keep_from=6)
    assert [(p.a, p.b) for p in found.pairs] == [(("housing", "new"), ("mental_health", "unknown"))]


def test_scores_below_the_lowest_review_threshold_are_not_kept() -> None:
    new = record("new", given_name="Zed", postcode="BS5 6XX")
    other = record("o", given_name="Amy", family_name="Smyth", postcode="LS1 1AA")
    assert candidate_pairs([new], blocks(other), keep_from=6).pairs == []


def test_a_block_too_common_to_say_anything_is_skipped_and_reported() -> None:
    placeholder = [record(f"p{n}", given_name=f"N{n}") for n in range(6)]
    found = candidate_pairs([record("new")], blocks(*placeholder), keep_from=0, max_block=5)
    assert found.pairs == []
    assert found.too_common == ["dob", "names"]


def test_a_pair_across_places_needs_both_link_thresholds_and_either_review_one() -> None:
    config = MatchingConfig(
        default=Thresholds(link=15, review=6), places={"E1": Thresholds(link=18, review=4)}
    )
    assert pair_thresholds(config, "E1", "E2") == Thresholds(link=18, review=4)
    assert pair_thresholds(config, None, None) == Thresholds(link=15, review=6)
    assert lowest_review(config) == 4


def test_the_twins_rule_holds_for_a_pair_if_either_place_keeps_it() -> None:
    lifted = Thresholds(twins_rule=False)
    config = MatchingConfig(default=lifted, places={"E1": Thresholds(link=16)})

    assert pair_thresholds(config, "E1", "E2").twins_rule
    assert not pair_thresholds(config, "E2", "E3").twins_rule


def test_decisions_read_as_pairs() -> None:
    at = datetime(2026, 1, 1, tzinfo=UTC)
    a, b, c = (RecordRef(org="housing", person_id=uuid4()) for _ in range(3))
    linked = pairwise(IdentityLinked(a=a, b=b, reason="x"), decided_at=at)
    assert [(d.same, d.decided_at) for d in linked] == [(True, at)]
    apart = pairwise(IdentityNotSamePerson(a=a, b=b, reason="x"), decided_at=at)
    assert [d.same for d in apart] == [False]
    unlinked = IdentityUnlinked(record=a, from_records=[b, c], reason="x")
    assert [d.same for d in pairwise(unlinked, decided_at=at)] == [False, False]
    assert len(records_named(unlinked)) == 3
