"""What the list endpoints share: paging (limit, cursor, next link), the person a row is
about, and the precise error for a cursor this service did not give out."""

from collections.abc import Awaitable, Callable
from datetime import date
from typing import Annotated, TypeVar
from uuid import UUID

from fastapi import Query, Request
from pydantic import BaseModel, Field

from services.organisation.domain.worklists import BadCursor
from services.organisation.entrypoints.http.reads import Reader
from services.organisation.service_layer.unit_of_work import UnitOfWork
from services.organisation.service_layer.worklists import NamedPage
from services.runtime.http.errors import ApiError, FieldError

T = TypeVar("T")
DEFAULT_LIMIT, MOST = 20, 100
Limit = Annotated[int, Query(ge=1, le=MOST, description=f"rows per page (default {DEFAULT_LIMIT})")]
Cursor = Annotated[
    str | None,
    Query(max_length=200, description="where the page starts: the `next` link carries it"),
]


class ListedPerson(BaseModel):
    """The person a row is about, as this organisation registered them."""

    person_id: UUID
    given_name: str | None = Field(description="null once the person's record was erased")
    family_name: str | None
    date_of_birth: date | None


class PageLinks(BaseModel):
    """How many rows match in all, and where the next page is (null on the last)."""

    total: int
    limit: int
    next: str | None = Field(description="the next page's path and query, or null")


def listed_person(person_id: UUID, page: NamedPage[T], index: int) -> ListedPerson:
    """Return the person of the page's `index`th row (no details once erased)."""
    details = page.items[index].person
    return ListedPerson(
        person_id=person_id,
        given_name=details.given_name if details else None,
        family_name=details.family_name if details else None,
        date_of_birth=details.date_of_birth if details else None,
    )


def page_links(request: Request, page: NamedPage[T], limit: int) -> PageLinks:
    """Return the page's total and the link to the next one: this request's path and query,
    its cursor replaced."""
    following = None
    if page.next_cursor is not None:
        query = request.url.include_query_params(cursor=page.next_cursor, limit=limit)
        following = f"{query.path}?{query.query}"
    return PageLinks(total=page.total, limit=limit, next=following)


async def listed(reader: Reader, run: Callable[[UnitOfWork], Awaitable[T]]) -> T:
    """Return what `run` lists, answering a cursor this service did not give out with 422."""
    try:
        return await reader.query(run)
    except BadCursor as bad:
        field = FieldError(field="query.cursor", rule="bad_cursor", message=str(bad))
        message = "the cursor is not one of this list's"
        raise ApiError(422, "validation_failed", message, fields=[field]) from bad
