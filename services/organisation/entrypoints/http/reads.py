"""Every read the same way: a caller of this organisation, state loaded, not found mapped to 404."""

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Annotated, TypeVar

from fastapi import Depends, Request

from services.organisation.domain.errors import DomainError
from services.organisation.entrypoints.http.domain_errors import api_error_for
from services.organisation.service_layer.unit_of_work import UnitOfWork
from services.runtime.http.auth import OrganisationCallerDep

T = TypeVar("T")


@dataclass(frozen=True)
class Reader:
    """Runs one query against this organisation's stores."""

    request: Request

    async def query(self, run: Callable[[UnitOfWork], Awaitable[T]]) -> T:
        """Return what `run` finds, answering a domain error (e.g. not found) over HTTP."""
        uow: UnitOfWork
        try:
            async with self.request.app.state.unit_of_work() as uow:
                return await run(uow)
        except DomainError as error:
            raise api_error_for(error) from error


async def reader(request: Request, _caller: OrganisationCallerDep) -> Reader:
    """Return the reader for a request by a caller of this organisation."""
    return Reader(request)


ReaderDep = Annotated[Reader, Depends(reader)]
