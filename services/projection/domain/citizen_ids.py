"""Citizen ids: derived from a registration with a secret, so a replay gives the same ids.

People are linked across organisations by NHS number in this version: every registration
with the same NHS number gets the same citizen id, whichever organisation's event comes
first. A registration without one gets an id of its own. The id is an HMAC, so it cannot be
turned back into an NHS number without the secret.
"""

import hashlib
import hmac
from uuid import UUID

_VERSION_8 = 0x8 << 76  # RFC 9562 "custom" UUID: the bits are ours to define
_VERSION_MASK = 0xF << 76
_VARIANT_RFC = 0x2 << 62
_VARIANT_MASK = 0x3 << 62


def citizen_id_for(secret: bytes, *, org: str, person_id: str, nhs_number: str | None) -> UUID:
    """Return the citizen id of a person registered by `org` (keyed by NHS number when known)."""
    key = f"nhs:{nhs_number}" if nhs_number else f"person:{org}:{person_id}"
    digest = hmac.new(secret, key.encode(), hashlib.sha256).digest()
    value = int.from_bytes(digest[:16], "big")
    value = (value & ~_VERSION_MASK) | _VERSION_8
    return UUID(int=(value & ~_VARIANT_MASK) | _VARIANT_RFC)
