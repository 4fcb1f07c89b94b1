"""Opening many events with each record's cipher made once opens them as one at a time does."""

import pytest
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from events.envelope import Envelope
from events.shared import ReferralMade
from services.runtime.sealing import SealBroken, new_data_key, seal, unseal
from tests.unit.projection.factories import PersonAt, details, minutes

HOUSING = PersonAt("housing")


def _referral(at: float) -> Envelope:
    payload = ReferralMade(
        referral_id=HOUSING.person_id, person_id=HOUSING.person_id, to_org="voluntary",
        reason="rent arrears after a hospital stay", person=details(),
    )  # fmt: skip
    return HOUSING.event(payload, minutes(at))


def test_remembered_ciphers_open_what_fresh_ones_do() -> None:
    key, other = new_data_key(), new_data_key()
    keyed = [(seal(_referral(n), key), key) for n in range(3)]
    keyed.append((seal(_referral(9), other), other))
    ciphers: dict[bytes, AESGCM] = {}
    opened = [unseal(event, k, ciphers=ciphers) for event, k in keyed]
    assert opened == [unseal(event, k) for event, k in keyed]
    assert set(ciphers) == {key, other}  # one cipher per key
    with pytest.raises(SealBroken):  # a remembered cipher is still the wrong key's
        unseal(keyed[0][0], other, ciphers=ciphers)


def test_a_key_of_the_wrong_size_breaks_only_a_sealed_event() -> None:
    plain = _referral(1)
    remembered: list[dict[bytes, AESGCM] | None] = [None, {}]
    for ciphers in remembered:
        assert unseal(plain, b"short", ciphers=ciphers) == plain  # nothing to open
        with pytest.raises(SealBroken):
            unseal(seal(plain, new_data_key()), b"short", ciphers=ciphers)


def test_opening_leaves_the_sealed_event_as_it_was() -> None:
    key = new_data_key()
    sealed = seal(_referral(1), key)
    before = dict(sealed.data)
    opened = unseal(sealed, key, ciphers={})
    assert sealed.data == before
    assert opened.data is not sealed.data
