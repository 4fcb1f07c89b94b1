"""People: register a person this organisation knows, read them back, find them."""

from datetime import date, datetime
from typing import Annotated
from uuid import UUID

from fastapi import APIRouter, Query, Request, Response
from pydantic import BaseModel, ConfigDict, Field
from pydantic.config import JsonDict

from events.identifiers import PlaceCode
from events.shared import DetailsChange, PersonDetails
from services.organisation.domain.commands import ChangePersonDetails, RegisterPerson
from services.organisation.domain.recording import Recording
from services.organisation.entrypoints.http.lists import (
    DEFAULT_LIMIT,
    Cursor,
    Limit,
    ListedPerson,
    PageLinks,
    listed,
    listed_person,
    page_links,
)
from services.organisation.entrypoints.http.openapi import error_responses
from services.organisation.entrypoints.http.reads import ReaderDep
from services.organisation.entrypoints.http.writes import CommandReceipt, WriterDep
from services.organisation.service_layer import people, worklists
from services.organisation.service_layer.unit_of_work import UnitOfWork
from services.runtime.http.errors import ApiError, FieldError

router = APIRouter(prefix="/v1/people", tags=["people"])

_PERSON_EXAMPLE: JsonDict = {
    "local_id": "HX-20431",
    "nhs_number": "9434765919",
    "given_name": "Alex",
    "family_name": "Morgan",
    "date_of_birth": "1987-05-14",
    "postcode": "BS5 6XX",
    "address": "12 Mill Road",
    "place": "E05010892",
}


class PersonCreate(PersonDetails):
    """A person to register: the details this organisation knows them by, and where."""

    model_config = ConfigDict(json_schema_extra={"examples": [_PERSON_EXAMPLE]})

    place: PlaceCode = Field(description="GSS code of the ward or local authority (E05001234)")


class PersonReceipt(CommandReceipt):
    """A person registered: the organisation's id for them."""

    person_id: UUID
    version: int


class PersonPublic(PersonDetails):
    """A registered person, as registered."""

    person_id: UUID
    place: str
    registered_at: datetime
    version: int


@router.post(
    "",
    status_code=201,
    response_model=PersonReceipt,
    summary="Register a person",
    responses=error_responses(401, 403, 409, 422),
)
async def register_person(body: PersonCreate, writer: WriterDep) -> Response:
    """Register a person; an NHS number or local id belongs to one person only (else 409)."""
    details = PersonDetails.model_validate(body.model_dump(exclude={"place"}))
    command = RegisterPerson(details=details, place=body.place)

    async def run(uow: UnitOfWork, recording: Recording) -> PersonReceipt:
        registered = await people.register_person(uow, recording=recording, command=command)
        return PersonReceipt(person_id=registered.person_id, version=registered.version)

    return await writer.answer("register_person", body=body, status=201, run=run)


class PersonListItem(BaseModel):
    """A person found, as this organisation registered them."""

    person: ListedPerson
    registered_at: datetime


class PersonList(PageLinks):
    """A page of the people found, newest registration first."""

    items: list[PersonListItem]


@router.get(
    "",
    summary="Find people this organisation registered",
    responses=error_responses(401, 403, 422),
)
async def find_people(
    *,
    request: Request,
    reader: ReaderDep,
    family_name: Annotated[
        str | None,
        Query(
            min_length=1,
            max_length=100,
            description="as registered, whatever the case, accents, spaces or hyphens",
        ),
    ] = None,
    date_of_birth: Annotated[date | None, Query(description="YYYY-MM-DD")] = None,
    limit: Limit = DEFAULT_LIMIT,
    cursor: Cursor = None,
) -> PersonList:
    """Find this organisation's people by family name and/or date of birth (one at least),
    newest registration first, a page at a time. Only this organisation's own records; the
    single view (projection service) joins organisations."""
    if family_name is None and date_of_birth is None:
        fields = [
            FieldError(field=f"query.{name}", rule="one_required", message=_ONE_OF)
            for name in ("family_name", "date_of_birth")
        ]
        raise ApiError(422, "validation_failed", _ONE_OF, fields=fields)
    page = await listed(
        reader,
        lambda uow: worklists.people_page(
            uow, family_name=family_name, date_of_birth=date_of_birth, limit=limit, cursor=cursor
        ),
    )
    items = [
        PersonListItem(
            person=listed_person(item.row.person_id, page, index),
            registered_at=item.row.registered_at,
        )
        for index, item in enumerate(page.items)
    ]
    return PersonList(items=items, **page_links(request, page, limit).model_dump())


_ONE_OF = "give family_name, date_of_birth or both"


class PersonChangeReceipt(CommandReceipt):
    """What a change recorded: the fields that changed (empty: all were already so)."""

    person_id: UUID
    changed: list[str]
    version: int


@router.patch(
    "/{person_id}",
    response_model=PersonChangeReceipt,
    summary="Change how a person is known",
    responses=error_responses(401, 403, 404, 409, 422),
)
async def change_person(person_id: UUID, body: DetailsChange, writer: WriterDep) -> Response:
    """Record what changed (a new address, a new name, a correction): only the fields sent,
    only those whose value differs (`person.details_changed`); earlier values stay in the
    history. A `null` removes an NHS number, postcode, address or local id; an NHS number or
    local id another person holds is 409. Identity matching in the single view re-runs on the new
    details."""
    command = ChangePersonDetails(person_id, body)

    async def run(uow: UnitOfWork, recording: Recording) -> PersonChangeReceipt:
        changed = await people.change_person_details(uow, recording=recording, command=command)
        return PersonChangeReceipt(
            person_id=changed.person_id, changed=list(changed.changed), version=changed.version
        )

    return await writer.answer("change_person", body=body, status=200, run=run)


@router.get(
    "/{person_id}",
    summary="Read a registered person",
    responses=error_responses(401, 403, 404),
)
async def read_person(person_id: UUID, reader: ReaderDep) -> PersonPublic:
    """Return the person as this organisation registered them."""
    state = await reader.query(lambda uow: people.get_person(uow, person_id))
    return PersonPublic(
        **state.details.model_dump(),
        person_id=state.person_id,
        place=state.place,
        registered_at=state.registered_at,
        version=state.version,
    )
