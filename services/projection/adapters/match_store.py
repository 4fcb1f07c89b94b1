"""What identity resolution keeps between batches: each record's latest registration, the
scored candidate pairs, and the walk that finds every record a change can affect.

- `registrations`: one row per organisation's record (its latest registration by occurrence).
- `blocking_keys`: each record's blocking keys (`matching.blocking_keys`), so the candidates
  of a batch's new records are one indexed lookup.
- `match_pairs`: every pair of records scored at or above the lowest review threshold, with
  the evidence field by field, and whether the last resolution left it for a person to review.

Both are read-model tables: a replay empties and rebuilds them. Human decisions live in the
decision store (`decision_store`), which a replay never empties.
"""

import functools
import json
import uuid
from collections.abc import Collection, Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from uuid import UUID

from services.projection.adapters.read_model import key_columns
from services.projection.domain.linkage import PersonKey
from services.projection.domain.matching import FieldEvidence, PersonRecord, blocking_keys
from services.runtime.database import Connection
from services.runtime.event_store_schema import checked_schema

_PAIR_IDS = uuid.UUID("6f0c3a52-5d1e-4c47-9f57-3c8e2a0b9d11")  # namespace of review pair ids
_PAIR_ID_CACHE = 65_536  # pairs named lately: a re-linking names each pair it touches thrice
_MATCHED_COLUMNS = (  # what matching compares of a registration (`PersonRecord`), as r
    "r.org, r.person_id, r.nhs_number, r.given_name, r.family_name, r.date_of_birth,"
    " r.postcode, r.place"
)


def match_store_ddl(schema: str) -> list[str]:
    """Return the idempotent DDL of the registrations and scored pairs in `schema`.

    Part of a baseline migration, so never edited: a change is a new migration.
    """
    s = checked_schema(schema)
    return [
        f"""
        CREATE TABLE IF NOT EXISTS {s}.registrations (
            org text NOT NULL,
            person_id text NOT NULL,
            event_id uuid NOT NULL,
            occurred_at timestamptz NOT NULL,
            nhs_number text,
            given_name text,
            family_name text,
            date_of_birth date,
            postcode text,
            place text,
            PRIMARY KEY (org, person_id)
        )""",
        f"""
        CREATE TABLE IF NOT EXISTS {s}.blocking_keys (
            key text NOT NULL,
            org text NOT NULL,
            person_id text NOT NULL,
            PRIMARY KEY (key, org, person_id)
        )""",
        f"""CREATE INDEX IF NOT EXISTS blocking_keys_by_record
        ON {s}.blocking_keys (org, person_id)""",
        f"""CREATE INDEX IF NOT EXISTS registrations_by_nhs_number ON {s}.registrations
        (nhs_number) WHERE nhs_number IS NOT NULL""",
        f"""CREATE INDEX IF NOT EXISTS registrations_by_birth ON {s}.registrations
        (date_of_birth)""",
        f"""
        CREATE TABLE IF NOT EXISTS {s}.match_pairs (
            a_org text NOT NULL,
            a_person text NOT NULL,
            b_org text NOT NULL,
            b_person text NOT NULL,
            pair_id uuid NOT NULL UNIQUE,
            score double precision NOT NULL,
            evidence jsonb NOT NULL,
            in_review boolean NOT NULL DEFAULT false,
            scored_at timestamptz NOT NULL DEFAULT now(),
            PRIMARY KEY (a_org, a_person, b_org, b_person)
        )""",
        f"CREATE INDEX IF NOT EXISTS match_pairs_by_b ON {s}.match_pairs (b_org, b_person)",
        f"""CREATE INDEX IF NOT EXISTS match_pairs_in_review ON {s}.match_pairs
        (score DESC, pair_id) WHERE in_review""",
    ]


@functools.lru_cache(maxsize=_PAIR_ID_CACHE)
def pair_id_of(a: PersonKey, b: PersonKey) -> UUID:
    """Return the stable id of an unordered pair of records (what a reviewer acts on).

    Remembered for the pairs named lately: a UUID of a SHA-1 is dear, and identity
    resolution names the same pairs in batch after batch."""
    first, second = sorted((a, b))
    return uuid.uuid5(_PAIR_IDS, f"{first[0]}:{first[1]}|{second[0]}:{second[1]}")


@dataclass(frozen=True)
class Registration:
    """A record's latest registration, as identity resolution uses it."""

    record: PersonRecord
    event_id: UUID
    occurred_at: datetime

    @property
    def key(self) -> PersonKey:
        """Return the record's key."""
        return (self.record.org, self.record.person_id)


@dataclass(frozen=True)
class StoredPair:
    """A scored pair of records (a before b), its evidence, and whether it awaits review."""

    a: PersonKey
    b: PersonKey
    score: float
    evidence: tuple[FieldEvidence, ...]
    in_review: bool = False

    @property
    def pair_id(self) -> UUID:
        """Return the pair's stable id."""
        return pair_id_of(self.a, self.b)


class MatchStore:
    """The registrations and scored pairs of one projection schema."""

    def __init__(self, schema: str, *, decisions_schema: str) -> None:
        self.schema = checked_schema(schema)
        self._decisions = checked_schema(decisions_schema)

    async def save_latest(
        self, conn: Connection, registrations: Sequence[Registration]
    ) -> dict[PersonKey, Registration]:
        """Store each record's registration unless a later one is stored; return the changed,
        each with the registration now stored (so the caller need not read it back).

        "Later" is by occurrence, then event id, so the stored registration never depends on
        the order events arrived in.
        """
        latest: dict[PersonKey, Registration] = {}
        for registration in registrations:
            held = latest.get(registration.key)
            if held is None or _order(registration) > _order(held):
                latest[registration.key] = registration
        if not latest:
            return {}
        rows = await conn.fetch(
            f"INSERT INTO {self.schema}.registrations AS r (org, person_id, event_id,"  # noqa: S608 - schema name is checked
            "  occurred_at, nhs_number, given_name, family_name, date_of_birth, postcode, place)"
            " SELECT * FROM unnest($1::text[], $2::text[], $3::uuid[], $4::timestamptz[],"
            "  $5::text[], $6::text[], $7::text[], $8::date[], $9::text[], $10::text[])"
            " ON CONFLICT (org, person_id) DO UPDATE SET event_id = excluded.event_id,"
            "  occurred_at = excluded.occurred_at, nhs_number = excluded.nhs_number,"
            "  given_name = excluded.given_name, family_name = excluded.family_name,"
            "  date_of_birth = excluded.date_of_birth, postcode = excluded.postcode,"
            "  place = excluded.place"
            " WHERE (excluded.occurred_at, excluded.event_id) > (r.occurred_at, r.event_id)"
            " RETURNING org, person_id",
            *_registration_columns(list(latest.values())),
        )
        changed = {key: latest[key] for key in ((row["org"], row["person_id"]) for row in rows)}
        if changed:
            await self._save_blocking_keys(conn, [r.record for r in changed.values()])
        return changed

    async def _save_blocking_keys(self, conn: Connection, records: Sequence[PersonRecord]) -> None:
        await conn.execute(
            f"DELETE FROM {self.schema}.blocking_keys b"  # noqa: S608 - schema name is checked
            " USING unnest($1::text[], $2::text[]) AS k(org, person_id)"
            " WHERE b.org = k.org AND b.person_id = k.person_id",
            [r.org for r in records],
            [r.person_id for r in records],
        )
        keyed = [(key, r.org, r.person_id) for r in records for key in blocking_keys(r)]
        await conn.execute(
            f"INSERT INTO {self.schema}.blocking_keys (key, org, person_id)"  # noqa: S608 - schema name is checked
            " SELECT * FROM unnest($1::text[], $2::text[], $3::text[])",
            [key for key, _, _ in keyed],
            [org for _, org, _ in keyed],
            [person for _, _, person in keyed],
        )

    async def registrations(
        self, conn: Connection, keys: Collection[PersonKey]
    ) -> dict[PersonKey, Registration]:
        """Return the stored registrations of these records (those that have one)."""
        rows = await conn.fetch(
            f"SELECT r.* FROM {self.schema}.registrations r"  # noqa: S608 - schema name is checked
            " JOIN unnest($1::text[], $2::text[]) AS k(org, person_id)"
            "  ON r.org = k.org AND r.person_id = k.person_id",
            *key_columns(keys),
        )
        found = [_registration(row) for row in rows]
        return {registration.key: registration for registration in found}

    async def blocks(
        self, conn: Connection, records: Sequence[PersonRecord]
    ) -> list[tuple[str, PersonRecord]]:
        """Return every stored record under each blocking key it shares with these.

        Only what matching compares is read, and each record is built once (it comes back
        once per key it is under); these records, just stored, are given back as they are."""
        keys = sorted({key for record in records for key in blocking_keys(record)})
        rows = await conn.fetch(
            f"SELECT b.key, {_MATCHED_COLUMNS} FROM {self.schema}.blocking_keys b"  # noqa: S608 - schema name is checked
            f" JOIN {self.schema}.registrations r USING (org, person_id)"
            " WHERE b.key = ANY($1::text[])",
            keys,
        )
        records_by_key = {(r.org, r.person_id): r for r in records}
        found = []
        for row in rows:
            key = (row["org"], row["person_id"])
            record = records_by_key.get(key)
            if record is None:
                record = records_by_key[key] = _record(row)
            found.append((row["key"], record))
        return found

    async def replace_pairs(
        self, conn: Connection, records: Collection[PersonKey], pairs: Sequence[StoredPair]
    ) -> None:
        """Forget every scored pair of these records, then store `pairs` (scored afresh)."""
        await conn.execute(
            f"DELETE FROM {self.schema}.match_pairs p"  # noqa: S608 - schema name is checked
            " USING unnest($1::text[], $2::text[]) AS k(org, person_id)"
            " WHERE (p.a_org = k.org AND p.a_person = k.person_id)"
            "  OR (p.b_org = k.org AND p.b_person = k.person_id)",
            *key_columns(records),
        )
        if pairs:
            await conn.execute(
                f"INSERT INTO {self.schema}.match_pairs"  # noqa: S608 - schema name is checked
                " (a_org, a_person, b_org, b_person, pair_id, score, evidence)"
                " SELECT u.a_org, u.a_person, u.b_org, u.b_person, u.pair_id, u.score,"
                "  u.evidence::jsonb FROM unnest($1::text[], $2::text[], $3::text[], $4::text[],"
                "  $5::uuid[], $6::float8[], $7::text[])"
                "  AS u(a_org, a_person, b_org, b_person, pair_id, score, evidence)"
                " ON CONFLICT (a_org, a_person, b_org, b_person) DO UPDATE"
                " SET score = excluded.score, evidence = excluded.evidence, scored_at = now()",
                [p.a[0] for p in pairs],
                [p.a[1] for p in pairs],
                [p.b[0] for p in pairs],
                [p.b[1] for p in pairs],
                [p.pair_id for p in pairs],
                [p.score for p in pairs],
                [json.dumps(evidence_json(p.evidence)) for p in pairs],
            )

    async def connected(
        self, conn: Connection, start: Iterable[PersonKey], *, link_from: float
    ) -> set[PersonKey]:
        """Return every record joined to `start` by a pair scoring at least `link_from`, an
        NHS number, a shared citizen or a person's decision, transitively: all that a
        resolution may change. (A pair scoring less can only be reviewed, never joined.)"""
        found = set(start)
        frontier = set(found)
        while frontier:
            rows = await conn.fetch(self._neighbours_sql, *key_columns(frontier), link_from)
            frontier = {(row["org"], row["person_id"]) for row in rows} - found
            found |= frontier
        return found

    @property
    def _neighbours_sql(self) -> str:
        s, d = self.schema, self._decisions
        frontier = "unnest($1::text[], $2::text[]) AS f(org, person_id)"
        return (
            f"SELECT p.b_org AS org, p.b_person AS person_id FROM {s}.match_pairs p"  # noqa: S608 - schema names are checked
            f" JOIN {frontier} ON p.a_org = f.org AND p.a_person = f.person_id"
            " WHERE p.score >= $3"
            f" UNION SELECT p.a_org, p.a_person FROM {s}.match_pairs p"
            f" JOIN {frontier} ON p.b_org = f.org AND p.b_person = f.person_id"
            " WHERE p.score >= $3"
            f" UNION SELECT o.org, o.person_id FROM {s}.registrations r"
            f" JOIN {frontier} ON r.org = f.org AND r.person_id = f.person_id"
            f" JOIN {s}.registrations o ON o.nhs_number = r.nhs_number"
            f" UNION SELECT o.org, o.person_id FROM {s}.person_links l"
            f" JOIN {frontier} ON l.org = f.org AND l.person_id = f.person_id"
            f" JOIN {s}.person_links o ON o.citizen_id = l.citizen_id"
            f" UNION SELECT d.b_org, d.b_person FROM {d}.decision_pairs d"
            f" JOIN {frontier} ON d.a_org = f.org AND d.a_person = f.person_id"
            f" UNION SELECT d.a_org, d.a_person FROM {d}.decision_pairs d"
            f" JOIN {frontier} ON d.b_org = f.org AND d.b_person = f.person_id"
        )

    async def pairs_touching(
        self, conn: Connection, records: Collection[PersonKey]
    ) -> list[StoredPair]:
        """Return the scored pairs with at least one record among `records`."""
        rows = await conn.fetch(
            f"SELECT p.* FROM {self.schema}.match_pairs p"  # noqa: S608 - schema name is checked
            " JOIN unnest($1::text[], $2::text[]) AS k(org, person_id)"
            "  ON p.a_org = k.org AND p.a_person = k.person_id"
            f" UNION SELECT p.* FROM {self.schema}.match_pairs p"
            " JOIN unnest($1::text[], $2::text[]) AS k(org, person_id)"
            "  ON p.b_org = k.org AND p.b_person = k.person_id",
            *key_columns(records),
        )
        return [_pair(row) for row in rows]

    async def mark_review(
        self, conn: Connection, pairs: Collection[UUID], review: Collection[UUID]
    ) -> None:
        """Of `pairs`, leave exactly those in `review` in the review queue."""
        await conn.execute(
            f"UPDATE {self.schema}.match_pairs SET in_review = pair_id = ANY($2::uuid[])"  # noqa: S608 - schema name is checked
            " WHERE pair_id = ANY($1::uuid[]) AND in_review IS DISTINCT FROM"
            "  (pair_id = ANY($2::uuid[]))",
            list(pairs),
            list(review),
        )

    async def records_never_matched(self, conn: Connection) -> int:
        """Return how many linked records have no stored registration to match against (the
        read model was built before identity matching: `caseweave replay projection`)."""
        count = await conn.fetchval(
            f"SELECT count(*) FROM {self.schema}.person_links l WHERE NOT EXISTS ("  # noqa: S608 - schema name is checked
            f" SELECT 1 FROM {self.schema}.registrations r"
            "  WHERE r.org = l.org AND r.person_id = l.person_id)"
        )
        return int(count or 0)

    async def pairs_in_review(
        self, conn: Connection, *, org: str, limit: int
    ) -> list[tuple[StoredPair, Registration, Registration]]:
        """Return the best `limit` pairs with a record of `org` that await review, identity
        conflicts (one NHS number, two people's details) first, then best score first, with
        both records' registrations."""
        s = self.schema
        rows = await conn.fetch(
            f"SELECT p.* FROM {s}.match_pairs p"  # noqa: S608 - schema name is checked
            f" LEFT JOIN {s}.registrations ra ON (ra.org, ra.person_id) = (p.a_org, p.a_person)"
            f" LEFT JOIN {s}.registrations rb ON (rb.org, rb.person_id) = (p.b_org, p.b_person)"
            " WHERE p.in_review AND (p.a_org = $2 OR p.b_org = $2)"
            " ORDER BY coalesce(ra.nhs_number = rb.nhs_number, false) DESC,"
            "  p.score DESC, p.pair_id LIMIT $1",
            limit,
            org,
        )
        pairs = [_pair(row) for row in rows]
        held = await self.registrations(conn, {k for p in pairs for k in (p.a, p.b)})
        return [(p, held[p.a], held[p.b]) for p in pairs if p.a in held and p.b in held]

    async def pair(self, conn: Connection, pair_id: UUID) -> StoredPair | None:
        """Return the scored pair with this id, if there is one."""
        row = await conn.fetchrow(
            f"SELECT p.* FROM {self.schema}.match_pairs p"  # noqa: S608 - schema name is checked
            " WHERE p.pair_id = $1",
            pair_id,
        )
        return None if row is None else _pair(row)


def evidence_json(evidence: Sequence[FieldEvidence]) -> list[dict[str, Any]]:
    """Return field-by-field evidence as JSON."""
    return [{"field": e.field, "agreement": e.agreement, "weight": e.weight} for e in evidence]


def _order(registration: Registration) -> tuple[datetime, UUID]:
    return (registration.occurred_at, registration.event_id)


def _registration(row: Any) -> Registration:
    return Registration(_record(row), row["event_id"], row["occurred_at"])


def _record(row: Any) -> PersonRecord:
    return PersonRecord(
        org=row["org"],
        person_id=row["person_id"],
        nhs_number=row["nhs_number"],
        given_name=row["given_name"],
        family_name=row["family_name"],
        date_of_birth=row["date_of_birth"],
        postcode=row["postcode"],
        place=row["place"],
    )


def _pair(row: Any) -> StoredPair:
    evidence = tuple(
        FieldEvidence(e["field"], e["agreement"], e["weight"]) for e in row["evidence"]
    )
    return StoredPair(
        (row["a_org"], row["a_person"]),
        (row["b_org"], row["b_person"]),
        row["score"],
        evidence,
        row["in_review"],
    )


def _registration_columns(registrations: Sequence[Registration]) -> list[list[Any]]:
    records = [r.record for r in registrations]
    return [
        [r.org for r in records],
        [r.person_id for r in records],
        [r.event_id for r in registrations],
        [r.occurred_at for r in registrations],
        [r.nhs_number for r in records],
        [r.given_name for r in records],
        [r.family_name for r in records],
        [r.date_of_birth for r in records],
        [r.postcode for r in records],
        [r.place for r in records],
    ]
