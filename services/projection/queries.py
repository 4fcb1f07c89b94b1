"""The read side: find citizens, read a single view, read a timeline; each one indexed read."""

from datetime import date, datetime
from typing import Any
from uuid import UUID

from pydantic import BaseModel, ConfigDict, Field

from events.envelope import OrgId
from services.projection.domain.matching import PersonRecord, Thresholds, mistyped_dates, score
from services.projection.domain.view import CitizenView
from services.runtime.database import Pool
from services.runtime.event_store_schema import checked_schema

SEARCH_LIMIT = 50
SEARCH_MIN_SCORE = Thresholds().review  # enough evidence to show a person the candidate
SEARCH_CANDIDATES = 5000  # rows read at most for one search (a placeholder birth date...)
_SUMMARY = "citizen_id, nhs_number, given_name, family_name, date_of_birth"


class CitizenSummary(BaseModel):
    """A citizen found by a search: the id to read their view with, and who they are."""

    model_config = ConfigDict(frozen=True)

    citizen_id: UUID
    nhs_number: str | None
    given_name: str | None
    family_name: str | None
    date_of_birth: date | None
    match_score: float | None = Field(
        default=None,
        description="for a name and birth date search: how well the citizen matches, in bits"
        " of evidence (see services/projection/domain/matching.py); higher first",
    )
    matched_on: list[str] = Field(
        default_factory=list, description="the fields that agreed, exactly or closely"
    )


class CitizenList(BaseModel):
    """The citizens a search found (at most `SEARCH_LIMIT`)."""

    citizens: list[CitizenSummary]


class TimelineEvent(BaseModel):
    """One event about the citizen, as the organisation that recorded it wrote it."""

    model_config = ConfigDict(frozen=True)

    event_id: UUID
    type: str
    schema_version: int = Field(description="the version of `type` that `data` follows")
    org: OrgId
    category: str
    occurred_at: datetime
    recorded_at: datetime
    correlation_id: str
    data: dict[str, Any]


class Timeline(BaseModel):
    """A page of everything that happened with the citizen, across organisations, in order."""

    citizen_id: UUID
    limit: int
    offset: int
    events: list[TimelineEvent]


class TimelineFilter(BaseModel):
    """Which of a citizen's events a timeline page shows: all, unless narrowed."""

    model_config = ConfigDict(frozen=True)

    org: OrgId | None = None
    category: str | None = None
    occurred_from: datetime | None = Field(default=None, description="inclusive")
    occurred_before: datetime | None = Field(default=None, description="exclusive")
    visible: tuple[tuple[str, str], ...] | None = Field(
        default=None,
        description="(organisation, category pattern) pairs a viewer may see; None: all",
    )


_VISIBLE = (
    "($8 OR EXISTS (SELECT 1 FROM unnest($9::text[], $10::text[]) AS g(org, pattern)"
    " WHERE t.org = g.org AND t.category LIKE g.pattern))"
)


def _like(pattern: str) -> str:
    """Return a sharing category pattern (`*`, `housing.*`, exact) as a LIKE pattern."""
    if pattern == "*":
        return "%"
    escaped = pattern.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return escaped[:-1] + "%" if pattern.endswith(".*") else escaped


class CitizenQueries:
    """Reads of the projection's read model in one schema."""

    def __init__(self, pool: Pool, *, schema: str = "projection") -> None:
        self._pool = pool
        self.schema = checked_schema(schema)

    async def by_nhs_number(self, nhs_number: str) -> list[CitizenSummary]:
        """Return the citizens with this NHS number (one, when any)."""
        rows = await self._pool.fetch(
            f"SELECT {_SUMMARY} FROM {self.schema}.citizens WHERE nhs_number = $1"  # noqa: S608 - schema name is checked
            " ORDER BY citizen_id LIMIT $2",
            nhs_number,
            SEARCH_LIMIT,
        )
        return [CitizenSummary(**dict(row)) for row in rows]

    async def by_name_and_birth(
        self, *, family_name: str, date_of_birth: date, given_name: str | None = None
    ) -> list[CitizenSummary]:
        """Return citizens like this name and birth date, best match first (fuzzy).

        Candidates are the citizens born on the date or on a date a typist could have meant
        (day and month swapped, one digit of the year wrong); each is scored with the
        matcher and kept if the evidence is at least `SEARCH_MIN_SCORE` bits and the family
        name agrees at least closely: a search never turns up another family's member.
        """
        rows = await self._pool.fetch(
            f"SELECT {_SUMMARY} FROM {self.schema}.citizens"  # noqa: S608 - schema name is checked
            " WHERE date_of_birth = ANY($1::date[]) LIMIT $2",
            mistyped_dates(date_of_birth),
            SEARCH_CANDIDATES,
        )
        wanted = PersonRecord(
            org="search", person_id="search", given_name=given_name,
            family_name=family_name, date_of_birth=date_of_birth,
        )  # fmt: skip
        found = []
        for row in rows:
            candidate = PersonRecord(
                org="citizen", person_id=str(row["citizen_id"]), given_name=row["given_name"],
                family_name=row["family_name"], date_of_birth=row["date_of_birth"],
            )  # fmt: skip
            match = score(wanted, candidate)
            if match.total >= SEARCH_MIN_SCORE and "family_name" in match.agreed():
                found.append(
                    CitizenSummary(**dict(row), match_score=match.total, matched_on=match.agreed())
                )
        found.sort(key=lambda c: (-(c.match_score or 0), str(c.citizen_id)))
        return found[:SEARCH_LIMIT]

    async def citizen_view(self, citizen_id: UUID) -> CitizenView | None:
        """Return a citizen's single view, or None for a citizen nobody has recorded."""
        view = await self._pool.fetchval(
            f"SELECT view::text FROM {self.schema}.citizens WHERE citizen_id = $1",  # noqa: S608 - schema name is checked
            citizen_id,
        )
        return None if view is None else CitizenView.model_validate_json(view)

    async def citizen_views(self, citizen_ids: list[UUID]) -> dict[UUID, CitizenView]:
        """Return the single views of these citizens (those that exist)."""
        rows = await self._pool.fetch(
            f"SELECT view::text AS view FROM {self.schema}.citizens"  # noqa: S608 - schema name is checked
            " WHERE citizen_id = ANY($1::uuid[])",
            citizen_ids,
        )
        views = [CitizenView.model_validate_json(row["view"]) for row in rows]
        return {view.citizen_id: view for view in views}

    async def timeline(
        self,
        citizen_id: UUID,
        *,
        limit: int,
        offset: int,
        only: TimelineFilter = TimelineFilter(),  # noqa: B008 - frozen, never mutated
        newest_first: bool = False,
    ) -> Timeline | None:
        """Return a page of the citizen's events in time order, or None for an unknown citizen."""
        known = await self._pool.fetchval(
            f"SELECT true FROM {self.schema}.citizens WHERE citizen_id = $1",  # noqa: S608 - schema name is checked
            citizen_id,
        )
        if not known:
            return None
        order = " DESC" if newest_first else ""
        rows = await self._pool.fetch(
            "SELECT t.event_id, t.type, (t.envelope->>'schema_version')::int AS schema_version,"  # noqa: S608 - schema name is checked
            " t.org, t.category, t.occurred_at, t.recorded_at,"
            " t.envelope->>'correlation_id' AS correlation_id, t.envelope->'data' AS data"
            f" FROM {self.schema}.timeline t JOIN {self.schema}.person_links l"
            "  ON l.org = t.org AND l.person_id = t.subject"
            " WHERE l.citizen_id = $1"
            "  AND ($4::text IS NULL OR t.org = $4)"
            "  AND ($5::text IS NULL OR t.category = $5)"
            "  AND ($6::timestamptz IS NULL OR t.occurred_at >= $6)"
            "  AND ($7::timestamptz IS NULL OR t.occurred_at < $7)"
            f"  AND {_VISIBLE}"
            f" ORDER BY t.occurred_at{order}, t.recorded_at{order}, t.event_id{order}"
            " LIMIT $2 OFFSET $3",
            citizen_id,
            limit,
            offset,
            only.org,
            only.category,
            only.occurred_from,
            only.occurred_before,
            only.visible is None,
            [org for org, _ in only.visible or ()],
            [_like(pattern) for _, pattern in only.visible or ()],
        )
        events = [TimelineEvent(**dict(row)) for row in rows]
        return Timeline(citizen_id=citizen_id, limit=limit, offset=offset, events=events)
