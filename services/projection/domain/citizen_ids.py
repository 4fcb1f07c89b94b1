"""Citizen ids: derived with a secret from the citizen's anchor, so a replay gives the same ids.

Identity resolution (`linkage`) names each citizen by an anchor: `nhs:<number>` when any of
its records has an NHS number, else `person:<org>:<person id>` of its first record. The id is
an HMAC of the anchor, so every registration with the same NHS number gets the same citizen
id, whichever organisation's event comes first, and the id cannot be turned back into an NHS
number without the secret.
"""

import hashlib
import hmac
from uuid import UUID

from services.projection.domain.linkage import base_key

_VERSION_8 = 0x8 << 76  # RFC 9562 "custom" UUID: the bits are ours to define
_VERSION_MASK = 0xF << 76
_VARIANT_RFC = 0x2 << 62
_VARIANT_MASK = 0x3 << 62


def citizen_id_of_anchor(secret: bytes, anchor: str) -> UUID:
    """Return the citizen id of the citizen named by `anchor`."""
    digest = hmac.new(secret, anchor.encode(), hashlib.sha256).digest()
    value = int.from_bytes(digest[:16], "big")
    value = (value & ~_VERSION_MASK) | _VERSION_8
    return UUID(int=(value & ~_VARIANT_MASK) | _VARIANT_RFC)


def citizen_id_for(secret: bytes, *, org: str, person_id: str, nhs_number: str | None) -> UUID:
    """Return the citizen id a person registered by `org` has on their own (no other record)."""
    return citizen_id_of_anchor(secret, base_key((org, person_id), nhs_number))
