"""The projection's own event store: data stewards' identity decisions.

`identity.linked`, `identity.not_same_person` and `identity.unlinked` events are the
projection's record of what people decided. They live in their own schema, which a replay
never empties, so a human decision survives every replay. Each event is stored whole
(`decisions`, in the order recorded) and as the pairs it decides (`decision_pairs`), which
identity resolution looks up by record.
"""

from collections.abc import Collection
from typing import Any

from events.envelope import Envelope
from services.projection.adapters.read_model import key_columns
from services.projection.domain.identity_decisions import IdentityDecision, pairwise
from services.projection.domain.linkage import HumanDecision, PersonKey
from services.runtime.database import Connection
from services.runtime.event_store_schema import checked_schema


def decisions_schema_of(schema: str) -> str:
    """Return the schema of the decision store that belongs to projection schema `schema`."""
    return checked_schema(f"{schema}_decisions")


def decision_store_ddl(schema: str) -> list[str]:
    """Return the idempotent DDL of the decision store in `schema`.

    Part of a baseline migration, so never edited: a change is a new migration.
    """
    s = checked_schema(schema)
    return [
        f"CREATE SCHEMA IF NOT EXISTS {s}",
        f"""
        CREATE TABLE IF NOT EXISTS {s}.decisions (
            position bigint GENERATED ALWAYS AS IDENTITY,
            event_id uuid PRIMARY KEY,
            type text NOT NULL,
            occurred_at timestamptz NOT NULL,
            envelope jsonb NOT NULL
        )""",
        f"""
        CREATE TABLE IF NOT EXISTS {s}.decision_pairs (
            event_id uuid NOT NULL REFERENCES {s}.decisions (event_id),
            a_org text NOT NULL,
            a_person text NOT NULL,
            b_org text NOT NULL,
            b_person text NOT NULL,
            same boolean NOT NULL,
            decided_at timestamptz NOT NULL
        )""",
        f"""CREATE INDEX IF NOT EXISTS decision_pairs_by_a
        ON {s}.decision_pairs (a_org, a_person)""",
        f"""CREATE INDEX IF NOT EXISTS decision_pairs_by_b
        ON {s}.decision_pairs (b_org, b_person)""",
    ]


class DecisionStore:
    """Appends and reads identity decisions."""

    def __init__(self, conn: Connection, schema: str) -> None:
        self._conn = conn
        self.schema = checked_schema(schema)

    async def append(self, envelope: Envelope, decision: IdentityDecision) -> None:
        """Record a decision event and the pairs it decides (in the caller's transaction)."""
        await self._conn.execute(
            f"INSERT INTO {self.schema}.decisions (event_id, type, occurred_at, envelope)"  # noqa: S608 - schema name is checked
            " VALUES ($1, $2, $3, $4::jsonb)",
            envelope.event_id,
            envelope.type,
            envelope.occurred_at,
            envelope.model_dump(mode="json"),
        )
        pairs = pairwise(decision, decided_at=envelope.occurred_at)
        await self._conn.execute(
            f"INSERT INTO {self.schema}.decision_pairs"  # noqa: S608 - schema name is checked
            " (event_id, a_org, a_person, b_org, b_person, same, decided_at)"
            " SELECT $1, * FROM unnest($2::text[], $3::text[], $4::text[], $5::text[],"
            "  $6::bool[], $7::timestamptz[])",
            envelope.event_id,
            [p.a[0] for p in pairs],
            [p.a[1] for p in pairs],
            [p.b[0] for p in pairs],
            [p.b[1] for p in pairs],
            [p.same for p in pairs],
            [p.decided_at for p in pairs],
        )

    async def among(self, records: Collection[PersonKey]) -> list[HumanDecision]:
        """Return every decided pair whose both records are among `records`."""
        rows = await self._conn.fetch(
            f"SELECT d.* FROM {self.schema}.decision_pairs d"  # noqa: S608 - schema name is checked
            " JOIN unnest($1::text[], $2::text[]) AS k(org, person_id)"
            "  ON d.a_org = k.org AND d.a_person = k.person_id",
            *key_columns(records),
        )
        among = set(records)
        decided = [_decision(row) for row in rows]
        return [d for d in decided if d.b in among]

    async def decided_by(
        self, records: Collection[PersonKey]
    ) -> list[tuple[frozenset[PersonKey], bool, str]]:
        """Return (pair, same person?, the deciding steward's organisation) of every decided
        pair among `records`, in the order decided (a keep-apart last among equals)."""
        rows = await self._conn.fetch(
            self._pairs_decided_by(
                " JOIN unnest($1::text[], $2::text[]) AS k(org, person_id)"
                "  ON p.a_org = k.org AND p.a_person = k.person_id"
            ),
            *key_columns(records),
        )
        among = set(records)
        return [d for d in map(_decided_by, rows) if d[0] <= among]

    async def decided_about(self, org: str) -> list[tuple[frozenset[PersonKey], bool, str]]:
        """Return (pair, same person?, the deciding steward's organisation) of every decided
        pair naming a record of `org`, in the order decided (as `decided_by`)."""
        rows = await self._conn.fetch(
            self._pairs_decided_by(" WHERE p.a_org = $1 OR p.b_org = $1"), org
        )
        return [_decided_by(row) for row in rows]

    def _pairs_decided_by(self, narrowed: str) -> str:
        """Return the query of decided pairs and their stewards' organisations, narrowed by
        a join or a condition, in the order decided (a keep-apart last among equals)."""
        return (
            "SELECT p.a_org, p.a_person, p.b_org, p.b_person, p.same,"  # noqa: S608 - schema name is checked
            "  d.envelope->>'org' AS decided_by"
            f" FROM {self.schema}.decision_pairs p JOIN {self.schema}.decisions d"
            f"  ON d.event_id = p.event_id{narrowed}"
            " ORDER BY p.decided_at, p.same DESC, d.position"
        )

    async def naming(self, records: Collection[PersonKey]) -> list[Envelope]:
        """Return the decision events that name any of `records`, in the order recorded."""
        rows = await self._conn.fetch(
            f"SELECT d.envelope::text AS envelope FROM {self.schema}.decisions d"  # noqa: S608 - schema name is checked
            f" WHERE d.event_id IN (SELECT p.event_id FROM {self.schema}.decision_pairs p"
            "  JOIN unnest($1::text[], $2::text[]) AS k(org, person_id)"
            "  ON (p.a_org, p.a_person) = (k.org, k.person_id)"
            "  OR (p.b_org, p.b_person) = (k.org, k.person_id))"
            " ORDER BY d.position",
            *key_columns(records),
        )
        return [Envelope.model_validate_json(row["envelope"]) for row in rows]

    async def last_position(self) -> int:
        """Return the position of the latest decision (0 when there is none)."""
        last = await self._conn.fetchval(f"SELECT max(position) FROM {self.schema}.decisions")  # noqa: S608 - schema name is checked
        return int(last or 0)

    async def records_named_after(self, position: int) -> set[PersonKey]:
        """Return every record named by a decision recorded after `position`."""
        rows = await self._conn.fetch(
            f"SELECT p.a_org, p.a_person, p.b_org, p.b_person FROM {self.schema}.decision_pairs p"  # noqa: S608 - schema name is checked
            f" JOIN {self.schema}.decisions d ON d.event_id = p.event_id WHERE d.position > $1",
            position,
        )
        named = set()
        for row in rows:
            named |= {(row["a_org"], row["a_person"]), (row["b_org"], row["b_person"])}
        return named

    async def events(self) -> list[Envelope]:
        """Return every decision event, in the order recorded."""
        rows = await self._conn.fetch(
            f"SELECT envelope::text AS envelope FROM {self.schema}.decisions ORDER BY position"  # noqa: S608 - schema name is checked
        )
        return [Envelope.model_validate_json(row["envelope"]) for row in rows]


def _decision(row: Any) -> HumanDecision:
    return HumanDecision(
        (row["a_org"], row["a_person"]),
        (row["b_org"], row["b_person"]),
        row["same"],
        decided_at=row["decided_at"],
    )


def _decided_by(row: Any) -> tuple[frozenset[PersonKey], bool, str]:
    pair = frozenset(((row["a_org"], row["a_person"]), (row["b_org"], row["b_person"])))
    return pair, row["same"], row["decided_by"]
