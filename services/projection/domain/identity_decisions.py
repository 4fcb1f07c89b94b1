"""A data steward's decision event, read as the pairwise decisions that `linkage.resolve` takes,
and the rules a decision must keep before it is recorded."""

from collections.abc import Collection, Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from uuid import UUID

from events.identity import IdentityLinked, IdentityNotSamePerson, IdentityUnlinked, RecordRef
from services.projection.domain.linkage import HumanDecision, PersonKey

IdentityDecision = IdentityLinked | IdentityNotSamePerson | IdentityUnlinked


def record_key(record: RecordRef) -> PersonKey:
    """Return the key the projection knows a record by."""
    return (record.org, str(record.person_id))


def pairwise(decision: IdentityDecision, *, decided_at: datetime) -> list[HumanDecision]:
    """Return the pairs a decision is about, and whether each pair is one person.

    An unlink says the record split off is not the same person as any record it was joined
    with: one "different" decision per pair, so no later score can join them again.
    """
    if isinstance(decision, IdentityUnlinked):
        split = record_key(decision.record)
        return [
            HumanDecision(split, record_key(other), same=False, decided_at=decided_at)
            for other in decision.from_records
        ]
    same = isinstance(decision, IdentityLinked)
    return [
        HumanDecision(record_key(decision.a), record_key(decision.b), same, decided_at=decided_at)
    ]


def records_named(decision: IdentityDecision) -> set[PersonKey]:
    """Return every record a decision names."""
    if isinstance(decision, IdentityUnlinked):
        return {record_key(decision.record), *map(record_key, decision.from_records)}
    return {record_key(decision.a), record_key(decision.b)}


def decides_about_own(decision: IdentityDecision, org: str) -> bool:
    """Tell whether `org`'s steward may make the decision: an unlink splits off only their
    own organisation's record; a pair decision names one of their records."""
    if isinstance(decision, IdentityUnlinked):
        return decision.record.org == org
    return org in (decision.a.org, decision.b.org)


def parts_an_nhs_number(
    decision: IdentityDecision, numbers: Mapping[PersonKey, str | None]
) -> bool:
    """Tell whether the decision would keep apart two records sharing an NHS number."""
    if isinstance(decision, IdentityLinked):
        return False
    return any(
        (number := numbers.get(pair.a)) and number == numbers.get(pair.b)
        for pair in pairwise(decision, decided_at=datetime.min)
    )


def nhs_numbers_among(numbers: Mapping[PersonKey, str | None]) -> set[str]:
    """Return the distinct NHS numbers the records hold."""
    return {number for number in numbers.values() if number}


def parts_others_records(
    before: Mapping[UUID, Collection[PersonKey]],
    after: Mapping[UUID, Collection[PersonKey]],
    *,
    deciders: Collection[str],
) -> bool:
    """Tell whether a decision parted records of organisations other than the `deciders`
    that were one citizen, some of them now with a deciding organisation's record: it chose
    which of the others' records are its person. `before`: each citizen that lost records,
    with its records then; `after`: every citizen those records are in now, with its records.

    However it comes about (a keep-apart; an organisation's link of its own two records
    that a keep-apart it recorded earlier turns against others; a keep-apart of its own two
    records that sends one of them off with another's), which of two other organisations'
    records are one person is for their stewards to decide. An organisation taking its
    record out alone (an unlink) chooses nothing: records joined only through it part, and
    their pairs go to review."""
    now = {key: citizen for citizen, records in after.items() for key in records}
    for citizen, records in before.items():
        theirs = {now.get(key, citizen) for key in records if key[0] not in deciders}
        if len(theirs) > 1 and any(
            key[0] in deciders for group in theirs for key in after.get(group, ())
        ):
            return True
    return False


@dataclass(frozen=True)
class DecisionsInForce:
    """The decisions `linkage.resolve` takes, and the links still awaiting a second steward:
    for each such pair, the organisations whose stewards have linked it so far."""

    decisions: list[HumanDecision]
    awaiting: dict[frozenset[PersonKey], frozenset[str]]


def decisions_in_force(decided: Iterable[tuple[HumanDecision, str]]) -> DecisionsInForce:
    """Return which of the decisions (each with its steward's organisation, in the order
    decided) take effect.

    Keeping two records apart takes effect at once, whoever's steward decides it (the
    cautious reading). Linking two organisations' records takes effect only when the
    stewards of both have linked the pair (at the later link): one organisation's steward
    alone would open the other's record to their own frontline, and the other organisation
    is the one that knows its record. A keep-apart ends the links made before it. Two records
    of one organisation need its steward only.
    """
    in_force: list[HumanDecision] = []
    linked: dict[frozenset[PersonKey], frozenset[str]] = {}
    for decision, org in decided:
        pair = decision.pair
        if not decision.same:
            linked[pair] = frozenset()
            in_force.append(decision)
            continue
        linked[pair] = linked.get(pair, frozenset()) | {org}
        if organisations_of(pair) <= linked[pair]:
            in_force.append(decision)
    awaiting = {
        pair: orgs for pair, orgs in linked.items() if orgs and not organisations_of(pair) <= orgs
    }
    return DecisionsInForce(in_force, awaiting)


def organisations_of(pair: frozenset[PersonKey]) -> frozenset[str]:
    """Return the organisations whose records a pair names."""
    return frozenset(org for org, _ in pair)
