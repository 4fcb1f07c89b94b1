"""People: register a person this organisation knows, and read them back."""

from datetime import datetime
from uuid import UUID

from fastapi import APIRouter, Response
from pydantic import ConfigDict, Field
from pydantic.config import JsonDict

from events.identifiers import PlaceCode
from events.shared import PersonDetails
from services.organisation.domain.commands import RegisterPerson
from services.organisation.domain.recording import Recording
from services.organisation.entrypoints.http.openapi import error_responses
from services.organisation.entrypoints.http.reads import ReaderDep
from services.organisation.entrypoints.http.writes import CommandReceipt, WriterDep
from services.organisation.service_layer import people
from services.organisation.service_layer.unit_of_work import UnitOfWork

router = APIRouter(prefix="/v1/people", tags=["people"])

_PERSON_EXAMPLE: JsonDict = {
    "local_id": "HX-20431",
    "nhs_number": "9434765919",
    "given_name": "Alex",
    "family_name": "Morgan",
    "date_of_birth": "1987-05-14",
    "postcode": "BS5 6XX",
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
