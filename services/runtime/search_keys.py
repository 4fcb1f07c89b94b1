"""The keys of an organisation's keyed hashes (HMAC-SHA256): its people search tokens, and
the token a quarantined message from a charity's system names its person by. Derived from the
master key, so every process of a deployment (the organisation's service, the projection's
erasure) computes the same ones, and nobody without it can compute any.
"""

import hashlib
import hmac

from events.envelope import OrgId
from services.runtime.person_keys import PersonKeys


def people_search_key(keys: PersonKeys | None, org: OrgId) -> bytes:
    """Return the key of `org`'s people search tokens: derived from the master key (the
    same in every process of the deployment), or fixed where nothing is sealed."""
    purpose = f"people search:{org}"
    if keys is None:
        return hashlib.sha256(f"caseweave unsealed {purpose}".encode()).digest()
    return keys.derived_key(purpose)


def local_id_token(search_key: bytes, local_id: str) -> str:
    """Return the keyed hash a record id of a charity's system is found by (hex): how a
    quarantined message names its person, so that erasing the person finds it."""
    return hmac.new(search_key, f"local_id:{local_id}".encode(), hashlib.sha256).hexdigest()
