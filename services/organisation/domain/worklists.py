"""A frontline worker's lists: referrals waiting on either side, caseloads, people to find.

The lists are a read model of the organisation's own log: each event changes at most one row
(`worklist_change`). Only values that are never sealed are listed (ids, statuses, times,
organisations, urgency, the key worker leading a case); a person's family name and date of
birth are kept only as keyed hashes (`search_token`), enough to find a person by them and
nothing to read them from, and names are opened from the person's own stream when a page is
shown.
"""

import base64
import binascii
import hashlib
import hmac
import json
import unicodedata
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any, Generic, Literal, TypeVar
from uuid import UUID

from events.envelope import Envelope, OrgId
from events.shared import (
    CaseClosed,
    CaseOpened,
    DetailsChange,
    EnteredInError,
    KeyWorker,
    PersonDetails,
    PersonDetailsChanged,
    PersonRegistered,
    ReferralAccepted,
    ReferralAnswered,
    ReferralDeclined,
    ReferralHeld,
    ReferralMade,
    ReferralReceived,
    ReferralWithdrawalReceived,
    ReferralWithdrawn,
)

Row = TypeVar("Row")
Direction = Literal["incoming", "outgoing"]
ReferralListStatus = Literal["made", "held", "received", "accepted", "declined", "withdrawn"]
REFERRAL_RANK: dict[str, int] = {
    "made": 0,
    "held": 1,
    "received": 1,
    "withdrawn": 2,
    "accepted": 3,
    "declined": 3,
}  # fmt: skip  (a held referral is listed again as received once its person is chosen)
CaseListStatus = Literal["open", "closed"]
_REFERRAL_MOVES: dict[str, ReferralListStatus] = {
    ReferralAccepted.event_type: "accepted",
    ReferralDeclined.event_type: "declined",
    ReferralAnswered.event_type: "received",  # its `answer` says which
    ReferralWithdrawn.event_type: "withdrawn",
    ReferralWithdrawalReceived.event_type: "withdrawn",
}
_LISTED_AS: dict[str, ReferralListStatus] = {
    ReferralMade.event_type: "made",
    ReferralHeld.event_type: "held",
    ReferralReceived.event_type: "received",
}
_KEY_WORKER_CHANGES = frozenset(
    {"mental_health.care_coordinator_assigned", "voluntary.key_worker_assigned"}
)
_LEAD_FIELDS = {  # the field naming the new lead, by event type
    "mental_health.care_coordinator_assigned": "coordinator",
    "voluntary.key_worker_assigned": "key_worker",
}


@dataclass(frozen=True)
class ReferralListed:
    """A referral enters the list: made by this organisation, or received by it."""

    referral_id: UUID
    direction: Direction
    status: ReferralListStatus
    other_org: OrgId
    person_id: UUID
    urgency: str
    at: datetime


@dataclass(frozen=True)
class ReferralMoved:
    """A referral moved on: decided by the receiver (on either side), received by it (the
    sender's side), or withdrawn by the sender (on either side). A referral never moves back
    (`REFERRAL_RANK`): a decision stands over a withdrawal it crossed."""

    referral_id: UUID
    status: ReferralListStatus
    at: datetime


@dataclass(frozen=True)
class CaseListed:
    """A case enters the caseload, open, with who leads it."""

    case_id: UUID
    person_id: UUID
    key_worker: str
    key_worker_email: str | None
    at: datetime


@dataclass(frozen=True)
class CaseLeadChanged:
    """Someone else leads the case now."""

    case_id: UUID
    key_worker: str
    key_worker_email: str | None
    at: datetime


@dataclass(frozen=True)
class CaseClosedListed:
    """The case is closed."""

    case_id: UUID
    at: datetime


@dataclass(frozen=True)
class CaseReopened:
    """The case's closing was entered in error: it is open again."""

    case_id: UUID
    at: datetime


@dataclass(frozen=True)
class PersonListed:
    """A person can be found by their family name and date of birth (as keyed hashes)."""

    person_id: UUID
    family_name_token: bytes
    date_of_birth_token: bytes
    at: datetime


@dataclass(frozen=True)
class PersonSearchChanged:
    """A person is found by a new family name or birth date (a token None: unchanged)."""

    person_id: UUID
    family_name_token: bytes | None
    date_of_birth_token: bytes | None


WorklistChange = (
    ReferralListed
    | ReferralMoved
    | CaseListed
    | CaseLeadChanged
    | CaseClosedListed
    | CaseReopened
    | PersonListed
    | PersonSearchChanged
)
_SEALED_CHANGES = frozenset({PersonRegistered.event_type, PersonDetailsChanged.event_type})


def restores_a_lead(envelope: Envelope) -> bool:
    """Tell whether an event retracts a change of who leads a case: who leads it again is
    the case's to say (its stream, folded without the retracted change: `lead_restored`)."""
    return (
        envelope.type == EnteredInError.event_type
        and envelope.data.get("retracted_type") in _KEY_WORKER_CHANGES
    )


def lead_restored(envelope: Envelope, lead: KeyWorker) -> CaseLeadChanged:
    """Return the change a retracted change of lead makes: the case's lead as it stands
    without it (a later change, applied after this one, sets its own again)."""
    return CaseLeadChanged(
        UUID(str(envelope.data["case_id"])), lead.name, lead.email, envelope.occurred_at
    )


def needs_opening(envelope: Envelope) -> bool:
    """Tell whether the change an event makes needs its sealed values (a registration's
    details, or what changed of them, to make search tokens)."""
    return envelope.type in _SEALED_CHANGES


def worklist_change(
    envelope: Envelope,
    *,
    details: PersonDetails | DetailsChange | None,
    search_key: bytes,
) -> WorklistChange | None:
    """Return the change an event of this organisation's log makes to its lists (None: none).

    `details` are a registration's opened details, or a change's opened changes (None when
    the person was erased since: nobody can find them any more).
    """
    data, at = envelope.data, envelope.occurred_at
    kind = envelope.type
    if kind in _SEALED_CHANGES:
        return _search_change(UUID(str(data["person_id"])), details, search_key, at)
    if kind in _LISTED_AS:
        made = kind == ReferralMade.event_type
        return ReferralListed(
            UUID(str(data["referral_id"])),
            "outgoing" if made else "incoming",
            _LISTED_AS[kind],
            data["to_org"] if made else data["from_org"],
            UUID(str(data["person_id"])),
            str(data.get("urgency") or "routine"),
            at,
        )
    moved_to = _REFERRAL_MOVES.get(kind)
    if moved_to is not None:
        status = data.get("answer", moved_to)  # an answer says where the receiver moved it
        return ReferralMoved(UUID(str(data["referral_id"])), status, at)
    return _case_change(kind, data, at)


def _search_change(
    person_id: UUID, details: PersonDetails | DetailsChange | None, key: bytes, at: datetime
) -> WorklistChange | None:
    """Return how a registration or a change of details changes who is found by what."""
    if isinstance(details, PersonDetails):
        return PersonListed(
            person_id,
            search_token(key, "family_name", details.family_name),
            search_token(key, "date_of_birth", details.date_of_birth),
            at,
        )
    changed = set() if details is None else details.model_fields_set
    if not changed & {"family_name", "date_of_birth"}:
        return None
    assert details is not None
    family, born = details.family_name, details.date_of_birth
    return PersonSearchChanged(
        person_id,
        search_token(key, "family_name", family) if family is not None else None,
        search_token(key, "date_of_birth", born) if born is not None else None,
    )


def _case_change(kind: str, data: dict[str, Any], at: datetime) -> WorklistChange | None:
    if kind == CaseOpened.event_type:
        lead = data["key_worker"]
        return CaseListed(
            UUID(str(data["case_id"])),
            UUID(str(data["person_id"])),
            lead["name"],
            lead.get("email"),
            at,
        )
    if kind in _KEY_WORKER_CHANGES:
        lead = data[_LEAD_FIELDS[kind]]
        return CaseLeadChanged(UUID(str(data["case_id"])), lead["name"], lead.get("email"), at)
    if kind == CaseClosed.event_type:
        return CaseClosedListed(UUID(str(data["case_id"])), at)
    if kind == EnteredInError.event_type and data.get("retracted_type") == CaseClosed.event_type:
        return CaseReopened(UUID(str(data["case_id"])), at)
    return None


def search_token(key: bytes, field: str, value: str | date) -> bytes:
    """Return the keyed hash a value is found by: the same for the same name however it was
    typed (case, accents, spaces, hyphens and apostrophes aside), never the value itself."""
    text = value.isoformat() if isinstance(value, date) else _folded(value)
    return hmac.new(key, f"{field}:{text}".encode(), hashlib.sha256).digest()


def _folded(name: str) -> str:
    """Return a name as it is compared: no accents, no case, letters and digits only."""
    plain = unicodedata.normalize("NFKD", name)
    return "".join(c for c in plain if c.isalnum() and not unicodedata.combining(c)).casefold()


class BadCursor(ValueError):
    """A page cursor this service did not give out (or for another list)."""


@dataclass(frozen=True)
class ReferralRow:
    """A referral as its list keeps it."""

    referral_id: UUID
    direction: Direction
    status: ReferralListStatus
    other_org: OrgId
    person_id: UUID
    urgency: str
    listed_at: datetime
    updated_at: datetime


@dataclass(frozen=True)
class CaseRow:
    """A case as the caseload keeps it."""

    case_id: UUID
    person_id: UUID
    status: CaseListStatus
    key_worker: str
    key_worker_email: str | None
    opened_at: datetime
    updated_at: datetime


@dataclass(frozen=True)
class PersonRow:
    """A person found (their details are read from their own stream)."""

    person_id: UUID
    registered_at: datetime


@dataclass(frozen=True)
class Page(Generic[Row]):
    """One page of a list, newest first: its rows, how many match in all, and the cursor of
    the next page (None on the last)."""

    rows: list[Row]
    total: int
    next_cursor: str | None


def next_cursor(table: str, at: datetime, key: UUID) -> str:
    """Return the opaque cursor of the page after the row (`at`, `key`) of `table`."""
    raw = json.dumps([table, at.isoformat(), str(key)], separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def cursor_after(cursor: str | None, table: str) -> tuple[datetime, UUID] | None:
    """Return where a cursor of `table` says the next page starts (BadCursor if it is not one)."""
    if cursor is None:
        return None
    try:
        padded = cursor + "=" * (-len(cursor) % 4)
        made_for, at, key = json.loads(base64.urlsafe_b64decode(padded.encode()))
        after = datetime.fromisoformat(at), UUID(key)
    except (ValueError, TypeError, AttributeError, binascii.Error) as error:
        raise BadCursor("not a cursor this list gave out") from error
    if made_for != table:
        raise BadCursor("a cursor of another list")
    if after[0].tzinfo is None:
        raise BadCursor("not a cursor this list gave out")
    return after
