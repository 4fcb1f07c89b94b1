"""Grouping records into citizens: order-independent, and a person's decision always wins."""

import itertools
import random
from datetime import UTC, datetime, timedelta

from services.projection.domain.linkage import (
    HumanDecision,
    PersonKey,
    ScoredPair,
    SkippedDecision,
    resolve,
)

LINK, REVIEW = 13.0, 6.0
T0 = datetime(2026, 1, 5, 9, 0, tzinfo=UTC)
H, M, V = ("housing", "h1"), ("mental_health", "m1"), ("voluntary", "v1")


def at(minutes: int) -> datetime:
    return T0 + timedelta(minutes=minutes)


def test_a_strong_score_links_and_the_citizen_is_named_by_its_nhs_number() -> None:
    result = resolve(
        {H: "9434765919", V: None}, [ScoredPair(H, V, 16.0)], [], link_at=LINK, review_at=REVIEW
    )

    assert result.anchor_of == {H: "nhs:9434765919", V: "nhs:9434765919"}
    assert result.review == []


def test_a_middling_score_goes_to_review_and_links_nothing() -> None:
    result = resolve(
        {H: None, V: None}, [ScoredPair(H, V, 10.5)], [], link_at=LINK, review_at=REVIEW
    )

    assert result.anchor_of[H] != result.anchor_of[V]
    assert result.review == [ScoredPair(H, V, 10.5)]


def test_neither_a_score_nor_a_person_joins_two_different_nhs_numbers() -> None:
    """A link recorded before the rule (or made true by a corrected registration) is skipped."""
    numbers = {H: "9434765919", V: "4010232137"}
    linked = HumanDecision(H, V, same=True, decided_at=at(1))
    by_score = resolve(numbers, [ScoredPair(H, V, 18.0)], [], link_at=LINK, review_at=REVIEW)
    by_person = resolve(numbers, [], [linked], link_at=LINK, review_at=REVIEW)

    assert by_score.anchor_of[H] != by_score.anchor_of[V]
    assert by_score.review == [ScoredPair(H, V, 18.0)]
    assert by_person.anchor_of[H] != by_person.anchor_of[V]
    assert by_person.skipped == [SkippedDecision("different_nhs_numbers", linked)]


def test_a_link_never_joins_a_citizen_holding_another_nhs_number() -> None:
    """H has one number; V has none but is linked to M, who has another."""
    numbers = {H: "9434765919", M: "4010232137", V: None}
    decisions = [
        HumanDecision(V, M, same=True, decided_at=at(1)),
        HumanDecision(H, V, same=True, decided_at=at(2)),
    ]
    result = resolve(numbers, [], decisions, link_at=LINK, review_at=REVIEW)

    assert result.anchor_of[V] == result.anchor_of[M] != result.anchor_of[H]
    assert [s.rule for s in result.skipped] == ["different_nhs_numbers"]


def test_an_unlink_splits_what_the_score_joined_and_removes_it_from_review() -> None:
    scored = [ScoredPair(H, V, 16.0)]
    unlinked = [HumanDecision(H, V, same=False, decided_at=at(1))]

    result = resolve({H: None, V: None}, scored, unlinked, link_at=LINK, review_at=REVIEW)

    assert result.anchor_of == {H: "person:housing:h1", V: "person:voluntary:v1"}
    assert result.review == []


def test_records_sharing_an_nhs_number_are_never_parted() -> None:
    """An NHS number typed against the wrong person is put right by correcting the
    registration; a decision keeping them apart (recorded before the rule) is skipped."""
    apart = HumanDecision(H, V, same=False, decided_at=at(1))
    result = resolve(
        {H: "9434765919", V: "9434765919"}, [], [apart], link_at=LINK, review_at=REVIEW
    )

    assert result.anchor_of[H] == result.anchor_of[V] == "nhs:9434765919"
    assert result.skipped == [SkippedDecision("shares_nhs_number", apart)]


def test_a_later_link_joins_again_what_an_earlier_unlink_split() -> None:
    """H and M share a number; V was confirmed, split off, then confirmed again with H."""
    decisions = [
        HumanDecision(V, H, same=True, decided_at=at(1)),
        HumanDecision(V, H, same=False, decided_at=at(2)),
        HumanDecision(V, M, same=False, decided_at=at(2)),
        HumanDecision(V, H, same=True, decided_at=at(3)),
    ]
    numbers = {H: "9434765919", M: "9434765919", V: None}
    result = resolve(numbers, [], decisions, link_at=LINK, review_at=REVIEW)

    assert set(result.anchor_of.values()) == {"nhs:9434765919"}
    assert result.skipped == []


def test_a_link_made_before_an_unlink_does_not_undo_it() -> None:
    decisions = [
        HumanDecision(V, M, same=False, decided_at=at(2)),
        HumanDecision(V, H, same=True, decided_at=at(1)),
    ]
    numbers = {H: "9434765919", M: "9434765919", V: None}
    result = resolve(numbers, [], decisions, link_at=LINK, review_at=REVIEW)

    assert result.anchor_of[H] == result.anchor_of[M] != result.anchor_of[V]


def test_the_latest_decision_about_a_pair_counts() -> None:
    decisions = [
        HumanDecision(H, V, same=True, decided_at=at(1)),
        HumanDecision(V, H, same=False, decided_at=at(2)),
    ]
    result = resolve({H: None, V: None}, [], decisions, link_at=LINK, review_at=REVIEW)

    assert result.anchor_of[H] != result.anchor_of[V]


def test_a_chain_of_scores_cannot_join_two_people_a_person_kept_apart() -> None:
    """H~M and M~V score high, but H and V were decided different: the weaker edge yields."""
    result = resolve(
        {H: None, M: None, V: None},
        [ScoredPair(H, M, 17.0), ScoredPair(M, V, 14.0)],
        [HumanDecision(H, V, same=False, decided_at=at(1))],
        link_at=LINK,
        review_at=REVIEW,
    )

    assert result.anchor_of[H] == result.anchor_of[M] != result.anchor_of[V]
    assert result.review == [ScoredPair(M, V, 14.0)]


def _random_case(
    seed: int,
) -> tuple[dict[PersonKey, str | None], list[ScoredPair], list[HumanDecision]]:
    rng = random.Random(seed)
    people: list[PersonKey] = [
        (rng.choice(["housing", "mental_health", "voluntary"]), f"p{n}") for n in range(14)
    ]
    numbers = {p: rng.choice([None, None, "9434765919", "4010232137"]) for p in people}
    scored = [
        ScoredPair(*rng.sample(people, 2), round(rng.uniform(0, 20), 1), barred=rng.random() < 0.2)
        for _ in range(20)
    ]
    decisions = [
        HumanDecision(
            *rng.sample(people, 2), same=rng.random() < 0.5, decided_at=at(rng.randrange(50))
        )
        for _ in range(5)
    ]
    return numbers, scored, decisions


def test_the_result_never_depends_on_the_order_of_the_inputs() -> None:
    for seed in range(200):
        numbers, scored, decisions = _random_case(seed)
        expected = resolve(numbers, scored, decisions, link_at=LINK, review_at=REVIEW)
        rng = random.Random(seed + 1000)
        for _ in range(3):
            shuffled_numbers = dict(rng.sample(list(numbers.items()), len(numbers)))
            shuffled = resolve(
                shuffled_numbers,
                rng.sample(scored, len(scored)),
                rng.sample(decisions, len(decisions)),
                link_at=LINK,
                review_at=REVIEW,
            )
            assert shuffled.anchor_of == expected.anchor_of
            assert sorted(shuffled.review) == sorted(expected.review)


def test_no_citizen_holds_two_records_a_person_said_are_different_unless_later_joined() -> None:
    """Unless they share an NHS number, or a person's later link joined their citizens."""
    for seed in range(200):
        numbers, scored, decisions = _random_case(seed)
        result = resolve(numbers, scored, decisions, link_at=LINK, review_at=REVIEW)
        latest: dict[frozenset[PersonKey], HumanDecision] = {}
        for d in sorted(decisions, key=lambda d: (d.decided_at, not d.same)):
            latest[d.pair] = d
        for pair, decision in latest.items():
            a, b = sorted(pair)
            citizen = result.anchor_of[a]
            if decision.same or citizen != result.anchor_of[b]:
                continue
            assert (numbers[a] and numbers[a] == numbers[b]) or any(
                later.same and later.decided_at > decision.decided_at
                for later in latest.values()
                if {result.anchor_of[p] for p in later.pair} == {citizen}
            ), seed


def _broken_nhs_number_rules(
    numbers: dict[PersonKey, str | None], anchor_of: dict[PersonKey, str]
) -> list[str]:
    citizens: dict[str, set[str]] = {}
    held: dict[str, set[str]] = {}
    for person, number in numbers.items():
        if number:
            citizens.setdefault(number, set()).add(anchor_of[person])
            held.setdefault(anchor_of[person], set()).add(number)
    return [f"{n} in {sorted(c)}" for n, c in citizens.items() if len(c) > 1] + [
        f"{c} holds {sorted(n)}" for c, n in held.items() if len(n) > 1
    ]


def test_one_nhs_number_is_one_citizen_and_one_citizen_has_one_whatever_was_decided() -> None:
    for seed in range(500):
        numbers, scored, decisions = _random_case(seed)
        result = resolve(numbers, scored, decisions, link_at=LINK, review_at=REVIEW)
        assert _broken_nhs_number_rules(numbers, result.anchor_of) == [], seed


def test_every_sequence_of_decisions_keeps_the_nhs_number_rules() -> None:
    """Each sequence of three decisions (link or keep apart, any two of four records: two
    sharing a number, one with another, one with none), applied one after another."""
    x = ("housing", "x1")
    numbers = {H: "9434765919", M: "9434765919", V: None, x: "4010232137"}
    pairs = list(itertools.combinations(sorted(numbers), 2))
    choices = [(a, b, same) for a, b in pairs for same in (True, False)]
    scored = [ScoredPair(V, H, 14.0), ScoredPair(V, x, 16.0)]
    for sequence in itertools.product(choices, repeat=3):
        decisions: list[HumanDecision] = []
        for n, (a, b, same) in enumerate(sequence):
            decisions.append(HumanDecision(a, b, same=same, decided_at=at(n)))
            result = resolve(numbers, scored, decisions, link_at=LINK, review_at=REVIEW)
            assert _broken_nhs_number_rules(numbers, result.anchor_of) == [], sequence


def test_every_citizen_has_its_own_anchor_and_decided_pairs_never_wait_for_review() -> None:
    for seed in range(200):
        numbers, scored, decisions = _random_case(seed)
        result = resolve(numbers, scored, decisions, link_at=LINK, review_at=REVIEW)
        decided = {d.pair for d in decisions}
        assert not [pair for pair in result.review if pair.pair in decided], seed
        assert all(pair.score >= REVIEW for pair in result.review)


def test_records_sharing_an_nhs_number_stay_together_whatever_a_person_said() -> None:
    """H1 was decided different from H2 and H3 (before the rule): the decisions are skipped."""
    h1, h2, h3 = ("housing", "1"), ("housing", "2"), ("housing", "3")
    apart = [
        HumanDecision(h1, h2, same=False, decided_at=at(1)),
        HumanDecision(h1, h3, same=False, decided_at=at(1)),
    ]
    result = resolve(
        dict.fromkeys((h1, h2, h3), "9434765919"), [], apart, link_at=LINK, review_at=REVIEW
    )

    assert result.anchor_of[h1] == result.anchor_of[h2] == result.anchor_of[h3]
    assert [s.rule for s in result.skipped] == ["shares_nhs_number", "shares_nhs_number"]


def test_a_pair_scored_twice_or_either_way_round_is_reviewed_once() -> None:
    scored = [ScoredPair(H, V, 10.0), ScoredPair(V, H, 11.0)]
    result = resolve({H: None, V: None}, scored, [], link_at=LINK, review_at=REVIEW)

    assert result.review == [ScoredPair(H, V, 11.0)]


def test_a_record_that_would_link_with_either_twin_links_with_neither() -> None:
    """Louis and Louise (barred: the twins rule) each score high against "L": it could be
    either, so it joins neither and all three pairs wait for a person; a person linking
    the twins joins them (and "L" with them)."""
    louis, louise, initial = ("housing", "louis"), ("voluntary", "louise"), ("mental_health", "l")
    scored = [
        ScoredPair(louis, louise, 19.5, barred=True),
        ScoredPair(louis, initial, 20.0),
        ScoredPair(louise, initial, 20.5),
    ]
    numbers = dict.fromkeys((louis, louise, initial))
    for order in itertools.permutations(scored):
        result = resolve(numbers, order, [], link_at=LINK, review_at=REVIEW)

        assert len(set(result.anchor_of.values())) == 3
        assert {pair.pair for pair in result.review} == {pair.pair for pair in scored}

    same = HumanDecision(louis, louise, same=True, decided_at=at(1))
    linked = resolve(numbers, scored, [same], link_at=LINK, review_at=REVIEW)
    assert len(set(linked.anchor_of.values())) == 1
    assert linked.review == []


def test_twins_are_not_joined_through_a_chain_of_records_either() -> None:
    """Louis links "L" (20), "L" links "Lou" (18), "Lou" would link Louise (17): joined
    best first, the last join would put the twins together, so it waits for a person."""
    louis, louise = ("housing", "louis"), ("voluntary", "louise")
    initial, short = ("mental_health", "l"), ("mental_health", "lou")
    scored = [
        ScoredPair(louis, louise, 19.5, barred=True),
        ScoredPair(louis, initial, 20.0),
        ScoredPair(initial, short, 18.0),
        ScoredPair(short, louise, 17.0),
    ]
    result = resolve(dict.fromkeys((louis, louise, initial, short)), scored, [], link_at=LINK)

    assert result.anchor_of[louis] == result.anchor_of[initial] == result.anchor_of[short]
    assert result.anchor_of[louise] != result.anchor_of[louis]
    assert {pair.pair for pair in result.review} == {
        frozenset((louis, louise)),
        frozenset((short, louise)),
    }


def test_a_pair_joined_by_lower_scores_meanwhile_is_not_left_in_review() -> None:
    """A-B scores 16 against its own link threshold of 18; A-C and B-C score 15 against 15:
    all three are one citizen, so nothing of them waits for review."""
    a, b, c = ("housing", "a"), ("voluntary", "b"), ("mental_health", "c")
    scored = [
        ScoredPair(a, b, 16.0, link_at=18.0, review_at=REVIEW),
        ScoredPair(a, c, 15.0, link_at=15.0, review_at=REVIEW),
        ScoredPair(b, c, 15.0, link_at=15.0, review_at=REVIEW),
    ]
    result = resolve(dict.fromkeys((a, b, c)), scored, [], link_at=LINK, review_at=REVIEW)

    assert len(set(result.anchor_of.values())) == 1
    assert result.review == []


def test_one_pair_scored_twice_alike_keeps_the_cautious_thresholds_in_any_order() -> None:
    cautious = ScoredPair(H, V, 20.0, link_at=25.0, review_at=REVIEW)
    bold = ScoredPair(V, H, 20.0, link_at=15.0, review_at=REVIEW)
    for order in ([cautious, bold], [bold, cautious]):
        result = resolve({H: None, V: None}, order, [], link_at=LINK, review_at=REVIEW)

        assert result.anchor_of[H] != result.anchor_of[V]
        assert result.review == [cautious]


def test_no_scores_put_a_barred_pair_into_one_citizen() -> None:
    """Without a person's decision or a shared NHS number, however the scores chain."""
    for seed in range(200):
        numbers, scored_any, _ = _random_case(seed)
        numbers = dict.fromkeys(numbers)
        scored = list({pair.pair: pair for pair in scored_any}.values())  # each pair once
        result = resolve(numbers, scored, [], link_at=LINK, review_at=REVIEW)

        for pair in scored:
            if pair.barred:
                assert result.anchor_of[pair.a] != result.anchor_of[pair.b], seed
