"""Referrals: refer a person to another organisation; accept or decline referrals received."""

from typing import Annotated, cast
from uuid import UUID

from fastapi import APIRouter, Query, Request, Response

from events.shared import Urgency
from services.organisation.domain.commands import (
    AcceptReferral,
    ChooseReferredPerson,
    DeclineReferral,
    MakeReferral,
    WithdrawReferral,
)
from services.organisation.domain.recording import Recording
from services.organisation.domain.worklists import Direction, ReferralListStatus
from services.organisation.entrypoints.http.lists import (
    DEFAULT_LIMIT,
    Cursor,
    Limit,
    listed,
    listed_person,
    page_links,
)
from services.organisation.entrypoints.http.openapi import error_responses
from services.organisation.entrypoints.http.reads import ReaderDep
from services.organisation.entrypoints.http.referral_models import (
    ReferralAccept,
    ReferralCreate,
    ReferralDecisionReceipt,
    ReferralDecline,
    ReferralList,
    ReferralListItem,
    ReferralPersonChoice,
    ReferralPublic,
    ReferralReceipt,
    ReferralWithdraw,
)
from services.organisation.entrypoints.http.writes import WriterDep
from services.organisation.service_layer import referrals, worklists
from services.organisation.service_layer.referrals import ReferralDecided
from services.organisation.service_layer.unit_of_work import UnitOfWork

router = APIRouter(prefix="/v1/referrals", tags=["referrals"])


@router.post(
    "",
    status_code=201,
    response_model=ReferralReceipt,
    summary="Refer a person to another organisation",
    responses=error_responses(401, 403, 404, 422),
)
async def make_referral(body: ReferralCreate, writer: WriterDep) -> Response:
    """Refer a registered person; the referral carries their details for the receiver."""
    writer.ensure_organisations("to_org", body.to_org)
    command = MakeReferral(body.person_id, body.to_org, body.reason, body.urgency)

    async def run(uow: UnitOfWork, recording: Recording) -> ReferralReceipt:
        referral_id = await referrals.make_referral(uow, recording=recording, command=command)
        return ReferralReceipt(referral_id=referral_id)

    return await writer.answer("make_referral", body=body, status=201, run=run)


@router.get(
    "",
    summary="List referrals: the ones waiting for you, or those you made",
    responses=error_responses(401, 403, 422),
)
async def list_referrals(
    *,
    request: Request,
    reader: ReaderDep,
    direction: Annotated[
        Direction,
        Query(description="`incoming`: received by this organisation; `outgoing`: made by it"),
    ] = "incoming",
    status: Annotated[
        list[ReferralListStatus] | None,
        Query(description="only these statuses (repeat the parameter for several)"),
    ] = None,
    limit: Limit = DEFAULT_LIMIT,
    cursor: Cursor = None,
) -> ReferralList:
    """A worklist: the referrals received (or made), newest first, each with the person as
    this organisation registered them; a page at a time, with the total and a `next` link.
    Lists follow the organisation's log within moments of a change."""
    page = await listed(
        reader,
        lambda uow: worklists.referrals_page(
            uow, direction=direction, statuses=status or [], limit=limit, cursor=cursor
        ),
    )
    items = [
        ReferralListItem(
            referral_id=item.row.referral_id,
            direction=item.row.direction,
            status=item.row.status,
            other_org=item.row.other_org,
            urgency=cast(Urgency, item.row.urgency),
            person=listed_person(item.row.person_id, page, index),
            listed_at=item.row.listed_at,
            updated_at=item.row.updated_at,
        )
        for index, item in enumerate(page.items)
    ]
    return ReferralList(items=items, **page_links(request, page, limit).model_dump())


@router.get("/{referral_id}", summary="Read a referral", responses=error_responses(401, 403, 404))
async def read_referral(referral_id: UUID, reader: ReaderDep) -> ReferralPublic:
    """Return this organisation's side of a referral: made, received, accepted or declined."""
    state = await reader.query(lambda uow: referrals.get_referral(uow, referral_id))
    return ReferralPublic.from_state(state)


@router.post(
    "/{referral_id}/accept",
    response_model=ReferralDecisionReceipt,
    summary="Accept a referral received",
    responses=error_responses(401, 403, 404, 409, 422),
)
async def accept_referral(
    referral_id: UUID, writer: WriterDep, body: ReferralAccept | None = None
) -> Response:
    """Accept a referral this organisation received; with a key worker, open a case too."""
    body = body or ReferralAccept()
    command = AcceptReferral(referral_id, body.key_worker)

    async def run(uow: UnitOfWork, recording: Recording) -> ReferralDecisionReceipt:
        decided = await referrals.accept_referral(uow, recording=recording, command=command)
        return _receipt(decided)

    return await writer.answer("accept_referral", body=body, status=200, run=run)


@router.post(
    "/{referral_id}/decline",
    response_model=ReferralDecisionReceipt,
    summary="Decline a referral received",
    responses=error_responses(401, 403, 404, 409, 422),
)
async def decline_referral(referral_id: UUID, body: ReferralDecline, writer: WriterDep) -> Response:
    """Decline a referral this organisation received, saying why."""
    command = DeclineReferral(referral_id, body.reason)

    async def run(uow: UnitOfWork, recording: Recording) -> ReferralDecisionReceipt:
        decided = await referrals.decline_referral(uow, recording=recording, command=command)
        return _receipt(decided)

    return await writer.answer("decline_referral", body=body, status=200, run=run)


@router.post(
    "/{referral_id}/person",
    response_model=ReferralDecisionReceipt,
    summary="Say which of your records a held referral is about",
    responses=error_responses(401, 403, 404, 409, 422),
)
async def choose_referred_person(
    referral_id: UUID, body: ReferralPersonChoice, writer: WriterDep
) -> Response:
    """A referral whose person may be one of several records of this organisation's, or
    matches one only middling well, is `held` (see its `referred_person` and `candidates`):
    say which record it is about (`person_id`: any of yours, not only a candidate, but never
    one with another NHS number), or that none is (`new_record: true`: the person is
    registered from the referral's details). It is then `received`, and can be accepted or
    declined. Choosing a record shreds the referral's own copy of the details."""
    command = ChooseReferredPerson(referral_id, body.person_id)

    async def run(uow: UnitOfWork, recording: Recording) -> ReferralDecisionReceipt:
        chosen = await referrals.choose_referred_person(uow, recording=recording, command=command)
        return _receipt(chosen)

    return await writer.answer("choose_referred_person", body=body, status=200, run=run)


@router.post(
    "/{referral_id}/withdraw",
    response_model=ReferralDecisionReceipt,
    summary="Withdraw a referral made",
    responses=error_responses(401, 403, 404, 409, 422),
)
async def withdraw_referral(
    referral_id: UUID, body: ReferralWithdraw, writer: WriterDep
) -> Response:
    """Withdraw a referral this organisation made, saying why, while the receiver has not
    accepted or declined it as far as this organisation knows (else 409). The receiver
    learns it through its inbox; a decision it made before then stands on both sides."""
    command = WithdrawReferral(referral_id, body.reason)

    async def run(uow: UnitOfWork, recording: Recording) -> ReferralDecisionReceipt:
        decided = await referrals.withdraw_referral(uow, recording=recording, command=command)
        return _receipt(decided)

    return await writer.answer("withdraw_referral", body=body, status=200, run=run)


def _receipt(decided: ReferralDecided) -> ReferralDecisionReceipt:
    return ReferralDecisionReceipt.model_validate(decided._asdict())
