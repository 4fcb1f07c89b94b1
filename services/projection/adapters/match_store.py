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
from collections.abc import Collection, Iterable, Sequence
from datetime import UTC, datetime
from typing import Any
from uuid import UUID

from services.identity_matching.blocking import KINDS, blocking_keys
from services.identity_matching.matching import TWINS, FieldEvidence, PersonRecord
from services.projection.adapters.read_model import keys_from, keys_json
from services.projection.domain.identity_records import Component, Registration, StoredPair
from services.projection.domain.linkage import HumanDecision, PersonKey
from services.runtime.database import Connection
from services.runtime.event_store_schema import checked_schema

_MATCHED_COLUMNS = (  # what matching compares of a registration (`PersonRecord`), as r
    "r.org, r.person_id, r.nhs_number, r.given_name, r.family_name, r.date_of_birth,"
    " r.postcode, r.place, r.address"
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


def registration_addresses_ddl(schema: str) -> tuple[str, ...]:
    """Return the DDL giving each stored registration its address line (migration 3:
    registrations recorded before have none)."""
    s = checked_schema(schema)
    return (f"ALTER TABLE {s}.registrations ADD COLUMN IF NOT EXISTS address text",)


def pair_models_ddl(schema: str) -> tuple[str, ...]:
    """Return the DDL recording which matching model scored each pair (migration 4: pairs
    scored before have none), so a start-up can say when the place's model changed since."""
    s = checked_schema(schema)
    return (f"ALTER TABLE {s}.match_pairs ADD COLUMN IF NOT EXISTS model text",)


class MatchStore:
    """The registrations and scored pairs of one projection schema."""

    def __init__(self, conn: Connection, schema: str, *, decisions_schema: str) -> None:
        self._conn = conn
        self.schema = checked_schema(schema)
        self._decisions = checked_schema(decisions_schema)

    async def save_latest(
        self, registrations: Sequence[Registration]
    ) -> dict[PersonKey, Registration]:
        """Store each record's registration unless a later one is stored; return the changed,
        each with the registration now stored (so the caller need not read it back).

        One statement: the registrations, and the changed records' blocking keys (those no
        longer theirs deleted, new ones added; its two writes touch different rows, so the
        order PostgreSQL runs them in makes no difference).

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
        s = self.schema
        rows = await self._conn.fetch(
            "WITH u AS (SELECT e->>0 AS org, e->>1 AS person_id, (e->>2)::uuid AS event_id,"  # noqa: S608 - schema name is checked
            "  (e->>3)::timestamptz AS occurred_at, e->>4 AS nhs_number, e->>5 AS given_name,"
            "  e->>6 AS family_name, (e->>7)::date AS date_of_birth, e->>8 AS postcode,"
            "  e->>9 AS place, e->10 AS keys, e->>11 AS address"
            "  FROM jsonb_array_elements($1::text::jsonb) AS e),"
            f" saved AS (INSERT INTO {s}.registrations AS r (org, person_id, event_id,"
            "  occurred_at, nhs_number, given_name, family_name, date_of_birth, postcode, place,"
            "  address)"
            "  SELECT org, person_id, event_id, occurred_at, nhs_number, given_name, family_name,"
            "   date_of_birth, postcode, place, address FROM u"
            "  ON CONFLICT (org, person_id) DO UPDATE SET event_id = excluded.event_id,"
            "   occurred_at = excluded.occurred_at, nhs_number = excluded.nhs_number,"
            "   given_name = excluded.given_name, family_name = excluded.family_name,"
            "   date_of_birth = excluded.date_of_birth, postcode = excluded.postcode,"
            "   place = excluded.place, address = excluded.address"
            "  WHERE (excluded.occurred_at, excluded.event_id) > (r.occurred_at, r.event_id)"
            "  RETURNING r.org, r.person_id),"
            " keyed AS (SELECT k.key, u.org, u.person_id FROM u"
            "  JOIN saved ON saved.org = u.org AND saved.person_id = u.person_id,"
            "  jsonb_array_elements_text(u.keys) AS k(key)),"
            f" dropped AS (DELETE FROM {s}.blocking_keys b USING saved"
            "  WHERE b.org = saved.org AND b.person_id = saved.person_id AND NOT EXISTS ("
            "   SELECT FROM keyed WHERE (keyed.key, keyed.org, keyed.person_id)"
            "   = (b.key, b.org, b.person_id))),"
            f" added AS (INSERT INTO {s}.blocking_keys (key, org, person_id)"
            "  SELECT key, org, person_id FROM keyed ON CONFLICT DO NOTHING)"
            " SELECT org, person_id FROM saved",
            _registrations_json(list(latest.values())),
        )
        return {key: latest[key] for key in ((row["org"], row["person_id"]) for row in rows)}

    async def registrations(self, keys: Collection[PersonKey]) -> dict[PersonKey, Registration]:
        """Return the stored registrations of these records (those that have one)."""
        rows = await self._conn.fetch(
            f"SELECT r.* FROM {self.schema}.registrations r"  # noqa: S608 - schema name is checked
            f" JOIN {keys_from('$1')} ON r.org = k.org AND r.person_id = k.person_id",
            keys_json(keys),
        )
        found = [_registration(row) for row in rows]
        return {registration.key: registration for registration in found}

    async def every_record(self) -> list[PersonRecord]:
        """Return every stored registration's record (what a matching model learns from)."""
        rows = await self._conn.fetch(f"SELECT * FROM {self.schema}.registrations")  # noqa: S608 - schema name is checked
        return [_record(row) for row in rows]

    async def blocks(self, records: Sequence[PersonRecord]) -> list[tuple[str, PersonRecord]]:
        """Return every stored record under each blocking key it shares with these.

        Only what matching compares is read, each record once with the keys it is under;
        these records, just stored, are given back as they are. A few records' candidates
        are looked up by index, a batch's hashed against every registration
        (`_BLOCKS_BY_INDEX_UP_TO`)."""
        keys = sorted({key for record in records for key in blocking_keys(record)})
        rows = await self._conn.fetch(
            _blocks_sql(self.schema, by_index=len(records) <= _BLOCKS_BY_INDEX_UP_TO),
            json.dumps(keys, separators=(",", ":")),
        )
        given = {(r.org, r.person_id): r for r in records}
        found = []
        for row in rows:
            record = given.get((row["org"], row["person_id"])) or _record(row)
            found += [(key, record) for key in row["keys"]]
        return found

    async def replace_pairs(
        self, records: Collection[PersonKey], pairs: Sequence[StoredPair], *, model: str
    ) -> None:
        """Forget every scored pair of these records, then store `pairs` (scored afresh by
        the matching model of version `model`).

        One statement: the pairs of these records not in `pairs` are deleted, and `pairs`
        stored (a pair already stored keeps whether it awaits review: the re-linking that
        follows a rescoring decides that afresh for every pair it touches). Its two writes
        touch different rows, so the order PostgreSQL runs them in makes no difference."""
        await self._conn.execute(
            "WITH fresh AS (SELECT e->>0 AS a_org, e->>1 AS a_person, e->>2 AS b_org,"  # noqa: S608 - schema name is checked
            "  e->>3 AS b_person, (e->>4)::uuid AS pair_id, (e->>5)::float8 AS score,"
            "  e->6 AS evidence FROM jsonb_array_elements($2::text::jsonb) AS e),"
            f" dropped AS (DELETE FROM {self.schema}.match_pairs p USING {keys_from('$1')}"
            "  WHERE ((p.a_org = k.org AND p.a_person = k.person_id)"
            "   OR (p.b_org = k.org AND p.b_person = k.person_id))"
            "  AND NOT EXISTS (SELECT FROM fresh f WHERE (f.a_org, f.a_person, f.b_org, f.b_person)"
            "   = (p.a_org, p.a_person, p.b_org, p.b_person)))"
            f" INSERT INTO {self.schema}.match_pairs"
            " (a_org, a_person, b_org, b_person, pair_id, score, evidence, model)"
            " SELECT a_org, a_person, b_org, b_person, pair_id, score, evidence, $3 FROM fresh"
            " ON CONFLICT (a_org, a_person, b_org, b_person) DO UPDATE"
            " SET score = excluded.score, evidence = excluded.evidence, scored_at = now(),"
            "  model = excluded.model",
            keys_json(records),
            json.dumps(
                [(*p.a, *p.b, str(p.pair_id), p.score, evidence_json(p.evidence)) for p in pairs],
                separators=(",", ":"),
            ),
            model,
        )

    async def connected(self, start: Iterable[PersonKey], *, link_from: float) -> set[PersonKey]:
        """Return every record joined to `start` by a pair scoring at least `link_from`, an
        NHS number, a shared citizen or a person's decision, transitively: all that a
        resolution may change. (A pair scoring less can only be reviewed, never joined.)"""
        rows = await self._conn.fetch(
            f"{_component_sql(self.schema, self._decisions)} SELECT org, person_id FROM c",  # noqa: S608 - schema names are checked
            keys_json(list(start)),
            link_from,
        )
        return {(row["org"], row["person_id"]) for row in rows}

    async def component(self, start: Iterable[PersonKey], *, link_from: float) -> Component:
        """Return what a resolution of the records `connected` to `start` reads, in one
        statement (the walk, then what it reaches): their registrations and links, the
        scored pairs touching them (without evidence) and the registrations of those pairs'
        other records, and the decisions among them.

        One statement, so one snapshot; the caller holds the re-linking lock, so what it
        reads (whether each pair awaits review too) stays true until the caller commits."""
        rows = await self._conn.fetch(
            _component_read_sql(self.schema, self._decisions), keys_json(list(start)), link_from
        )
        return _component(rows)

    async def pairs_touching(self, records: Collection[PersonKey]) -> list[StoredPair]:
        """Return the scored pairs with at least one record among `records`."""
        rows = await self._conn.fetch(
            f"SELECT p.* FROM {self.schema}.match_pairs p"  # noqa: S608 - schema name is checked
            f" JOIN {keys_from('$1')} ON p.a_org = k.org AND p.a_person = k.person_id"
            f" UNION SELECT p.* FROM {self.schema}.match_pairs p"
            f" JOIN {keys_from('$1')} ON p.b_org = k.org AND p.b_person = k.person_id",
            keys_json(records),
        )
        return [_pair(row) for row in rows]

    async def mark_review(self, pairs: Collection[UUID], review: Collection[UUID]) -> None:
        """Of `pairs`, leave exactly those in `review` in the review queue."""
        await self._conn.execute(
            f"UPDATE {self.schema}.match_pairs SET in_review = pair_id = ANY($2::uuid[])"  # noqa: S608 - schema name is checked
            " WHERE pair_id = ANY($1::uuid[]) AND in_review IS DISTINCT FROM"
            "  (pair_id = ANY($2::uuid[]))",
            list(pairs),
            list(review),
        )

    async def keyed_by_an_earlier_release(self) -> bool:
        """Whether some record is stored under a kind of blocking key this release does not
        make, or lacks the `home:` key (postcode and family name) this release added: new
        records would not meet it as they should (`caseweave replay projection`)."""
        s = self.schema
        earlier: bool = await self._conn.fetchval(
            f"SELECT EXISTS (SELECT FROM {s}.blocking_keys"  # noqa: S608 - schema name is checked
            "  WHERE split_part(key, ':', 1) <> ALL($1::text[]))"
            f" OR EXISTS (SELECT FROM {s}.registrations r"
            "  WHERE r.postcode IS NOT NULL AND r.family_name ~ '[[:alnum:]]'"
            f"  AND NOT EXISTS (SELECT FROM {s}.blocking_keys k"
            "   WHERE (k.org, k.person_id) = (r.org, r.person_id) AND k.key LIKE 'home:%'))",
            list(KINDS),
        )
        return earlier

    async def pairs_scored_by_another_model(self, version: str) -> int:
        """Return how many stored pairs another matching model scored than the one of
        `version` (the place's model changed: `caseweave replay projection` rescores them)."""
        count = await self._conn.fetchval(
            f"SELECT count(*) FROM {self.schema}.match_pairs"  # noqa: S608 - schema name is checked
            " WHERE model IS DISTINCT FROM $1",
            version,
        )
        return int(count or 0)

    async def records_held(self) -> int:
        """Return how many records have a stored registration to match against."""
        count = await self._conn.fetchval(f"SELECT count(*) FROM {self.schema}.registrations")  # noqa: S608 - schema name is checked
        return int(count or 0)

    async def pairs_awaiting_review(self) -> int:
        """Return how many scored pairs await a steward's review, across organisations."""
        count = await self._conn.fetchval(
            f"SELECT count(*) FROM {self.schema}.match_pairs WHERE in_review"  # noqa: S608 - schema name is checked
        )
        return int(count or 0)

    async def records_never_matched(self) -> int:
        """Return how many linked records have no stored registration to match against (the
        read model was built before identity matching: `caseweave replay projection`)."""
        count = await self._conn.fetchval(
            f"SELECT count(*) FROM {self.schema}.person_links l WHERE NOT EXISTS ("  # noqa: S608 - schema name is checked
            f" SELECT 1 FROM {self.schema}.registrations r"
            "  WHERE r.org = l.org AND r.person_id = l.person_id)"
        )
        return int(count or 0)

    async def pairs_in_review(
        self, *, org: str, limit: int
    ) -> list[tuple[StoredPair, Registration, Registration]]:
        """Return the best `limit` pairs with a record of `org` that await review, identity
        conflicts (one NHS number, two people's details) first, then best score first, with
        both records' registrations (a pair missing one is not counted)."""
        s = self.schema
        rows = await self._conn.fetch(
            f"SELECT p.* FROM {s}.match_pairs p,"  # noqa: S608 - schema name is checked
            f" {_rows_of(f'{s}.registrations', 'ra', _same_record('p', 'ra', side='a'))},"
            f" {_rows_of(f'{s}.registrations', 'rb', _same_record('p', 'rb', side='b'))}"
            " WHERE p.in_review AND (p.a_org = $2 OR p.b_org = $2)"
            " ORDER BY coalesce(ra.nhs_number = rb.nhs_number, false) DESC,"
            "  p.score DESC, p.pair_id LIMIT $1",
            limit,
            org,
        )
        pairs = [_pair(row) for row in rows]
        held = await self.registrations({k for p in pairs for k in (p.a, p.b)})
        return [(p, held[p.a], held[p.b]) for p in pairs if p.a in held and p.b in held]

    async def pair(self, pair_id: UUID) -> StoredPair | None:
        """Return the scored pair with this id, if there is one."""
        row = await self._conn.fetchrow(
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
        address=row["address"],
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


def _registrations_json(registrations: Sequence[Registration]) -> str:
    """Return registrations (with each record's blocking keys) as one JSON array of rows."""
    return json.dumps(
        [
            (
                r.record.org,
                r.record.person_id,
                str(r.event_id),
                _aware(r.occurred_at).isoformat(),
                r.record.nhs_number,
                r.record.given_name,
                r.record.family_name,
                None if r.record.date_of_birth is None else r.record.date_of_birth.isoformat(),
                r.record.postcode,
                r.record.place,
                sorted(blocking_keys(r.record)),
                r.record.address,
            )
            for r in registrations
        ],
        separators=(",", ":"),
    )


def _aware(at: datetime) -> datetime:
    """Return a time with its zone: a naive one is UTC, as asyncpg would have stored it."""
    return at if at.tzinfo is not None else at.replace(tzinfo=UTC)


_COMPONENT_COLUMNS = {  # the columns of `MatchStore.component`'s rows, by name, and types
    "kind": "text",
    "org": "text",
    "person_id": "text",
    "event_id": "uuid",
    "occurred_at": "timestamptz",
    "nhs_number": "text",
    "given_name": "text",
    "family_name": "text",
    "date_of_birth": "date",
    "postcode": "text",
    "place": "text",
    "address": "text",
    "citizen_id": "uuid",
    "b_org": "text",
    "b_person": "text",
    "score": "float8",
    "in_review": "boolean",
    "barred": "boolean",
    "same": "boolean",
    "decided_at": "timestamptz",
    "decided_by": "text",
    "position": "bigint",
}
_REGISTERED = (
    *("org", "person_id", "event_id", "occurred_at", "nhs_number", "given_name"),
    *("family_name", "date_of_birth", "postcode", "place", "address"),
)


def _registration_of(alias: str) -> dict[str, str]:
    """Return the registration columns of `_COMPONENT_COLUMNS`, from the table `alias`."""
    return {column: f"{alias}.{column}" for column in _REGISTERED}


def _pair_of(alias: str) -> dict[str, str]:
    """Return the two records of a pair in the table `alias` as `_COMPONENT_COLUMNS`."""
    return {
        "org": f"{alias}.a_org",
        "person_id": f"{alias}.a_person",
        "b_org": f"{alias}.b_org",
        "b_person": f"{alias}.b_person",
    }


def _select(**values: str) -> str:
    """Return a SELECT list of every `_COMPONENT_COLUMNS` column, typed NULL unless given
    (each branch of a UNION then has the same columns of the same types)."""
    columns = [
        f"{values[name]} AS {name}" if name in values else f"NULL::{kind} AS {name}"
        for name, kind in _COMPONENT_COLUMNS.items()
    ]
    return "SELECT " + ", ".join(columns)


@functools.cache
def _component_read_sql(s: str, d: str) -> str:
    """The walk as c, its registrations as h, the pairs touching h as t; then rows of
    four kinds (`_COMPONENT_COLUMNS`): held records, outside records, pairs, decisions.
    Every table is read by index, row by row of what the walk found (`_rows_of`)."""
    held = _select(kind="'held'", **_registration_of("h"), citizen_id="l.citizen_id")
    outside = _select(kind="'outside'", **_registration_of("r"))
    pair = _select(
        kind="'pair'",
        **_pair_of("t"),
        score="t.score",
        in_review="t.in_review",
        barred="t.barred",
    )
    decision = _select(
        kind="'decision'",
        **_pair_of("p"),
        same="p.same",
        decided_at="p.decided_at",
        decided_by="d.envelope->>'org'",
        position="d.position",
    )
    in_h = "SELECT FROM h WHERE h.org = p.b_org AND h.person_id = p.b_person"
    return (
        f"{_component_sql(s, d)},"  # noqa: S608 - schema names are checked
        f" h AS (SELECT r.* FROM c, {_rows_of(f'{s}.registrations', 'r', _same_record('r', 'c'))}),"
        f" t AS ({_pairs_of_h(s, 'a')} UNION {_pairs_of_h(s, 'b')}),"
        " o(org, person_id) AS (SELECT a_org, a_person FROM t UNION SELECT b_org, b_person FROM t)"
        f" {held} FROM h LEFT JOIN"
        f"  {_rows_of(f'{s}.person_links', 'l', _same_record('l', 'h'))} ON true"
        f" UNION ALL {outside} FROM o,"
        f"  {_rows_of(f'{s}.registrations', 'r', _same_record('r', 'o'))}"
        "  WHERE NOT EXISTS (SELECT FROM h WHERE h.org = o.org AND h.person_id = o.person_id)"
        f" UNION ALL {pair} FROM t"
        f" UNION ALL {decision} FROM h,"
        f"  {_rows_of(f'{d}.decision_pairs', 'p', _same_record('p', 'h', side='a'))},"
        f"  {_rows_of(f'{d}.decisions', 'd', 'd.event_id = p.event_id')} WHERE EXISTS ({in_h})"
    )


# up to how many records `MatchStore.blocks` looks each candidate's registration up by
# index; more are hashed against every registration. Measured at 100,000 registrations:
# one record 0.7 ms by index (9 ms hashed), 100 records 20 ms either way, 1,000 records
# 206 ms by index (118 ms hashed).
_BLOCKS_BY_INDEX_UP_TO = 100


@functools.cache
def _blocks_sql(s: str, *, by_index: bool) -> str:
    """The records under any of the blocking keys given as $1 (a JSON array), each once
    with the keys it is under, and what matching compares of it (`_MATCHED_COLUMNS`)."""
    registrations = (
        _rows_of(f"{s}.registrations", "r", _same_record("r", "b"))
        if by_index
        else f"{s}.registrations r WHERE r.org = b.org AND r.person_id = b.person_id"
    )
    return (
        f"SELECT b.keys, {_MATCHED_COLUMNS} FROM (SELECT org, person_id,"  # noqa: S608 - schema name is checked
        f"  array_agg(key) AS keys FROM {s}.blocking_keys"
        "  WHERE key IN (SELECT jsonb_array_elements_text($1::text::jsonb))"
        f"  GROUP BY org, person_id) AS b, {registrations}"
    )


def _pairs_of_h(s: str, side: str) -> str:
    """Return SQL of the scored pairs whose record on `side` ('a' or 'b') is in h."""
    pairs = _rows_of(f"{s}.match_pairs", "p", _same_record("p", "h", side=side))
    return (
        "SELECT p.a_org, p.a_person, p.b_org, p.b_person, p.score, p.in_review,"  # noqa: S608 - schema name is checked
        f" {_barred_sql('p')} FROM h, {pairs}"
    )


def _same_record(alias: str, of: str, *, side: str = "") -> str:
    """Return SQL saying that the record of `alias` (its `side`'s, in a pair) is `of`'s."""
    prefix = f"{side}_" if side else ""
    person = f"{side}_person" if side else "person_id"
    return f"{alias}.{prefix}org = {of}.org AND {alias}.{person} = {of}.person_id"


def _rows_of(table: str, alias: str, where: str) -> str:
    """Return SQL of a table's rows meeting `where` for each row of the table before it,
    looked up by index one row at a time (LATERAL, kept apart by OFFSET 0).

    The planner guesses the rows of the walk's recursive CTE at tens of thousands, and of
    a JSON array of blocking keys at a hundred keys, when a registration brings a handful;
    joined to a whole table, it would hash that table instead: a sequential scan of every
    registration, twice, for each registration matched (32 ms of its 37 ms at 100,000
    registrations; 5 ms in all since: `python -m bench --only matching`)."""
    return f"LATERAL (SELECT * FROM {table} {alias} WHERE {where} OFFSET 0) AS {alias}"  # noqa: S608 - checked names


def _barred_sql(alias: str) -> str:
    """Whether the pair's stored evidence bars it from linking (`link_barred`), in SQL: the
    walk reads no evidence, so the twins rule is asked of it here."""
    barring = (json.dumps([{"field": "given_name", "agreement": level}]) for level in sorted(TWINS))
    tests = " OR ".join(f"{alias}.evidence @> '{text}'::jsonb" for text in barring)
    return f"({tests}) AS barred"


def _component_sql(s: str, d: str) -> str:
    """The walk of `connected` as c(org, person_id): one recursive statement, each step
    from the records the step before found (UNION: each record once, so it ends)."""
    return (
        f"WITH RECURSIVE c(org, person_id) AS (SELECT k.org, k.person_id FROM {keys_from('$1')}"  # noqa: S608 - schema names are checked
        " UNION SELECT n.org, n.person_id FROM c CROSS JOIN LATERAL ("
        f"  SELECT p.b_org, p.b_person FROM {s}.match_pairs p"
        "   WHERE p.a_org = c.org AND p.a_person = c.person_id AND p.score >= $2"
        f"  UNION ALL SELECT p.a_org, p.a_person FROM {s}.match_pairs p"
        "   WHERE p.b_org = c.org AND p.b_person = c.person_id AND p.score >= $2"
        f"  UNION ALL SELECT o.org, o.person_id FROM {s}.registrations r"
        f"   JOIN {s}.registrations o ON o.nhs_number = r.nhs_number"
        "   WHERE r.org = c.org AND r.person_id = c.person_id"
        f"  UNION ALL SELECT o.org, o.person_id FROM {s}.person_links l"
        f"   JOIN {s}.person_links o ON o.citizen_id = l.citizen_id"
        "   WHERE l.org = c.org AND l.person_id = c.person_id"
        f"  UNION ALL SELECT x.b_org, x.b_person FROM {d}.decision_pairs x"
        "   WHERE x.a_org = c.org AND x.a_person = c.person_id"
        f"  UNION ALL SELECT x.a_org, x.a_person FROM {d}.decision_pairs x"
        "   WHERE x.b_org = c.org AND x.b_person = c.person_id"
        " ) AS n(org, person_id))"
    )


def _component(rows: Sequence[Any]) -> Component:
    held: dict[PersonKey, Registration] = {}
    links: dict[PersonKey, UUID] = {}
    pairs: list[StoredPair] = []
    outside: dict[PersonKey, Registration] = {}
    decided: list[tuple[HumanDecision, str, int]] = []
    for row in rows:
        kind, key = row["kind"], (row["org"], row["person_id"])
        if kind == "held":
            held[key] = _registration(row)
            if row["citizen_id"] is not None:
                links[key] = row["citizen_id"]
        elif kind == "outside":
            outside[key] = _registration(row)
        elif kind == "pair":
            other = (row["b_org"], row["b_person"])
            pairs.append(
                StoredPair(key, other, row["score"], (), row["in_review"], barred=row["barred"])
            )
        else:
            other = (row["b_org"], row["b_person"])
            decision = HumanDecision(key, other, row["same"], decided_at=row["decided_at"])
            decided.append((decision, row["decided_by"], row["position"]))
    decided.sort(key=lambda d: (d[0].decided_at, not d[0].same, d[2]))
    return Component(held, links, pairs, outside, [(d, by) for d, by, _ in decided])
