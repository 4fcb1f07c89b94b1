"""Every write the same way: one transaction, Idempotency-Key honoured, errors mapped, one log line.

A command's events, its lookup rows and the key's stored answer commit together, so a retried
request with the same key gets the first answer and writes nothing again.
"""

from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Annotated

import structlog
from fastapi import Depends, Header, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel

from events.envelope import OrgId
from events.organisations import Organisations
from services.organisation.domain.errors import DomainError
from services.organisation.domain.recording import Recording
from services.organisation.entrypoints.http.domain_errors import api_error_for
from services.organisation.entrypoints.http.reads import units_of_work
from services.organisation.service_layer.unit_of_work import IdempotencyRecords, UnitOfWork
from services.runtime.api_keys import Caller
from services.runtime.event_store import TransactionTooOld
from services.runtime.http.auth import OrganisationCallerDep
from services.runtime.http.errors import ApiError, FieldError
from services.runtime.idempotency import (
    IdempotencyKeyReused,
    StoredResponse,
    request_fingerprint,
)
from services.runtime.person_keys import KeyUnreadable, RecordErased

log = structlog.get_logger("caseweave.organisation")
REPLAYED_HEADER = "Idempotent-Replayed"

IdempotencyKeyHeader = Annotated[
    str | None,
    Header(
        alias="Idempotency-Key",
        min_length=1,
        max_length=200,
        description="any unique string: a retry with the same key gets the first answer again",
    ),
]


FRESH_TRANSACTION_ATTEMPTS = 3


class CommandReceipt(BaseModel):
    """The answer to a write: identifiers, statuses and versions only, since it is logged whole."""


Command = Callable[[UnitOfWork, Recording], Awaitable[CommandReceipt]]


@dataclass(frozen=True)
class Writer:
    """Runs one write for a caller of this organisation, honouring its Idempotency-Key."""

    request: Request
    caller: Caller
    idempotency_key: str | None

    def ensure_organisations(self, field: str, orgs: str | Sequence[str] | None) -> None:
        """Answer 422 (`known_organisation`, naming the field, and the item of a list) unless
        each organisation request field `field` names is one of the place's."""
        place: Organisations = self.request.app.state.organisations
        named = [(field, orgs)] if isinstance(orgs, str) else [
            (f"{field}.{n}", org) for n, org in enumerate(orgs or ())
        ]  # fmt: skip
        unknown = [
            FieldError(
                field=f"body.{where}",
                rule="known_organisation",
                message=f"{org!r} is not an organisation of this place",
            )
            for where, org in named
            if org not in place
        ]
        if unknown:
            raise ApiError(422, "validation_failed", "no such organisation", fields=unknown)

    async def answer(
        self, command: str, *, body: BaseModel, status: int, run: Command
    ) -> JSONResponse:
        """Run a command once and answer it; a retried key gets the first answer again."""
        try:
            answer, replayed = await self._answer_once(body, status, run)
        except DomainError as error:
            log.info("command_rejected", command=command, code=error.code)
            raise api_error_for(error) from error
        except IdempotencyKeyReused as error:
            log.info("command_rejected", command=command, code="idempotency_key_reused")
            raise _key_reused() from error
        except KeyUnreadable as error:
            log.error("command_failed", command=command, code="key_unreadable")
            raise ApiError(
                503, "key_unreadable", "the person's key cannot be read; retry later"
            ) from error
        except RecordErased as error:  # erased while this command ran: as if never there
            log.info("command_rejected", command=command, code="not_found")
            raise ApiError(404, "not_found", "person not found") from error
        except TransactionTooOld as error:  # overtaken on every attempt: the stream is very busy
            log.info("command_rejected", command=command, code="concurrent_writes")
            raise ApiError(409, "concurrent_writes", "others kept writing; retry") from error
        outcome = "command_replayed" if replayed else "command_done"
        log.info(
            outcome, command=command, org=self.caller.org, http_status=answer.status, **answer.body
        )
        headers = {REPLAYED_HEADER: "true"} if replayed else None
        return JSONResponse(answer.body, answer.status, headers=headers)

    async def _answer_once(
        self, body: BaseModel, status: int, run: Command
    ) -> tuple[StoredResponse, bool]:
        """Run the command in a transaction, in a fresh one if a newer writer overtook it."""
        for _ in range(FRESH_TRANSACTION_ATTEMPTS - 1):
            try:
                return await self._answer_in_transaction(body, status, run)
            except TransactionTooOld:
                log.info("command_retried_in_new_transaction")
        return await self._answer_in_transaction(body, status, run)

    async def _answer_in_transaction(
        self, body: BaseModel, status: int, run: Command
    ) -> tuple[StoredResponse, bool]:
        uow: UnitOfWork
        async with units_of_work(self.request, self.caller.org)() as uow:
            earlier = await self._claim(uow.idempotency, body)
            if earlier is not None:
                return earlier, True
            receipt = await run(uow, self._recording(uow.org))
            answer = StoredResponse(status, receipt.model_dump(mode="json"))
            await self._remember(uow.idempotency, answer)
            await uow.commit()
        return answer, False

    async def _claim(self, records: IdempotencyRecords, body: BaseModel) -> StoredResponse | None:
        if self.idempotency_key is None:
            return None
        fingerprint = request_fingerprint(
            self.request.method, self.request.url.path, body.model_dump(mode="json")
        )
        return await records.claim(
            scope=self.caller.org, key=self.idempotency_key, fingerprint=fingerprint
        )

    async def _remember(self, records: IdempotencyRecords, answer: StoredResponse) -> None:
        if self.idempotency_key is not None:
            await records.remember(scope=self.caller.org, key=self.idempotency_key, response=answer)

    def _recording(self, org: OrgId) -> Recording:
        return Recording(
            org=org,
            actor=self.caller.actor,
            correlation_id=self.request.state.correlation_id,
            recorded_at=datetime.now(UTC),
        )


def _key_reused() -> ApiError:
    return ApiError(
        422,
        "idempotency_key_reused",
        "this Idempotency-Key was used for a different request; use a new key",
    )


async def writer(
    request: Request, caller: OrganisationCallerDep, idempotency_key: IdempotencyKeyHeader = None
) -> Writer:
    """Return the writer for a request by a caller of this organisation."""
    return Writer(request, caller, idempotency_key)


WriterDep = Annotated[Writer, Depends(writer)]
