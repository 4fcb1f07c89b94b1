"""Which Kafka messages a referral inbox acts on: those `inbox.is_for` this organisation
(referrals made to it or withdrawn from it, answers to those it made), or poison.

Pure. A message of another type (by its `event_type` header, or by its envelope when headers
are missing) is none of this inbox's business and is passed over. One this release cannot
read is poison: the inbox sets it aside on the dead-letter topic rather than lose it silently
or stop taking in every other.
"""

from pydantic import ValidationError

from events.envelope import Envelope, OrgId
from services.organisation.service_layer.inbox import INBOX_TYPES, is_for
from services.runtime.kafka.consumed import (
    ConsumedMessage,
    PoisonMessage,
    payload_or_poison,
    validation_detail,
)
from services.runtime.kafka.messages import EVENT_TYPE, envelope_from_value

_DECLARED = frozenset(kind.encode() for kind in INBOX_TYPES)


def referral_in(message: ConsumedMessage, org: OrgId) -> Envelope | PoisonMessage | None:
    """Return the referral step for `org` a message carries, why it is poison, or None."""
    declared = next((value for name, value in message.headers if name == EVENT_TYPE), None)
    if declared is not None and declared not in _DECLARED:
        return None
    try:
        envelope = envelope_from_value(message.value or b"")
    except ValidationError as error:
        if declared is None:
            return None  # not even an envelope: the projection's dead-letter path reports it
        return PoisonMessage(message, "invalid_envelope", validation_detail(error))
    if not is_for(envelope, org):  # where it goes and who made it are never sealed
        return None
    step = payload_or_poison(message, envelope)  # sealed (None): checked once opened
    return step if isinstance(step, PoisonMessage) else envelope
