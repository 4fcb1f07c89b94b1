"""Which Kafka messages a referral inbox acts on: referrals to this organisation, or poison.

Pure. A message that is not a `referral.made` (by its `event_type` header, or by its
envelope when headers are missing) is none of this inbox's business and is passed over. A
referral this release cannot read is poison: the inbox sets it aside on the dead-letter topic
rather than lose it silently or stop receiving every other referral.
"""

from pydantic import ValidationError

from events.envelope import Envelope, OrgId
from events.shared import ReferralMade
from services.runtime.kafka.consumed import (
    ConsumedMessage,
    PoisonMessage,
    payload_or_poison,
    validation_detail,
)
from services.runtime.kafka.messages import EVENT_TYPE, envelope_from_value

REFERRAL_MADE = ReferralMade.event_type


def referral_in(message: ConsumedMessage, org: OrgId) -> Envelope | PoisonMessage | None:
    """Return the referral to `org` a message carries, why it is poison, or None (not ours)."""
    declared = next((value for name, value in message.headers if name == EVENT_TYPE), None)
    if declared is not None and declared != REFERRAL_MADE.encode():
        return None
    try:
        envelope = envelope_from_value(message.value or b"")
    except ValidationError as error:
        if declared is None:
            return None  # not even an envelope: the projection's dead-letter path reports it
        return PoisonMessage(message, "invalid_envelope", validation_detail(error))
    if envelope.type != REFERRAL_MADE or envelope.org == org:
        return None
    made = payload_or_poison(message, envelope)
    if isinstance(made, PoisonMessage):
        return made
    # sealed (None): where it goes is never sealed; the rest is checked once opened
    to_org = envelope.data.get("to_org") if made is None else getattr(made, "to_org", None)
    return envelope if to_org == org else None
