"""The stewards' standing links of records in identity conflicts
(`domain/identity_conflicts.py`): which organisations' stewards have linked each pair.

Read from the projection's own decision store (the pairs each decision decides and the
organisation of the steward who made it; never the decisions' payloads, whose reasons an
erasure may have removed) when a caller's cases rest on a disputed record.
"""

from collections.abc import Collection

from services.projection.adapters.decision_store import DecisionStore
from services.projection.domain.identity_conflicts import Pair, standing_links
from services.projection.domain.linkage import PersonKey
from services.runtime.database import Pool


class IdentityConfirmations:
    """Reads the stewards' standing links of records."""

    def __init__(self, pool: Pool, *, decisions_schema: str) -> None:
        self._pool = pool
        self._schema = decisions_schema

    async def links(self, records: Collection[PersonKey]) -> dict[Pair, frozenset[str]]:
        """Return, for each decided pair among `records`, the organisations whose stewards'
        links of it still stand."""
        if len(records) < 2:
            return {}
        async with self._pool.acquire() as conn:
            return standing_links(await DecisionStore(conn, self._schema).decided_by(records))
