"""Find citizens over HTTP: by NHS number, or by family name and date of birth (fuzzy).

What a search shows, and to whom, is decided in `service_layer/citizen_search.py`.
"""

from datetime import date
from typing import Annotated

from fastapi import APIRouter, Query

from events.identifiers import NhsNumber, PersonName
from services.projection.adapters.queries import CitizenList
from services.projection.domain.finding import Sought
from services.projection.entrypoints.http.reading import READ_ERRORS, ReadingDep
from services.projection.service_layer.citizen_search import find_citizens as find
from services.runtime.http.errors import ApiError, FieldError

router = APIRouter(prefix="/v1/citizens", tags=["citizens"], responses=READ_ERRORS)


@router.get(
    "",
    summary="Find citizens by NHS number, or by family name and date of birth",
    description="An NHS number search ignores the other criteria. A name and birth date "
    "search is fuzzy (nicknames, typos, sound-alikes, swapped day and month) and ranked; it "
    "compares only the registrations the caller may see, and shows what they may see.",
)
async def find_citizens(
    reading: ReadingDep,
    *,
    nhs_number: Annotated[NhsNumber | None, Query(description="ten digits, spaces allowed")] = None,
    family_name: Annotated[PersonName | None, Query()] = None,
    date_of_birth: Annotated[date | None, Query(description="YYYY-MM-DD")] = None,
    given_name: Annotated[PersonName | None, Query(description="narrows a name search")] = None,
) -> CitizenList:
    """Return the citizens matching the search."""
    if nhs_number is None and (family_name is None or date_of_birth is None):
        raise _missing_criteria(family_name=family_name, date_of_birth=date_of_birth)
    sought = Sought(
        nhs_number=nhs_number,
        family_name=family_name,
        date_of_birth=date_of_birth,
        given_name=given_name,
    )
    return CitizenList(citizens=await find(reading, sought))


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
