"""Every read the same way: a caller of this organisation, state loaded, not found mapped to 404."""

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Annotated, TypeVar

from fastapi import Depends, Request

from events.envelope import OrgId
from services.organisation.domain.errors import DomainError
from services.organisation.entrypoints.http.domain_errors import api_error_for
from services.organisation.service_layer.unit_of_work import UnitOfWork
from services.runtime.http.auth import OrganisationCallerDep

T = TypeVar("T")


@dataclass(frozen=True)
class Reader:
    """Runs one query against this organisation's stores."""

    request: Request
    org: OrgId

    async def query(self, run: Callable[[UnitOfWork], Awaitable[T]]) -> T:
        """Return what `run` finds, answering a domain error (e.g. not found) over HTTP."""
        uow: UnitOfWork
        try:
            async with units_of_work(self.request, self.org)() as uow:
                return await run(uow)
        except DomainError as error:
            raise api_error_for(error) from error


async def reader(request: Request, caller: OrganisationCallerDep) -> Reader:
    """Return the reader for a request by a caller of an organisation served here: of its
    own organisation's stores."""
    return Reader(request, caller.org)


def units_of_work(request: Request, org: OrgId) -> Callable[[], UnitOfWork]:
    """Return the units of work over `org`'s stores (an organisation this service serves)."""
    served: dict[OrgId, Callable[[], UnitOfWork]] = request.app.state.units_of_work
    return served[org]


ReaderDep = Annotated[Reader, Depends(reader)]
