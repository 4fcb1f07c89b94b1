"""A data steward's decision event, read as the pairwise decisions that `linkage.resolve` takes,
and the rules a decision must keep before it is recorded."""

from collections.abc import Mapping
from datetime import datetime

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


def parts_others_records(before: set[PersonKey], after: set[PersonKey], *, org: str) -> bool:
    """Tell whether a steward's record that was one citizen with `before` and is now one with
    `after` stays with some other organisation's records while others' leave it: the
    decision parted other organisations' records from each other."""
    kept = {key for key in before & after if key[0] != org}
    left = {key for key in before - after if key[0] != org}
    return bool(kept and left)
