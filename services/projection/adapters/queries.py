"""The read side: find citizens, read a single view, read a timeline, by indexed reads."""

from collections.abc import Collection, Sequence
from datetime import date, datetime
from typing import Any
from uuid import UUID

from pydantic import BaseModel, ConfigDict, Field

from events.envelope import Envelope, OrgId
from services.identity_matching.comparisons import mistyped_dates
from services.identity_matching.matching import PersonRecord
from services.projection.domain.finding import Sought, best_match
from services.projection.domain.view import CitizenView, RecentEvent
from services.runtime.database import Pool
from services.runtime.event_store_schema import checked_schema
from services.runtime.person_keys import PersonKeys

SEARCH_LIMIT = 50
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
        " of evidence (see services/identity_matching/matching.py); higher first",
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
    retracted_at: datetime | None = Field(
        default=None,
        description="when its organisation said it was entered in error: the single view"
        " reads as if it had not been",
    )


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
    naming_none_of: tuple[OrgId, ...] = Field(
        default=(),
        description="leave out other organisations' events whose data names one of these"
        " organisations (a referral's other side, a consent decision's sources or recipients)",
    )
    own_org: OrgId | None = Field(
        default=None, description="whose events `naming_none_of` never leaves out"
    )
    hidden_records: tuple[tuple[str, str], ...] = Field(
        default=(),
        description="(organisation, person id) of records whose events are left out (those"
        " in an identity conflict, for other organisations)",
    )


_VISIBLE = (
    "($6 OR EXISTS (SELECT 1 FROM unnest($7::text[], $8::text[]) AS g(org, pattern)"
    " WHERE t.org = g.org AND t.category LIKE g.pattern))"
)
_NAMING_NONE_OF = (
    "(t.org = $10 OR NOT (coalesce(t.envelope->'data'->>'from_org', '') = ANY($9::text[])"
    " OR coalesce(t.envelope->'data'->>'to_org', '') = ANY($9::text[])"
    " OR coalesce(t.envelope->'data'->'sources', '[]') ?| $9::text[]"
    " OR coalesce(t.envelope->'data'->'recipients', '[]') ?| $9::text[]))"
)
# The receipt of the viewer's own referral shows, whatever the rules and the person's
# decisions hide of the receiver (every referral is received: its absence would say the
# receiver holds a record kept from them); a registration the receiver made from it does
# not (its presence would say the receiver held none before).
_OWN_REFERRAL_RECEIVED = "(t.type = 'referral.received' AND t.envelope->'data'->>'from_org' = $10)"
_NOT_FROM_OWN_REFERRAL = (
    "($10::text IS NULL OR t.org = $10 OR t.type <> 'person.registered'"
    " OR coalesce(t.envelope->>'causation_id', '') NOT IN ("
    "  SELECT o.event_id::text FROM {s}.timeline o JOIN {s}.person_links ol"
    "   ON ol.org = o.org AND ol.person_id = o.subject"
    "  WHERE ol.citizen_id = $1 AND o.org = $10 AND o.type = 'referral.made'))"
)
# A sender's record of the receiver's answer (`referral.answered`) repeats what the
# receiver's own events say, under the sender's name: only the two of them see it (others
# see the receiver's events, as the rules and the person's decisions allow).
_ANSWER_BETWEEN_PARTIES = (  # no viewer's organisation ($10 null): everything, as a SAR
    "($10::text IS NULL OR t.type <> 'referral.answered' OR t.org = $10"
    " OR t.envelope->'data'->>'by_org' = $10)"
)
# An event entered in error stays in the timeline, marked with when it was retracted; the
# retraction itself is that mark, never a row of its own. What the view is made of (recent
# events, a case's last contact) leaves the retracted event out, as the fold does.
_RETRACTION = "event.entered_in_error"
_RETRACTIONS_OF_T = (
    "FROM {s}.timeline r WHERE r.org = t.org AND r.type = '" + _RETRACTION + "'"
    " AND r.envelope->'data'->>'retracted_event_id' = t.event_id::text"
)
_RETRACTED_AT = "(SELECT min(r.occurred_at) " + _RETRACTIONS_OF_T + ")"
_NOT_RETRACTED = "NOT EXISTS (SELECT 1 " + _RETRACTIONS_OF_T + ")"
_FILTERED = (  # one citizen's timeline rows that a `TimelineFilter` lets through ($1 to $12)
    "l.citizen_id = $1"  # noqa: S608 - constant fragments; values are parameters
    " AND ($2::text IS NULL OR t.org = $2)"
    " AND ($3::text IS NULL OR t.category = $3)"
    " AND ($4::timestamptz IS NULL OR t.occurred_at >= $4)"
    " AND ($5::timestamptz IS NULL OR t.occurred_at < $5)"
    f" AND ({_VISIBLE} OR {_OWN_REFERRAL_RECEIVED}) AND {_NAMING_NONE_OF}"
    f" AND {_NOT_FROM_OWN_REFERRAL} AND {_ANSWER_BETWEEN_PARTIES}"
    f" AND t.type <> '{_RETRACTION}'"
    " AND NOT EXISTS (SELECT 1 FROM unnest($11::text[], $12::text[]) AS h(org, person_id)"
    "  WHERE h.org = t.org AND h.person_id = t.subject)"
)


def _filter_arguments(citizen_id: UUID, only: "TimelineFilter") -> list[Any]:
    """Return the arguments $1 to $12 of `_FILTERED`."""
    return [
        citizen_id,
        only.org,
        only.category,
        only.occurred_from,
        only.occurred_before,
        only.visible is None,
        [org for org, _ in only.visible or ()],
        [_like(pattern) for _, pattern in only.visible or ()],
        list(only.naming_none_of),
        only.own_org,
        [org for org, _ in only.hidden_records],
        [person_id for _, person_id in only.hidden_records],
    ]


def _like(pattern: str) -> str:
    """Return a sharing category pattern (`*`, `housing.*`, exact) as a LIKE pattern."""
    if pattern == "*":
        return "%"
    escaped = pattern.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return escaped[:-1] + "%" if pattern.endswith(".*") else escaped


class CitizenQueries:
    """Reads of the projection's read model in one schema."""

    def __init__(
        self, pool: Pool, *, schema: str = "projection", keys: PersonKeys | None = None
    ) -> None:
        self._pool = pool
        self.schema = checked_schema(schema)
        self._keys = keys

    async def by_nhs_number(
        self, nhs_number: str, *, among: Collection[OrgId] | None = None
    ) -> list[CitizenSummary]:
        """Return the citizens any organisation (of `among`, if given) registered with this
        NHS number (one, when any)."""
        rows = await self._pool.fetch(
            f"SELECT {_SUMMARY} FROM {self.schema}.citizens WHERE citizen_id IN ("  # noqa: S608 - schema name is checked
            f" SELECT l.citizen_id FROM {self.schema}.registrations r"
            f" JOIN {self.schema}.person_links l ON l.org = r.org AND l.person_id = r.person_id"
            " WHERE r.nhs_number = $1 AND ($3::text[] IS NULL OR r.org = ANY($3::text[])))"
            " ORDER BY citizen_id LIMIT $2",
            nhs_number,
            SEARCH_LIMIT,
            None if among is None else list(among),
        )
        return [CitizenSummary(**dict(row)) for row in rows]

    async def by_name_and_birth(
        self,
        *,
        family_name: str,
        date_of_birth: date,
        given_name: str | None = None,
        among: Collection[OrgId] | None = None,
        first: OrgId | None = None,
        limit: int = SEARCH_LIMIT,
    ) -> list[CitizenSummary]:
        """Return citizens like this name and birth date, best match first (fuzzy).

        Candidates are the registrations (any organisation's, each record's latest) of
        people born on the date or on a date a typist could have meant (day and month
        swapped, one digit of the year wrong); each is scored with the matcher and kept if
        the evidence is at least `MIN_SCORE` bits and the family name agrees at least
        closely: a search never turns up another family's member. A citizen scores as their
        best registration. Only registrations of `among` (if given) are read, those of
        `first` first: at most `SEARCH_CANDIDATES` rows are, for a placeholder birth date.
        """
        rows = await self._pool.fetch(
            "SELECT l.citizen_id, r.given_name, r.family_name, r.date_of_birth"  # noqa: S608 - schema name is checked
            f" FROM {self.schema}.registrations r JOIN {self.schema}.person_links l"
            "  ON l.org = r.org AND l.person_id = r.person_id"
            " WHERE r.date_of_birth = ANY($1::date[])"
            "  AND ($3::text[] IS NULL OR r.org = ANY($3::text[]))"
            " ORDER BY r.org = $4 DESC LIMIT $2",
            mistyped_dates(date_of_birth),
            SEARCH_CANDIDATES,
            None if among is None else list(among),
            first,
        )
        wanted = Sought(
            family_name=family_name, date_of_birth=date_of_birth, given_name=given_name
        ).as_record()
        records: dict[UUID, list[PersonRecord]] = {}
        for row in rows:
            records.setdefault(row["citizen_id"], []).append(
                PersonRecord(
                    org="citizen",
                    person_id=str(row["citizen_id"]),
                    given_name=row["given_name"],
                    family_name=row["family_name"],
                    date_of_birth=row["date_of_birth"],
                )
            )
        best = {
            citizen: match
            for citizen, candidates in records.items()
            if (match := best_match(wanted, candidates)) is not None
        }
        ranked = sorted(best, key=lambda c: (-best[c].total, str(c)))[:limit]
        summaries = await self._pool.fetch(
            f"SELECT {_SUMMARY} FROM {self.schema}.citizens WHERE citizen_id = ANY($1::uuid[])",  # noqa: S608 - schema name is checked
            ranked,
        )
        by_id = {row["citizen_id"]: row for row in summaries}
        return [
            CitizenSummary(**dict(by_id[c]), match_score=best[c].total, matched_on=best[c].agreed())
            for c in ranked
            if c in by_id
        ]

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
    ) -> Timeline:
        """Return a page of the citizen's events in time order (an empty one for a citizen
        nobody is linked to: callers look the citizen up first)."""
        order = " DESC" if newest_first else ""
        rows = await self._pool.fetch(
            "SELECT t.envelope::text AS envelope,"  # noqa: S608 - schema name is checked
            f" {_RETRACTED_AT.format(s=self.schema)} AS retracted_at"
            f" FROM {self.schema}.timeline t JOIN {self.schema}.person_links l"
            "  ON l.org = t.org AND l.person_id = t.subject"
            f" WHERE {_FILTERED.format(s=self.schema)}"
            f" ORDER BY t.occurred_at{order}, t.recorded_at{order}, t.event_id{order}"
            " LIMIT $13 OFFSET $14",
            *_filter_arguments(citizen_id, only),
            limit,
            offset,
        )
        envelopes = [Envelope.model_validate_json(row["envelope"]) for row in rows]
        retracted_at = {  # an event id is unique within its organisation's events
            (e.org, e.event_id): row["retracted_at"] for e, row in zip(envelopes, rows, strict=True)
        }
        events = [
            _timeline_event(e, retracted_at=retracted_at[e.org, e.event_id])
            for e in await self._opened(envelopes)
            if e is not None
        ]
        return Timeline(citizen_id=citizen_id, limit=limit, offset=offset, events=events)

    async def recent_events(
        self, citizen_id: UUID, *, only: TimelineFilter, limit: int
    ) -> list[RecentEvent]:
        """Return what happened latest with the citizen that `only` lets through, newest
        first: when, where and what kind, none of the events' data (nothing to open)."""
        rows = await self._pool.fetch(
            "SELECT t.event_id, t.org, t.type, t.category, t.occurred_at, t.recorded_at"  # noqa: S608 - schema name is checked
            f" FROM {self.schema}.timeline t JOIN {self.schema}.person_links l"
            "  ON l.org = t.org AND l.person_id = t.subject"
            f" WHERE {_FILTERED.format(s=self.schema)}"
            f" AND {_NOT_RETRACTED.format(s=self.schema)}"
            " ORDER BY t.occurred_at DESC, t.recorded_at DESC, t.event_id DESC LIMIT $13",
            *_filter_arguments(citizen_id, only),
            limit,
        )
        return [RecentEvent(**row) for row in rows]

    async def last_contacts(
        self, citizen_id: UUID, *, only: TimelineFilter
    ) -> dict[UUID, datetime]:
        """Return, per case, when the latest of its events that `only` lets through happened
        (a case's `last_contact_at` as one viewer may know it)."""
        rows = await self._pool.fetch(
            "SELECT (t.envelope->'data'->>'case_id')::uuid AS case_id,"  # noqa: S608 - schema name is checked
            "  max(t.occurred_at) AS last_contact_at"
            f" FROM {self.schema}.timeline t JOIN {self.schema}.person_links l"
            "  ON l.org = t.org AND l.person_id = t.subject"
            f" WHERE {_FILTERED.format(s=self.schema)} AND t.envelope->'data' ? 'case_id'"
            f"  AND {_NOT_RETRACTED.format(s=self.schema)}"
            "  AND t.type NOT LIKE 'referral.%'"  # a referral's acceptance names the case it opened
            " GROUP BY 1",
            *_filter_arguments(citizen_id, only),
        )
        return {row["case_id"]: row["last_contact_at"] for row in rows}

    async def _opened(self, envelopes: list[Envelope]) -> Sequence[Envelope | None]:
        """Open the events' sealed personal values (None: an erased person's event)."""
        if self._keys is None or not envelopes:
            return envelopes
        async with self._pool.acquire() as conn:
            return await self._keys.open(conn, envelopes)


def _timeline_event(envelope: Envelope, *, retracted_at: datetime | None) -> TimelineEvent:
    e = envelope
    return TimelineEvent(
        event_id=e.event_id, type=e.type, schema_version=e.schema_version, org=e.org,
        category=e.category, occurred_at=e.occurred_at, recorded_at=e.recorded_at,
        correlation_id=e.correlation_id, data=e.data, retracted_at=retracted_at,
    )  # fmt: skip
