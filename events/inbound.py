"""What an organisation's adapters record about the messages charities' own systems send
(signed webhooks, CSV rows): the ones that could not be applied are kept, with why, until
the mapping is fixed and they are applied again, or an operator discards them.

Each quarantined message is a stream of its own (`quarantine-<id>`); its subject is the
quarantine id, under whose key the message and the detail of why are sealed (discarding it
shreds them, and so does erasing the person it names). Nothing a charity sent is ever
silently dropped.
"""

from typing import Any
from uuid import UUID

from pydantic import Field

from events.identifiers import ShortText
from events.registry import EventPayload, event_type

INBOUND_CATEGORY = "adapters.inbound"
SourceName = str


@event_type("inbound.quarantined", category=INBOUND_CATEGORY)
class MessageQuarantined(EventPayload):
    """A charity's message that could not be applied, kept aside with the rule it broke.

    `detail` says why in words (it may quote the message, so it is sealed with it)."""

    personal_fields = frozenset({"message", "detail"})

    quarantine_id: UUID
    source: SourceName = Field(max_length=64, description="the source it came from")
    message_id: str = Field(max_length=200, description="the source's id of the message")
    field: str = Field(max_length=200, description="the field (the message's, or ours) at fault")
    rule: str = Field(max_length=64, description="the rule it broke")
    detail: str = Field(max_length=2000, description="why, in words")
    message: dict[str, Any] = Field(description="the message as the source sent it")
    person_token: str | None = Field(
        default=None,
        max_length=64,
        description="a keyed hash of the charity's id of the person it is about, if it names"
        " one: erasing that person finds the message by it, and shreds it too",
    )


@event_type("inbound.redriven", category=INBOUND_CATEGORY)
class MessageRedriven(EventPayload):
    """A quarantined message was applied after all (its mapping fixed, or the person known)."""

    quarantine_id: UUID
    command: str = Field(max_length=64, description="the command it was applied as")


@event_type("inbound.discarded", category=INBOUND_CATEGORY)
class MessageDiscarded(EventPayload):
    """An operator discarded a quarantined message, and said why: its contents are shredded."""

    quarantine_id: UUID
    reason: ShortText = Field(
        description="why, without personal details: the message's own go with it"
    )
