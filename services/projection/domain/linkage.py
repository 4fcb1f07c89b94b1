"""Which organisations' records are one citizen: strong identifiers, scores and human decisions.

Pure, and independent of the order anything arrived in: the same records, scores and
decisions always give the same citizens, so a replay rebuilds exactly the view people saw.

The records are nodes; citizens are the connected groups once these edges are added, in this
order of authority:
1. the same valid NHS number on both records: one NHS number is always one citizen;
2. a person's decision that two records are the same person (`identity.linked`), in the order
   the decisions were made;
3. a match score at or above the place's link threshold, highest score first (ties by the
   records' keys).
No edge may put two records with different NHS numbers into one citizen: a citizen holds at
most one. No score may put two records the twins rule bars from linking (`ScoredPair.barred`:
given names that differ) into one citizen, however it gets there; a third record that would
link with both (Louis and Louise, and "L") links with neither: a person decides. No edge
may put two records a person said are different (`identity.not_same_person`, or an
`identity.unlinked` that split them) into one citizen, except a person's later decision
that joins their citizens: a human decision always beats the algorithm, and the latest beats
the earlier. A pair whose score would link but is refused, or whose score is between the
thresholds, goes to review unless a person has already decided it or its records are one
citizen by other edges.

A decision that would break an NHS-number rule (one recorded before the rules were enforced,
or made true by a registration corrected since) is skipped and reported (`Resolution.skipped`).

Each citizen is named by its anchor: the smallest key of its records, where a record with an
NHS number has the key `nhs:<number>` (which sorts before `person:<org>:<id>`). A citizen
known by an NHS number therefore keeps the id it had before any probabilistic link.
"""

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field, replace
from datetime import datetime

PersonKey = tuple[str, str]  # (organisation, the organisation's person id)


@dataclass(frozen=True, order=True)
class ScoredPair:
    """Two records and their match score (from `matching.score`).

    `link_at` and `review_at` are the thresholds that apply to this pair (the places of its
    records may have their own); None takes the ones `resolve` is given. A `barred` pair
    (the twins rule) never links by its score, nor do other scores put its records together.
    """

    a: PersonKey
    b: PersonKey
    score: float
    link_at: float | None = None
    review_at: float | None = None
    barred: bool = False  # the twins rule: never one citizen by scores alone, at any score

    @property
    def pair(self) -> frozenset[PersonKey]:
        """Return the two records, unordered."""
        return frozenset((self.a, self.b))

    @property
    def at_least_review(self) -> bool:
        """Tell whether the pair scores at its own review threshold or above (given one)."""
        return self.review_at is not None and self.score >= self.review_at


@dataclass(frozen=True)
class HumanDecision:
    """A person decided whether two records are the same person (the latest per pair counts)."""

    a: PersonKey
    b: PersonKey
    same: bool
    decided_at: datetime

    @property
    def pair(self) -> frozenset[PersonKey]:
        """Return the two records, unordered."""
        return frozenset((self.a, self.b))


@dataclass(frozen=True)
class SkippedDecision:
    """A decision left out because it would break a rule: `different_nhs_numbers` (it would
    join two NHS numbers) or `shares_nhs_number` (it would part records sharing one)."""

    rule: str
    decision: HumanDecision


@dataclass(frozen=True)
class Resolution:
    """Each record's citizen anchor, the pairs a person should review, and the decisions
    that were skipped."""

    anchor_of: dict[PersonKey, str]
    review: list[ScoredPair] = field(default_factory=list)
    skipped: list[SkippedDecision] = field(default_factory=list)

    def members(self) -> dict[str, set[PersonKey]]:
        """Return the records of each citizen, by anchor."""
        groups: dict[str, set[PersonKey]] = {}
        for person, anchor in self.anchor_of.items():
            groups.setdefault(anchor, set()).add(person)
        return groups


def base_key(person: PersonKey, nhs_number: str | None) -> str:
    """Return the key a record gives a citizen on its own."""
    return f"nhs:{nhs_number}" if nhs_number else f"person:{person[0]}:{person[1]}"


def resolve(
    nhs_numbers: Mapping[PersonKey, str | None],
    scored: Iterable[ScoredPair],
    decisions: Iterable[HumanDecision],
    *,
    link_at: float = 15.0,
    review_at: float = 6.0,
) -> Resolution:
    """Group records into citizens (see the module's rules); return anchors and review pairs."""
    groups = _Groups(nhs_numbers)
    latest = _latest_decisions(decisions)
    skipped: list[SkippedDecision] = []
    for decision in latest.values():
        if not decision.same and groups.share_a_number(decision.a, decision.b):
            skipped.append(SkippedDecision("shares_nhs_number", decision))
        elif not decision.same:
            groups.forbid(decision)
    by_number: dict[str, PersonKey] = {}
    for person in sorted(nhs_numbers):
        number = nhs_numbers[person]
        if number:
            groups.join(by_number.setdefault(number, person), person)
    for decision in sorted(
        (d for d in latest.values() if d.same), key=lambda d: (d.decided_at, sorted(d.pair))
    ):
        if groups.numbers_clash(decision.a, decision.b):
            skipped.append(SkippedDecision("different_nhs_numbers", decision))
        else:
            groups.join(decision.a, decision.b, kept_apart_since=decision.decided_at)
    review = _join_by_score(
        groups, _best_per_pair(scored), latest, link_at=link_at, review_at=review_at
    )
    skipped.sort(key=lambda s: (s.decision.decided_at, sorted(s.decision.pair)))
    return Resolution(groups.anchors(), review, skipped)


def _join_by_score(
    groups: "_Groups",
    scored: list[ScoredPair],
    latest: Mapping[frozenset[PersonKey], HumanDecision],
    *,
    link_at: float,
    review_at: float,
) -> list[ScoredPair]:
    """Join the pairs scoring at their link threshold, best first, as far as the groups'
    constraints allow (the twins rule's bars among them); return the pairs left for review.

    A record that would link with both of a barred pair ("L Smith", or a record without a
    given name, beside Louis and Louise) could be either: it links with neither, and both
    its pairs wait for a person (`_either_twin`)."""
    undecided = [pair for pair in scored if pair.pair not in latest]
    for candidate in undecided:
        if candidate.barred:
            groups.bar(candidate.a, candidate.b)

    def would_link(pair: ScoredPair) -> bool:
        return not pair.barred and pair.score >= (link_at if pair.link_at is None else pair.link_at)

    either = _either_twin(undecided, would_link)
    review: list[ScoredPair] = []
    for candidate in sorted(undecided, key=lambda s: (-s.score, s.a, s.b)):
        if candidate.score < (review_at if candidate.review_at is None else candidate.review_at):
            continue
        linked = would_link(candidate) and candidate.pair not in either
        if not (linked and groups.join(candidate.a, candidate.b, by_score=True)):
            review.append(candidate)
    # a pair waiting to be linked may be joined by later (lower scoring) pairs meanwhile
    return [pair for pair in review if not groups.together(pair.a, pair.b)]


def _either_twin(
    scored: list[ScoredPair], would_link: Callable[[ScoredPair], bool]
) -> set[frozenset[PersonKey]]:
    """Return the pairs joining a record with one of two records barred from each other,
    where it would link with both: which of the two it is, a person decides."""
    linking: dict[PersonKey, set[PersonKey]] = {}
    for pair in scored:
        if would_link(pair):
            linking.setdefault(pair.a, set()).add(pair.b)
            linking.setdefault(pair.b, set()).add(pair.a)
    return {
        frozenset((middle, twin))
        for pair in scored
        if pair.barred
        for middle in linking.get(pair.a, set()) & linking.get(pair.b, set())
        for twin in (pair.a, pair.b)
    }


def _best_per_pair(scored: Iterable[ScoredPair]) -> list[ScoredPair]:
    """Return one score per unordered pair (the highest), its records in key order."""
    best: dict[tuple[PersonKey, PersonKey], ScoredPair] = {}
    for pair in scored:
        a, b = sorted((pair.a, pair.b))
        if (a, b) not in best or _ranked(pair) > _ranked(best[a, b]):
            best[a, b] = replace(pair, a=a, b=b)
    return list(best.values())


def _ranked(pair: ScoredPair) -> tuple[float, bool, float, float]:
    """The better of two scores of one pair: the higher; at equal scores, the more cautious
    (barred, then the higher thresholds), whichever order they came in."""
    inf = float("inf")
    return (pair.score, pair.barred, pair.link_at or inf, pair.review_at or inf)


def _latest_decisions(
    decisions: Iterable[HumanDecision],
) -> dict[frozenset[PersonKey], HumanDecision]:
    latest: dict[frozenset[PersonKey], HumanDecision] = {}
    # at the same instant "different" is applied last, so it wins: the cautious reading
    for decision in sorted(decisions, key=lambda d: (d.decided_at, not d.same)):
        latest[decision.pair] = decision
    return latest


class _Groups:
    """Union-find over records, refusing joins that would break a constraint."""

    def __init__(self, nhs_numbers: Mapping[PersonKey, str | None]) -> None:
        self._numbers = nhs_numbers
        self._parent: dict[PersonKey, PersonKey] = {p: p for p in nhs_numbers}
        self._members: dict[PersonKey, set[PersonKey]] = {p: {p} for p in nhs_numbers}
        self._apart: dict[PersonKey, dict[PersonKey, datetime]] = {p: {} for p in nhs_numbers}
        self._barred: dict[PersonKey, set[PersonKey]] = {}  # only records the rule bars

    def forbid(self, decision: HumanDecision) -> None:
        """Keep the decision's two records apart (from when it was decided)."""
        a, b = decision.a, decision.b
        if a in self._apart and b in self._apart:
            self._apart[a][b] = self._apart[b][a] = decision.decided_at

    def bar(self, a: PersonKey, b: PersonKey) -> None:
        """Keep two records apart from joins by score (the twins rule; a person may join)."""
        if a in self._parent and b in self._parent:
            self._barred.setdefault(a, set()).add(b)
            self._barred.setdefault(b, set()).add(a)

    def share_a_number(self, a: PersonKey, b: PersonKey) -> bool:
        """Tell whether both records hold the same NHS number."""
        number = self._numbers.get(a)
        return bool(number) and number == self._numbers.get(b)

    def numbers_clash(self, a: PersonKey, b: PersonKey) -> bool:
        """Tell whether joining the groups of a and b would give one group two NHS numbers."""
        if a not in self._parent or b not in self._parent:
            return False
        numbers = self._numbers_in(self._members[self.root(a)])
        return len(numbers | self._numbers_in(self._members[self.root(b)])) > 1

    def root(self, person: PersonKey) -> PersonKey:
        while self._parent[person] != person:
            self._parent[person] = self._parent[self._parent[person]]
            person = self._parent[person]
        return person

    def together(self, a: PersonKey, b: PersonKey) -> bool:
        return a in self._parent and b in self._parent and self.root(a) == self.root(b)

    def join(
        self,
        a: PersonKey,
        b: PersonKey,
        *,
        by_score: bool = False,
        kept_apart_since: datetime | None = None,
    ) -> bool:
        """Join the groups of a and b unless a constraint forbids it; return whether joined.

        With `kept_apart_since` (a person's decision, made then), only records kept apart
        from then on forbid it: the later decision beats the earlier. A join `by_score` may
        not bring two NHS numbers together, nor records the twins rule bars.
        """
        if a not in self._parent or b not in self._parent:
            return False
        ra, rb = self.root(a), self.root(b)
        if ra == rb:
            return True
        left, right = self._members[ra], self._members[rb]
        if self._kept_apart(left, right, since=kept_apart_since):
            return False
        if by_score and (
            len(self._numbers_in(left) | self._numbers_in(right)) > 1
            or self._barred_between(left, right)
        ):
            return False
        keep, gone = (ra, rb) if ra < rb else (rb, ra)
        self._parent[gone] = keep
        self._members[keep] = left | right
        del self._members[gone]
        return True

    def _barred_between(self, left: set[PersonKey], right: set[PersonKey]) -> bool:
        if not self._barred:
            return False
        fewer, more = (left, right) if len(left) <= len(right) else (right, left)
        return any(self._barred[p] & more for p in fewer if p in self._barred)

    def _kept_apart(
        self, left: set[PersonKey], right: set[PersonKey], *, since: datetime | None
    ) -> bool:
        return any(
            other in right and (since is None or decided_at >= since)
            for person in left
            for other, decided_at in self._apart[person].items()
        )

    def _numbers_in(self, members: set[PersonKey]) -> set[str]:
        return {n for p in members if (n := self._numbers[p])}

    def anchors(self) -> dict[PersonKey, str]:
        """Name each group by its smallest key (one NHS number is one group: unique)."""
        anchor_of_root = {
            root: min(base_key(p, self._numbers[p]) for p in members)
            for root, members in self._members.items()
        }
        return {person: anchor_of_root[self.root(person)] for person in self._parent}
