"""The read model's writes and the reads a batch needs, each one statement for a whole batch.

Bound to one unit of work's connection, so the consumer writes the timeline, the links,
the views and its checkpoint in one transaction.
"""

import json
from collections.abc import Collection, Sequence
from uuid import UUID

from pydantic import TypeAdapter

from events.envelope import Envelope
from services.projection.domain.view import CitizenView, ConsentState
from services.runtime.database import Connection
from services.runtime.event_store_schema import checked_schema
from services.runtime.sealing import all_values_erased

PersonKey = tuple[str, str]  # (organisation, that organisation's person id)
_CITIZEN_LOCKS = 0x0C17  # advisory lock class of citizen rows (two-key space: no other user)


class ReadModel:
    """The projection's tables in one schema."""

    def __init__(self, conn: Connection, schema: str) -> None:
        self._conn = conn
        self.schema = checked_schema(schema)

    async def insert_timeline(self, envelopes: Sequence[Envelope]) -> dict[UUID, int]:
        """Add one organisation's events to the timeline; return new ones' ids and arrivals."""
        rows = await self._conn.fetch(
            f"INSERT INTO {self.schema}.timeline"  # noqa: S608 - schema name is checked
            " (event_id, org, subject, occurred_at, recorded_at, type, category, envelope)"
            " SELECT (u.e->>'event_id')::uuid, u.e->>'org', u.e->>'subject',"
            "  (u.e->>'occurred_at')::timestamptz, (u.e->>'recorded_at')::timestamptz,"
            "  u.e->>'type', u.e->>'category', u.e"
            " FROM jsonb_array_elements($1::text::jsonb) WITH ORDINALITY AS u(e, n)"
            " ORDER BY u.n ON CONFLICT (org, event_id) DO NOTHING RETURNING event_id, arrival",
            _timeline_json(envelopes),
        )
        return {row["event_id"]: row["arrival"] for row in rows}

    async def links_of(self, keys: Collection[PersonKey]) -> dict[PersonKey, UUID]:
        """Return the citizen each of these organisations' people is linked to (if any)."""
        rows = await self._conn.fetch(
            f"SELECT l.org, l.person_id, l.citizen_id FROM {self.schema}.person_links l"  # noqa: S608 - schema name is checked
            f" JOIN {keys_from('$1')} ON l.org = k.org AND l.person_id = k.person_id",
            keys_json(keys),
        )
        return {(row["org"], row["person_id"]): row["citizen_id"] for row in rows}

    async def records_of(self, citizen_id: UUID) -> set[PersonKey]:
        """Return the organisations' records linked to a citizen."""
        rows = await self._conn.fetch(
            f"SELECT org, person_id FROM {self.schema}.person_links WHERE citizen_id = $1",  # noqa: S608 - schema name is checked
            citizen_id,
        )
        return {(row["org"], row["person_id"]) for row in rows}

    async def save_links(self, links: dict[PersonKey, UUID]) -> None:
        """Link organisations' people to citizens, replacing earlier links of the same people."""
        await self._conn.execute(
            f"INSERT INTO {self.schema}.person_links (org, person_id, citizen_id)"  # noqa: S608 - schema name is checked
            " SELECT e->>0, e->>1, (e->>2)::uuid FROM jsonb_array_elements($1::text::jsonb) e"
            " ON CONFLICT (org, person_id) DO UPDATE"
            " SET citizen_id = excluded.citizen_id, linked_at = now()",
            json.dumps(
                [(org, person, str(citizen)) for (org, person), citizen in links.items()],
                separators=(",", ":"),
            ),
        )

    async def seen_before(self, keys: Collection[PersonKey], arrival: int) -> set[PersonKey]:
        """Return which of these people have timeline events that arrived before `arrival`."""
        rows = await self._conn.fetch(
            f"SELECT k.org, k.person_id FROM {keys_from('$1')}"  # noqa: S608 - schema name is checked
            f" WHERE EXISTS (SELECT FROM {self.schema}.timeline t"
            "  WHERE t.org = k.org AND t.subject = k.person_id AND t.arrival < $2)",
            keys_json(keys),
            arrival,
        )
        return {(row["org"], row["person_id"]) for row in rows}

    async def lock_citizens(self, citizen_ids: Collection[UUID]) -> None:
        """Hold these citizens (stored or not yet) until the transaction ends, in a fixed order."""
        await self._conn.execute(
            "SELECT pg_advisory_xact_lock($3, k) FROM ("
            "  SELECT DISTINCT hashtext($2 || id::text) AS k FROM unnest($1::uuid[]) AS id"
            "  ORDER BY k) AS keys",
            list(citizen_ids),
            self.schema,
            _CITIZEN_LOCKS,
        )

    async def load_views(self, citizen_ids: Collection[UUID]) -> dict[UUID, CitizenView]:
        """Return the stored views of those of these citizens who have one."""
        rows = await self._conn.fetch(
            f"SELECT view::text AS view FROM {self.schema}.citizens"  # noqa: S608 - schema name is checked
            " WHERE citizen_id = ANY($1::uuid[])",
            list(citizen_ids),
        )
        views = [CitizenView.model_validate_json(row["view"]) for row in rows]
        return {view.citizen_id: view for view in views}

    async def consents_of(
        self, citizen_ids: Collection[UUID]
    ) -> dict[UUID, tuple[ConsentState, ...]]:
        """Return the standing consent decisions of those of these citizens who have a view
        (none: an empty tuple), read without the rest of each view."""
        rows = await self._conn.fetch(
            "SELECT citizen_id, coalesce(view->'consents', '[]')::text AS consents"  # noqa: S608 - schema name is checked
            f" FROM {self.schema}.citizens"
            " WHERE citizen_id = ANY($1::uuid[])",
            list(citizen_ids),
        )
        return {row["citizen_id"]: _CONSENTS.validate_json(row["consents"]) for row in rows}

    async def linked_events(self, citizen_ids: Collection[UUID]) -> list[tuple[UUID, Envelope]]:
        """Return every timeline event of these citizens' linked people, in arrival order."""
        rows = await self._conn.fetch(
            f"SELECT l.citizen_id, t.envelope::text AS envelope FROM {self.schema}.timeline t"  # noqa: S608 - schema name is checked
            f" JOIN {self.schema}.person_links l ON l.org = t.org AND l.person_id = t.subject"
            " WHERE l.citizen_id = ANY($1::uuid[]) ORDER BY t.arrival",
            list(citizen_ids),
        )
        return [(row["citizen_id"], Envelope.model_validate_json(row["envelope"])) for row in rows]

    async def erase_timeline_values(self, org: str, event_id: UUID) -> None:
        """Erase in place every personal value of one timeline event."""
        held = await self.timeline_event(org, event_id)
        if held is None:
            return
        event = held[0]
        erased = all_values_erased(event.type, event.schema_version, event.data)
        if erased is not None:
            await self._conn.execute(
                f"UPDATE {self.schema}.timeline"  # noqa: S608 - schema name is checked
                " SET envelope = jsonb_set(envelope, '{data}', $3::jsonb)"
                " WHERE org = $1 AND event_id = $2",
                org,
                event_id,
                erased,
            )

    async def timeline_event(self, org: str, event_id: UUID) -> tuple[Envelope, int] | None:
        """Return an event as the timeline keeps it (personal values sealed), and its arrival."""
        row = await self._conn.fetchrow(
            f"SELECT envelope::text AS envelope, arrival FROM {self.schema}.timeline"  # noqa: S608 - schema name is checked
            " WHERE org = $1 AND event_id = $2",
            org,
            event_id,
        )
        if row is None:
            return None
        return Envelope.model_validate_json(row["envelope"]), row["arrival"]

    async def save_views(self, views: Sequence[CitizenView]) -> None:
        """Write these views; a citizen no organisation's person is linked to any more goes."""
        kept = [view for view in views if view.involvements]
        gone = [view.citizen_id for view in views if not view.involvements]
        if kept:  # the search columns are the view's best-known identity, read from its JSON
            await self._conn.execute(
                f"INSERT INTO {self.schema}.citizens"  # noqa: S608 - schema name is checked
                " (citizen_id, nhs_number, family_name, given_name, date_of_birth, view)"
                " SELECT (v->>'citizen_id')::uuid, v->'identity'->'nhs_number'->>'value',"
                "  v->'identity'->'family_name'->>'value', v->'identity'->'given_name'->>'value',"
                "  (v->'identity'->'date_of_birth'->>'value')::date, v"
                " FROM jsonb_array_elements($1::text::jsonb) AS c(v)"
                " ON CONFLICT (citizen_id) DO UPDATE SET nhs_number = excluded.nhs_number,"
                "  family_name = excluded.family_name, given_name = excluded.given_name,"
                "  date_of_birth = excluded.date_of_birth, view = excluded.view,"
                "  updated_at = now()",
                _VIEWS.dump_json(kept).decode(),
            )
        if gone:
            await self._conn.execute(
                f"DELETE FROM {self.schema}.citizens WHERE citizen_id = ANY($1::uuid[])",  # noqa: S608 - schema name is checked
                gone,
            )


_ENVELOPES = TypeAdapter(list[Envelope])
_CONSENTS = TypeAdapter(tuple[ConsentState, ...])
_VIEWS = TypeAdapter(list[CitizenView])  # each element exactly `CitizenView.model_dump_json()`


def _timeline_json(envelopes: Sequence[Envelope]) -> str:
    """Return the events as one JSON array, each element exactly `Envelope.model_dump_json()`:
    one serialisation for the batch, and the timeline's columns are read from it in the
    statement (one parameter, not eight arrays of a value per event to encode)."""
    return _ENVELOPES.dump_json(list(envelopes)).decode()


def keys_json(keys: Collection[PersonKey]) -> str:
    """Return records' keys as one JSON array of [organisation, person id] (`keys_from`):
    one text parameter, not two arrays of a value per record to encode."""
    return json.dumps(list(keys), separators=(",", ":"))


def keys_from(param: str) -> str:
    """Return SQL of the rows k(org, person_id) of the keys `keys_json` gave parameter `param`."""
    return (
        "(SELECT e->>0 AS org, e->>1 AS person_id"  # noqa: S608 - a parameter's number
        f" FROM jsonb_array_elements({param}::text::jsonb) AS e) AS k"
    )


def key_columns(keys: Collection[PersonKey]) -> list[list[str]]:
    """Return records' keys as two parallel arrays (organisations, person ids) for unnest."""
    return [[org for org, _ in keys], [person for _, person in keys]]
