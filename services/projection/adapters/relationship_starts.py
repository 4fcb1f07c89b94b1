"""The cases other organisations opened, without a referral, on the people an organisation
holds: what the IG leads' new-relationship alerts are found from (the timeline)."""

from uuid import UUID

from events.envelope import Envelope, OrgId
from services.runtime.database import Pool
from services.runtime.event_store_schema import checked_schema


class RelationshipStarts:
    """Finds the cases other organisations opened on the people an organisation holds."""

    def __init__(self, pool: Pool, *, schema: str) -> None:
        self._pool = pool
        self.schema = checked_schema(schema)

    async def seen_by(self, org: OrgId, *, limit: int, offset: int) -> list[tuple[UUID, Envelope]]:
        """Return (citizen, `case.opened` event) of cases another organisation opened,
        without a referral, on a person `org` had registered before; newest first."""
        s = self.schema
        rows = await self._pool.fetch(
            "SELECT l.citizen_id, t.envelope::text AS envelope"  # noqa: S608 - schema name is checked
            f" FROM {s}.timeline t JOIN {s}.person_links l"
            "  ON l.org = t.org AND l.person_id = t.subject"
            " WHERE t.type = 'case.opened' AND t.org <> $1"
            "  AND t.envelope->'data'->>'referral_id' IS NULL"
            f"  AND EXISTS (SELECT 1 FROM {s}.person_links mine JOIN {s}.timeline held"
            "   ON held.org = mine.org AND held.subject = mine.person_id"
            "   WHERE mine.citizen_id = l.citizen_id AND mine.org = $1"
            "    AND held.type = 'person.registered' AND held.recorded_at <= t.recorded_at)"
            " ORDER BY t.recorded_at DESC, t.event_id DESC LIMIT $2 OFFSET $3",
            org,
            limit,
            offset,
        )
        return [(row["citizen_id"], Envelope.model_validate_json(row["envelope"])) for row in rows]


def relationship_starts_index(schema: str) -> str:
    """Return the DDL of the index the alerts are found by (cases opened, newest first).

    Part of a baseline migration, so never edited: a change is a new migration.
    """
    s = checked_schema(schema)
    return f"""CREATE INDEX IF NOT EXISTS timeline_cases_opened
        ON {s}.timeline (recorded_at DESC) WHERE type = 'case.opened'"""
