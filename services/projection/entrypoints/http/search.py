"""Find citizens: by NHS number, or by family name and date of birth (fuzzy).

A search is answered from what the caller may see of each person (`domain/finding.py`),
and each hit shown is a read of that person's identity, written to the access log. A hit
shows the identity the sharing rules share only to an organisation that works with the
person; to any other it says that the person is known, with its own registration's values
and the NHS number it searched by: a search never hands out an identifier (an NHS number to
register and claim a relationship with) that the caller did not already have.
"""

from dataclasses import replace
from datetime import UTC, date, datetime
from typing import Annotated
from uuid import UUID

from fastapi import APIRouter, Query

from events.envelope import ORGANISATIONS
from events.identifiers import NhsNumber, PersonName
from services.projection.adapters.queries import (
    SEARCH_LIMIT,
    CitizenList,
    CitizenQueries,
    CitizenSummary,
)
from services.projection.domain.finding import Found, Sought, find_in
from services.projection.domain.identity import best_known_identity
from services.projection.domain.sharing import (
    IDENTITY,
    Viewer,
    identity_for,
    may_find,
)
from services.projection.domain.view import CitizenView, Identity, SourcedText
from services.projection.entrypoints.http.reading import (
    READ_ERRORS,
    QueriesDep,
    Reads,
    ReadsDep,
    ViewerDep,
)
from services.runtime.http.errors import ApiError, FieldError

# hits scored before the person's own decisions are applied; the best SEARCH_LIMIT are shown
SEARCH_CANDIDATES_SHOWN = 1000
router = APIRouter(prefix="/v1/citizens", tags=["citizens"], responses=READ_ERRORS)


@router.get(
    "",
    summary="Find citizens by NHS number, or by family name and date of birth",
    description="An NHS number search ignores the other criteria. A name and birth date "
    "search is fuzzy (nicknames, typos, sound-alikes, swapped day and month) and ranked; it "
    "compares only the registrations the caller may see, and shows what they may see.",
)
async def find_citizens(
    viewer: ViewerDep,
    reads: ReadsDep,
    queries: QueriesDep,
    *,
    nhs_number: Annotated[NhsNumber | None, Query(description="ten digits, spaces allowed")] = None,
    family_name: Annotated[PersonName | None, Query()] = None,
    date_of_birth: Annotated[date | None, Query(description="YYYY-MM-DD")] = None,
    given_name: Annotated[PersonName | None, Query(description="narrows a name search")] = None,
) -> CitizenList:
    """Return the citizens matching the search."""
    known = [org for org in ORGANISATIONS if viewer.may_see(org, IDENTITY)]  # by the rules
    if nhs_number is not None:
        found = await queries.by_nhs_number(nhs_number, among=known)
    elif family_name is None or date_of_birth is None:
        raise _missing_criteria(family_name=family_name, date_of_birth=date_of_birth)
    else:
        hits: dict[UUID, CitizenSummary] = {}
        for given in dict.fromkeys((given_name, None)):  # unrelated hits ignore a given name
            for hit in await queries.by_name_and_birth(
                family_name=family_name, date_of_birth=date_of_birth, given_name=given,
                among=known, first=viewer.org, limit=SEARCH_CANDIDATES_SHOWN,
            ):  # fmt: skip
                hits.setdefault(hit.citizen_id, hit)
        found = list(hits.values())
    sought = Sought(
        nhs_number=nhs_number,
        family_name=family_name,
        date_of_birth=date_of_birth,
        given_name=given_name,
    )
    shown = await _findable(queries, found, viewer, sought, reads)
    await reads.record("search", [(hit.citizen_id, [IDENTITY]) for hit in shown])
    return CitizenList(citizens=shown)


async def _findable(
    queries: CitizenQueries,
    found: list[CitizenSummary],
    viewer: Viewer,
    sought: Sought,
    reads: Reads,
) -> list[CitizenSummary]:
    """Keep the hits the search finds in what the viewer may see of them (`find_in`). To an
    organisation that works with the person, each shows the identity values the rules share
    and the score of what they may see; to any other, only that the person is known
    (`_supplied_or_own`), found by family name and birth date alone, with no score: neither
    a given name nor a birth date can be guessed and confirmed by searching."""
    views = await queries.citizen_views([hit.citizen_id for hit in found])
    shown = []
    for hit in found:
        view = views.get(hit.citizen_id)
        if view is None or not may_find(view, viewer):
            continue
        related = await reads.works_with(view)
        match = find_in(view, viewer, sought if related else replace(sought, given_name=None))
        if match is None:
            continue
        identity = identity_for(view, viewer) if related else _supplied_or_own(view, viewer, sought)
        if not related:
            match = Found(score=None, matched_on=[])
        values = {
            "nhs_number": identity.nhs_number,
            "given_name": identity.given_name,
            "family_name": identity.family_name,
            "date_of_birth": identity.date_of_birth,
        }
        update: dict[str, object] = {
            name: value.value if value else None for name, value in values.items()
        }
        update |= {"match_score": match.score, "matched_on": match.matched_on}
        shown.append(hit.model_copy(update=update))
    if sought.nhs_number is None:
        shown.sort(key=lambda hit: (-(hit.match_score or 0), str(hit.citizen_id)))
    return shown[:SEARCH_LIMIT]


def _supplied_or_own(view: CitizenView, viewer: Viewer, sought: Sought) -> Identity:
    """What a search tells an organisation that does not work with the person: that they
    are known (and, at GET /v1/citizens/{id}, whom to contact), the values of its own
    registration, and the NHS number it searched by; never an identifier it did not supply."""
    own = best_known_identity((i for i in view.involvements if i.org == viewer.org), disputed=())
    if own.nhs_number is None and sought.nhs_number is not None:
        supplied = SourcedText(org=viewer.org, as_of=datetime.now(UTC), value=sought.nhs_number)
        return own.model_copy(update={"nhs_number": supplied})
    return own


def _missing_criteria(*, family_name: str | None, date_of_birth: date | None) -> ApiError:
    message = "search by nhs_number, or by family_name and date_of_birth"
    missing = [
        name
        for name, value in (("family_name", family_name), ("date_of_birth", date_of_birth))
        if value is None
    ]
    if len(missing) == 2:
        missing.insert(0, "nhs_number")
    fields = [
        FieldError(field=f"query.{name}", rule="missing", message=message) for name in missing
    ]
    return ApiError(422, "validation_failed", message, fields=fields)
