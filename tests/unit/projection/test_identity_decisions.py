"""Which stewards' decisions take effect: a link of two organisations' records needs a
steward of each; keeping apart needs one, and ends the links before it."""

from datetime import UTC, datetime, timedelta
from uuid import UUID, uuid4

from services.projection.domain.identity_decisions import decisions_in_force, parts_others_records
from services.projection.domain.linkage import HumanDecision, PersonKey, resolve

T0 = datetime(2026, 5, 4, 9, 0, tzinfo=UTC)
HOUSING: PersonKey = ("housing", "h1")
CHARITY: PersonKey = ("voluntary", "v1")
HOUSING_AGAIN: PersonKey = ("housing", "h2")


def _decided(*steps: tuple[str, bool, PersonKey, PersonKey]) -> list[tuple[HumanDecision, str]]:
    return [
        (HumanDecision(a, b, same, decided_at=T0 + timedelta(minutes=n)), org)
        for n, (org, same, a, b) in enumerate(steps)
    ]


def _joined(decided: list[tuple[HumanDecision, str]]) -> bool:
    records = {HOUSING: None, CHARITY: None, HOUSING_AGAIN: None}
    anchors = resolve(records, [], decisions_in_force(decided).decisions).anchor_of
    return anchors[HOUSING] == anchors[CHARITY]


def test_one_organisations_link_of_anothers_record_joins_nothing_and_awaits_the_other() -> None:
    decided = _decided(("housing", True, HOUSING, CHARITY))
    in_force = decisions_in_force(decided)
    assert in_force.decisions == []
    assert in_force.awaiting == {frozenset((HOUSING, CHARITY)): frozenset({"housing"})}
    assert not _joined(decided)


def test_the_second_organisations_link_joins_them_from_when_it_was_made() -> None:
    decided = _decided(("housing", True, HOUSING, CHARITY), ("voluntary", True, CHARITY, HOUSING))
    in_force = decisions_in_force(decided)
    assert in_force.decisions == [decided[1][0]]
    assert in_force.awaiting == {}
    assert _joined(decided)


def test_two_links_by_the_same_organisation_are_still_one_organisations_word() -> None:
    decided = _decided(("housing", True, HOUSING, CHARITY), ("housing", True, HOUSING, CHARITY))
    assert decisions_in_force(decided).decisions == []
    assert not _joined(decided)


def test_an_organisations_own_two_records_need_only_its_steward() -> None:
    decided = _decided(("housing", True, HOUSING, HOUSING_AGAIN))
    assert decisions_in_force(decided).decisions == [decided[0][0]]


def test_keeping_apart_takes_one_steward_and_ends_the_links_before_it() -> None:
    decided = _decided(
        ("housing", True, HOUSING, CHARITY),
        ("voluntary", False, CHARITY, HOUSING),
        ("voluntary", True, CHARITY, HOUSING),  # changed its mind: housing must say so again
    )
    in_force = decisions_in_force(decided)
    assert in_force.decisions == [decided[1][0]]
    assert in_force.awaiting == {frozenset((HOUSING, CHARITY)): frozenset({"voluntary"})}
    assert not _joined(decided)
    seconded = [
        *decided,
        (HumanDecision(HOUSING, CHARITY, True, T0 + timedelta(hours=1)), "housing"),
    ]
    assert _joined(seconded)


def test_a_link_both_made_is_undone_by_either_organisations_keep_apart() -> None:
    decided = _decided(
        ("housing", True, HOUSING, CHARITY),
        ("voluntary", True, CHARITY, HOUSING),
        ("housing", False, HOUSING, CHARITY),
    )
    assert not _joined(decided)
    assert decisions_in_force(decided).awaiting == {}


def test_a_decision_parts_others_only_where_some_of_them_end_with_its_own_record() -> None:
    """Housing's record was one citizen with the charity's and mental health's."""
    was, elsewhere, third = uuid4(), uuid4(), uuid4()
    health: PersonKey = ("mental_health", "m1")
    before = {was: {HOUSING, CHARITY, health}}

    def parts(after: dict[UUID, set[PersonKey]], *deciders: str) -> bool:
        return parts_others_records(before, after, deciders=set(deciders) or {"housing"})

    assert not parts({was: {CHARITY, health}, elsewhere: {HOUSING}})  # it left them together
    assert not parts({was: {CHARITY}, elsewhere: {HOUSING}, third: {health}})  # it left alone
    assert parts({was: {HOUSING, health}, elsewhere: {CHARITY}})  # it kept mental health's
    assert parts({was: {CHARITY}, elsewhere: {HOUSING, health}})  # it took mental health's
    assert parts({was: {CHARITY}, elsewhere: {health, HOUSING_AGAIN}})  # to its other record
    assert not parts({was: {HOUSING, health}, elsewhere: {CHARITY}}, "housing", "voluntary")
