"""Which disputed records a data steward has confirmed (`domain/identity_conflicts.py`).

A record that claims a citizen's NHS number under other details gives its organisation a
relationship once a steward of another organisation has linked it (`identity.linked`) to
another organisation's record, and no later decision about that pair says otherwise. Read
from the projection's own decision store when a caller's only cases rest on such a record.
"""

from collections.abc import Collection

from events.identity import IdentityLinked
from events.registry import decode_payload
from services.projection.decision_store import DecisionStore
from services.projection.domain.identity_decisions import IdentityDecision, pairwise
from services.projection.domain.linkage import PersonKey
from services.runtime.database import Pool


class IdentityConfirmations:
    """Reads stewards' confirmations of disputed records."""

    def __init__(self, pool: Pool, *, decisions_schema: str) -> None:
        self._pool = pool
        self._decisions = DecisionStore(decisions_schema)

    async def confirmed(self, records: Collection[PersonKey]) -> frozenset[PersonKey]:
        """Return those of `records` that a steward of another organisation linked to
        another organisation's record, by the latest decision about that pair."""
        if not records:
            return frozenset()
        async with self._pool.acquire() as conn:
            envelopes = await self._decisions.naming(conn, records)
        latest: dict[frozenset[PersonKey], tuple[bool, str]] = {}
        for envelope in envelopes:  # in the order recorded: the latest per pair stands
            decision = decode_payload(envelope.type, envelope.schema_version, envelope.data)
            assert isinstance(decision, IdentityDecision)  # the store holds nothing else
            by_other = isinstance(decision, IdentityLinked)
            for pair in pairwise(decision, decided_at=envelope.occurred_at):
                latest[pair.pair] = (pair.same and by_other, envelope.org)
        return frozenset(
            record
            for record in records
            for pair, (linked, decided_by) in latest.items()
            if linked
            and record in pair
            and decided_by != record[0]
            and any(other[0] != record[0] for other in pair - {record})
        )
