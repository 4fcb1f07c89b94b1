"""A data steward's decision event, read as the pairwise decisions that `linkage.resolve` takes."""

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
