"""One side of a referral: made by the sender; received, then decided, by the receiver.

A referral whose person the receiver cannot tell among its own records is held
(`domain/referred_person.py`) until a worker chooses the record, or a new one: then it is
received, and can be decided.

The sender learns the receiver's answers (received, accepted with who leads the work,
declined with why) through its inbox and records them on its own side
(`referral.answered`), so its referral shows where things stand. The sender may withdraw a
referral the receiver has not decided; the receiver records that it learnt so and can no
longer decide it. A decision made before the withdrawal reached the receiver stands on both
sides (the withdrawal is kept in the history).
"""

from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Literal
from uuid import UUID, uuid5

from events.envelope import Envelope, OrgId
from events.recording_rules import ALREADY_RECORDED
from events.registry import EventPayload, decode_payload
from events.shared import (
    FoundBy,
    KeyWorker,
    PersonDetails,
    ReferralAccepted,
    ReferralAnswered,
    ReferralCandidate,
    ReferralDeclined,
    ReferralHeld,
    ReferralMade,
    ReferralReceived,
    ReferralWithdrawalReceived,
    ReferralWithdrawn,
    Urgency,
    referred_person_id,
)
from services.organisation.domain.commands import (
    DeclineReferral,
    MakeReferral,
    WithdrawReferral,
)
from services.organisation.domain.errors import (
    NotTheReferredPerson,
    NotTheSender,
    PersonAlreadyChosen,
    PersonNotChosen,
    ReferralAlreadyDecided,
    ReferralNotReceived,
    ReferralToOwnOrganisation,
)
from services.organisation.domain.errors import ReferralWithdrawn as WithdrawnBySender
from services.organisation.domain.people import PersonState
from services.organisation.domain.referred_person import may_be_the_referred_person

ReferralStatus = Literal["made", "held", "received", "accepted", "declined", "withdrawn"]
DECIDED: frozenset[ReferralStatus] = frozenset({"accepted", "declined"})


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
    key_worker: KeyWorker | None = None  # who leads the work, once accepted
    answered_at: datetime | None = None  # the sender's side: when the receiver last answered
    withdrawn_at: datetime | None = None
    withdrawal_reason: str | None = None
    found_by: FoundBy | None = None  # the receiver's side: how its person was found
    match_score: float | None = None
    referred: PersonDetails | None = None  # held: the sender's details of the person
    candidates: tuple[ReferralCandidate, ...] = ()  # held: the records it may be about
    place: str | None = None  # held, or withdrawn while held: where it was made (no record yet)

    @property
    def decided(self) -> bool:
        """Tell whether the receiver accepted or declined it (as this side knows)."""
        return self.status in DECIDED


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
    if isinstance(payload, ReferralHeld):
        return ReferralState(
            payload.referral_id, "held", payload.from_org, envelope.org,
            payload.person_id, payload.reason, payload.urgency,
            referred=payload.person, candidates=tuple(payload.candidates),
            place=envelope.place,
        )  # fmt: skip
    if isinstance(payload, ReferralReceived):
        received = ReferralState(
            payload.referral_id, "received", payload.from_org, envelope.org,
            payload.person_id, payload.reason, payload.urgency,
            found_by=payload.found_by, match_score=payload.match_score,
        )  # fmt: skip
        return received if state is None else replace(received, history=state.history)
    return None if state is None else _moved_on(state, envelope, payload)


def _moved_on(state: ReferralState, envelope: Envelope, payload: EventPayload) -> ReferralState:
    """Return a referral's state after a later step on this side."""
    if isinstance(payload, ReferralAccepted):
        return replace(
            state, status="accepted", case_id=payload.case_id, key_worker=payload.key_worker
        )
    if isinstance(payload, ReferralDeclined):
        return replace(state, status="declined", decline_reason=payload.reason)
    if isinstance(payload, ReferralAnswered):
        return _answered(state, payload)
    if isinstance(payload, ReferralWithdrawn | ReferralWithdrawalReceived):
        withdrawn = replace(state, withdrawn_at=envelope.occurred_at)
        if isinstance(payload, ReferralWithdrawn):
            withdrawn = replace(withdrawn, withdrawal_reason=payload.reason)
        return withdrawn if state.decided else replace(withdrawn, status="withdrawn")
    return state


def _answered(state: ReferralState, answer: ReferralAnswered) -> ReferralState:
    """The sender's side after the receiver's answer: a decision stands even over a
    withdrawal it crossed; "received" only moves a referral on from "made"."""
    state = replace(state, answered_at=answer.answered_at)
    if answer.answer == "received":
        return replace(state, status="received") if state.status == "made" else state
    if answer.answer == "accepted":
        return replace(state, status="accepted", key_worker=answer.key_worker)
    return replace(state, status="declined", decline_reason=answer.reason)


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


def receive_referral(
    made: ReferralMade,
    *,
    from_org: OrgId,
    person_id: UUID,
    found_by: FoundBy,
    match_score: float | None = None,
) -> ReferralReceived:
    """Decide the event that puts a referral in the receiver's inbox, for its own person.

    The reason is the sender's, as the sender recorded it: it is not checked again.
    """
    received = {
        "referral_id": made.referral_id,
        "person_id": person_id,
        "from_org": from_org,
        "reason": made.reason,
        "urgency": made.urgency,
        "found_by": found_by,
        "match_score": match_score,
    }
    return ReferralReceived.model_validate(received, context=ALREADY_RECORDED)


def hold_referral(
    made: ReferralMade,
    *,
    from_org: OrgId,
    referred: PersonDetails,
    candidates: tuple[ReferralCandidate, ...],
) -> ReferralHeld:
    """Decide the event that holds a referral until a worker chooses its person among
    `candidates` (or none: a new record, registered from `referred`)."""
    held = {
        "referral_id": made.referral_id,
        "person_id": referred_person_id(made.referral_id),
        "from_org": from_org,
        "reason": made.reason,
        "urgency": made.urgency,
        "person": referred,
        "candidates": list(candidates),
    }
    return ReferralHeld.model_validate(held, context=ALREADY_RECORDED)


def accept_referral(
    state: ReferralState,
    *,
    own_org: OrgId,
    case_id: UUID | None,
    key_worker: KeyWorker | None,
    shared_with_sender: bool = True,
) -> ReferralAccepted:
    """Decide the event that accepts a received referral (naming the case opened for it and
    who leads it, if any; `shared_with_sender` False where the person's decisions keep this
    organisation's records from the sender)."""
    ensure_decidable(state, own_org)
    return ReferralAccepted(
        referral_id=state.referral_id,
        person_id=state.person_id,
        from_org=state.from_org,
        case_id=case_id,
        key_worker=key_worker,
        shared_with_sender=shared_with_sender,
    )


def decline_referral(
    state: ReferralState,
    command: DeclineReferral,
    *,
    own_org: OrgId,
    shared_with_sender: bool = True,
) -> ReferralDeclined:
    """Decide the event that declines a received referral, with the reason."""
    ensure_decidable(state, own_org)
    return ReferralDeclined(
        referral_id=state.referral_id,
        person_id=state.person_id,
        from_org=state.from_org,
        reason=command.reason,
        shared_with_sender=shared_with_sender,
    )


def ensure_decidable(state: ReferralState, own_org: OrgId) -> None:
    """Refuse deciding a referral this organisation did not receive, was withdrawn, is held
    (its person not chosen yet) or was decided already."""
    if state.to_org != own_org:  # this organisation made it
        raise ReferralNotReceived(state.referral_id)
    if state.status == "withdrawn":
        raise WithdrawnBySender(state.referral_id)
    if state.status == "held":
        raise PersonNotChosen(state.referral_id)
    if state.status != "received":
        raise ReferralAlreadyDecided(state.referral_id, state.status)


def choose_person(
    state: ReferralState, *, own_org: OrgId, chosen: PersonState | None
) -> ReferralReceived:
    """Decide the event that takes a held referral in against the record a worker chose,
    or (`chosen` None) against one registered for it from its copy of the details, under
    the referral's own person id."""
    if state.to_org != own_org:
        raise ReferralNotReceived(state.referral_id)
    if state.status == "withdrawn":
        raise WithdrawnBySender(state.referral_id)
    if state.status != "held" or state.referred is None:
        raise PersonAlreadyChosen(state.referral_id, state.status)
    if chosen is not None and not may_be_the_referred_person(state.referred, chosen.details):
        raise NotTheReferredPerson(chosen.person_id)
    received = {
        "referral_id": state.referral_id,
        "person_id": state.person_id if chosen is None else chosen.person_id,
        "from_org": state.from_org,
        "reason": state.reason,
        "urgency": state.urgency,
        "found_by": "new_record" if chosen is None else "receiver",
    }
    return ReferralReceived.model_validate(received, context=ALREADY_RECORDED)


def withdraw_referral(
    state: ReferralState, command: WithdrawReferral, *, own_org: OrgId
) -> ReferralWithdrawn:
    """Decide the event that withdraws a referral this organisation made, with the reason."""
    if state.from_org != own_org:
        raise NotTheSender(state.referral_id)
    if state.decided or state.status == "withdrawn":
        raise ReferralAlreadyDecided(state.referral_id, state.status)
    return ReferralWithdrawn(
        referral_id=state.referral_id,
        person_id=state.person_id,
        to_org=state.to_org,
        reason=command.reason,
    )


def answer_to_sender(
    state: ReferralState,
    answer: EventPayload,
    *,
    by_org: OrgId,
    answered_at: datetime,
    withheld: bool = False,
) -> ReferralAnswered | None:
    """Return the sender's record of the receiver's answer (None when this side already
    knows it, or the answer is not one: a record of it twice would say nothing new).

    A decision the person's decisions keep from the sender (`withheld`, or the receiver
    said so) is known to it only as "received", as the single view shows it; so is a
    referral the receiver holds until it says which of its records is the person (whether
    it holds one like them is not the sender's to learn, not even by the delay)."""
    kept_back = withheld or not getattr(answer, "shared_with_sender", True)
    if isinstance(answer, ReferralReceived | ReferralHeld) or kept_back:
        said: dict[str, object] = {"answer": "received"}
    elif isinstance(answer, ReferralAccepted):
        said = {"answer": "accepted", "key_worker": answer.key_worker}
    elif isinstance(answer, ReferralDeclined):
        said = {"answer": "declined", "reason": answer.reason}
    else:
        return None
    if state.status == said["answer"] or (state.decided and said["answer"] == "received"):
        return None
    answered = {
        "referral_id": state.referral_id,
        "person_id": state.person_id,
        "by_org": by_org,
        "answered_at": answered_at,
        **said,
    }
    return ReferralAnswered.model_validate(answered, context=ALREADY_RECORDED)


def withdrawal_to_receiver(state: ReferralState) -> ReferralWithdrawalReceived | None:
    """Return the receiver's record that the sender withdrew the referral (None when it was
    decided first: the decision stands, or when it is known already)."""
    if state.status not in ("held", "received"):
        return None
    return ReferralWithdrawalReceived(
        referral_id=state.referral_id, person_id=state.person_id, from_org=state.from_org
    )


def derived_event_id(source_event_id: UUID, label: str) -> UUID:
    """Return the id of an event derived from another, the same however often it is derived."""
    return uuid5(source_event_id, label)
