"""One side of a referral: made by the sender; received, then decided, by the receiver."""

from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Literal
from uuid import UUID, uuid5

from events.envelope import Envelope, OrgId
from events.recording_rules import ALREADY_RECORDED
from events.registry import EventPayload, decode_payload
from events.shared import (
    ReferralAccepted,
    ReferralDeclined,
    ReferralMade,
    ReferralReceived,
    Urgency,
)
from services.organisation.domain.commands import DeclineReferral, MakeReferral
from services.organisation.domain.errors import (
    ReferralAlreadyDecided,
    ReferralNotReceived,
    ReferralToOwnOrganisation,
)
from services.organisation.domain.people import PersonState

ReferralStatus = Literal["made", "received", "accepted", "declined"]


@dataclass(frozen=True)
class ReferralStep:
    """One event in a referral's life on this side."""

    type: str
    event_id: UUID
    occurred_at: datetime


@dataclass(frozen=True)
class ReferralState:
    """This organisation's side of a referral; `person_id` is this organisation's person."""

    referral_id: UUID
    status: ReferralStatus
    from_org: OrgId
    to_org: OrgId
    person_id: UUID
    reason: str
    urgency: Urgency
    history: tuple[ReferralStep, ...] = ()
    version: int = 0
    case_id: UUID | None = None
    decline_reason: str | None = None


def referral_from(events: Sequence[Envelope]) -> ReferralState | None:
    """Fold a referral's stream on this side into its state (None when the stream is empty)."""
    state: ReferralState | None = None
    for envelope in events:
        payload = decode_payload(envelope.type, envelope.schema_version, envelope.data)
        state = _apply(state, envelope, payload)
        if state is not None:
            step = ReferralStep(envelope.type, envelope.event_id, envelope.occurred_at)
            state = replace(state, history=(*state.history, step))
    return replace(state, version=len(events)) if state else None


def _apply(
    state: ReferralState | None, envelope: Envelope, payload: EventPayload
) -> ReferralState | None:
    if isinstance(payload, ReferralMade):
        return ReferralState(
            payload.referral_id, "made", envelope.org, payload.to_org,
            payload.person_id, payload.reason, payload.urgency,
        )  # fmt: skip
    if isinstance(payload, ReferralReceived):
        return ReferralState(
            payload.referral_id, "received", payload.from_org, envelope.org,
            payload.person_id, payload.reason, payload.urgency,
        )  # fmt: skip
    if state is not None and isinstance(payload, ReferralAccepted):
        return replace(state, status="accepted", case_id=payload.case_id)
    if state is not None and isinstance(payload, ReferralDeclined):
        return replace(state, status="declined", decline_reason=payload.reason)
    return state


def make_referral(
    person: PersonState, command: MakeReferral, *, own_org: OrgId, referral_id: UUID
) -> ReferralMade:
    """Decide the event that refers a person to another organisation, with their details."""
    if command.to_org == own_org:
        raise ReferralToOwnOrganisation()
    return ReferralMade(
        referral_id=referral_id,
        person_id=person.person_id,
        to_org=command.to_org,
        reason=command.reason,
        urgency=command.urgency,
        person=person.details,
    )


def receive_referral(made: ReferralMade, *, from_org: OrgId, person_id: UUID) -> ReferralReceived:
    """Decide the event that puts a referral in the receiver's inbox, for its own person.

    The reason is the sender's, as the sender recorded it: it is not checked again.
    """
    received = {
        "referral_id": made.referral_id,
        "person_id": person_id,
        "from_org": from_org,
        "reason": made.reason,
        "urgency": made.urgency,
    }
    return ReferralReceived.model_validate(received, context=ALREADY_RECORDED)


def accept_referral(state: ReferralState, *, case_id: UUID | None) -> ReferralAccepted:
    """Decide the event that accepts a received referral (naming the case opened for it, if any)."""
    _ensure_undecided(state)
    return ReferralAccepted(
        referral_id=state.referral_id,
        person_id=state.person_id,
        from_org=state.from_org,
        case_id=case_id,
    )


def decline_referral(state: ReferralState, command: DeclineReferral) -> ReferralDeclined:
    """Decide the event that declines a received referral, with the reason."""
    _ensure_undecided(state)
    return ReferralDeclined(
        referral_id=state.referral_id,
        person_id=state.person_id,
        from_org=state.from_org,
        reason=command.reason,
    )


def _ensure_undecided(state: ReferralState) -> None:
    if state.status == "made":
        raise ReferralNotReceived(state.referral_id)
    if state.status != "received":
        raise ReferralAlreadyDecided(state.referral_id, state.status)


def referred_person_id(referral_id: UUID) -> UUID:
    """Return the id a receiver gives an unknown referred person: the same on every replay."""
    return uuid5(referral_id, "person")


def derived_event_id(source_event_id: UUID, label: str) -> UUID:
    """Return the id of an event derived from another, the same however often it is derived."""
    return uuid5(source_event_id, label)
