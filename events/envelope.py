"""The envelope every event travels in, whatever the transport."""

import secrets
import time
from datetime import datetime
from typing import Annotated, Any, Literal, get_args
from uuid import UUID

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, StringConstraints

ORG_ID_PATTERN = r"^[a-z][a-z0-9_]{1,39}$"
OrgId = Annotated[str, StringConstraints(pattern=ORG_ID_PATTERN)]
"""An organisation of the place (`events/organisations.py` lists them): lower case letters,
digits and underscores, as its database schema and Kafka topic are named."""
# what a person does at their organisation, as their key or token says (`actor` names it)
Role = Literal["frontline", "data_steward", "ig_lead", "ops"]
ROLES: tuple[Role, ...] = get_args(Role)


REFERRAL_INBOX = "referral_inbox"


def referral_inbox_actor(org: str) -> str:
    """Return the actor of what an organisation's referral inbox records (a receipt, and a
    registration made from the referral's copy of the sender's details)."""
    return f"{org}/{REFERRAL_INBOX}"


def recorded_by_referral_inbox(actor: str) -> bool:
    """Tell whether an event was recorded by a referral inbox, not by a person."""
    return actor.endswith(f"/{REFERRAL_INBOX}")


def new_event_id() -> UUID:
    """Return a fresh time-ordered UUID (version 7, RFC 9562)."""
    millis = time.time_ns() // 1_000_000 & ((1 << 48) - 1)
    rand_a = int.from_bytes(secrets.token_bytes(2), "big") & 0xFFF
    rand_b = int.from_bytes(secrets.token_bytes(8), "big") & ((1 << 62) - 1)
    return UUID(int=millis << 80 | 0x7 << 76 | rand_a << 64 | 0b10 << 62 | rand_b)


class Envelope(BaseModel):
    """One recorded event: who recorded what, about whom, where, and why it happened.

    `data` holds the payload as JSON; `events.registry.decode_payload` turns it into the typed,
    upcast payload model.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    event_id: UUID
    type: str
    schema_version: int = Field(ge=1)
    occurred_at: AwareDatetime
    recorded_at: AwareDatetime
    org: OrgId
    subject: str = Field(description="the recording organisation's own person reference")
    place: str = Field(description="geography code (ONS ward or local authority) it concerns")
    category: str = Field(description="kind of information, used by sharing rules")
    correlation_id: str
    causation_id: str | None = None
    actor: str = Field(description="who recorded it: organisation and API key id")
    data: dict[str, Any]

    def occurred_sort_key(self) -> tuple[datetime, datetime, UUID]:
        """Return the key that orders events in a person's timeline."""
        return (self.occurred_at, self.recorded_at, self.event_id)
