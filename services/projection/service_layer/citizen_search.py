"""Finding citizens: by NHS number, or by family name and date of birth (fuzzy).

A search is answered from what the caller may see of each person (`domain/finding.py`),
and each hit shown is a read of that person's identity, written to the access log. A hit
shows the identity the sharing rules share only to an organisation that works with the
person; to any other it says that the person is known, with its own registration's values
and the NHS number it searched by: a search never hands out an identifier (an NHS number to
register and claim a relationship with) that the caller did not already have.
"""

from dataclasses import replace
from datetime import UTC, datetime
from uuid import UUID

from services.projection.adapters.queries import SEARCH_LIMIT, CitizenQueries, CitizenSummary
from services.projection.domain.finding import Found, Sought, find_in
from services.projection.domain.identity import best_known_identity
from services.projection.domain.sharing import IDENTITY, Viewer, identity_for, may_find
from services.projection.domain.view import CitizenView, Identity, SourcedText
from services.projection.service_layer.citizen_reads import CitizenReading
from services.projection.service_layer.reading import Reads

# hits scored before the person's own decisions are applied; the best SEARCH_LIMIT are shown
SEARCH_CANDIDATES_SHOWN = 1000


async def find_citizens(reading: CitizenReading, sought: Sought) -> list[CitizenSummary]:
    """Return the citizens the search finds in what the caller may see of them, each hit
    logged as a read of that person's identity (by NHS number if given, else by family
    name and date of birth)."""
    viewer, queries = reading.viewer, reading.queries
    known = [org for org in viewer.policy.place.ids if viewer.may_see(org, IDENTITY)]
    if sought.nhs_number is not None:
        found = await queries.by_nhs_number(sought.nhs_number, among=known)
    elif sought.family_name is None or sought.date_of_birth is None:
        found = []  # nothing to search by (the HTTP route refuses this before)
    else:
        hits: dict[UUID, CitizenSummary] = {}
        for given in dict.fromkeys((sought.given_name, None)):  # unrelated hits ignore it
            for hit in await queries.by_name_and_birth(
                family_name=sought.family_name, date_of_birth=sought.date_of_birth,
                given_name=given, among=known, first=viewer.org, limit=SEARCH_CANDIDATES_SHOWN,
            ):  # fmt: skip
                hits.setdefault(hit.citizen_id, hit)
        found = list(hits.values())
    shown = await _findable(queries, found, viewer, sought, reading.reads)
    await reading.reads.record("search", [(hit.citizen_id, [IDENTITY]) for hit in shown])
    return shown


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
