"""Personal data in events, sealed with the person's own key (crypto-shredding).

An event's personal fields (`EventPayload.personal_fields`: a person's details, free-text
reasons and notes) are stored and published sealed: each value becomes
`{"$sealed": "v1:<base64 nonce + AES-256-GCM ciphertext>"}`, encrypted with the data key of
the record the event is about (organisation + its person id, the envelope's `org` and
`subject`). The rest of the envelope stays readable: ids, types, times, places, categories,
codes; the facts statistics are made of. Deleting the record's key (erasure) leaves its
events unreadable wherever they are: stores, topics, backups, the projection's timeline.

The ciphertext is bound to its event and field (associated data: org, subject, event id,
field name), so a sealed value cannot be moved to another event or person.
"""

import base64
import json
import os
from typing import Any

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from events.envelope import Envelope
from events.registry import personal_fields_of

SEALED = "$sealed"
ERASED: dict[str, bool] = {"$erased": True}  # an unsealed personal value, erased in place
_VERSION = "v1:"
_NONCE_BYTES = 12
KEY_BYTES = 32


class SealBroken(Exception):
    """A sealed value does not open with its record's key: tampered, or the wrong key."""


def record_of(envelope: Envelope) -> tuple[str, str]:
    """Return whose key seals an event: its organisation and that organisation's person id."""
    return envelope.org, envelope.subject


def new_data_key() -> bytes:
    """Return a fresh random data key for one record."""
    return AESGCM.generate_key(bit_length=KEY_BYTES * 8)


def needs_sealing(envelope: Envelope) -> bool:
    """Tell whether the event holds personal values not sealed yet."""
    fields = personal_fields_of(envelope.type, envelope.schema_version)
    return any(
        envelope.data.get(name) is not None and not is_sealed_value(envelope.data[name])
        for name in fields
    )


def is_sealed(envelope: Envelope) -> bool:
    """Tell whether any of the event's values is sealed."""
    return any(map(is_sealed_value, envelope.data.values()))


def is_sealed_value(value: Any) -> bool:
    """Tell whether a payload value is a sealed one."""
    return isinstance(value, dict) and len(value) == 1 and isinstance(value.get(SEALED), str)


def seal(envelope: Envelope, key: bytes) -> Envelope:
    """Return the event with its personal values sealed with the record's data key."""
    fields = personal_fields_of(envelope.type, envelope.schema_version)
    data = dict(envelope.data)
    for name in fields:
        value = data.get(name)
        if value is not None and not is_sealed_value(value):
            plain = json.dumps(value, separators=(",", ":"), ensure_ascii=False).encode()
            nonce = os.urandom(_NONCE_BYTES)
            sealed = AESGCM(key).encrypt(nonce, plain, _bound_to(envelope, name))
            data[name] = {SEALED: _VERSION + base64.b64encode(nonce + sealed).decode()}
    return envelope.model_copy(update={"data": data})


def unseal(
    envelope: Envelope, key: bytes, *, ciphers: dict[bytes, AESGCM] | None = None
) -> Envelope:
    """Return the event with its sealed values opened (raises SealBroken).

    `ciphers` (by key) lets a reader opening many events of the same records make each
    record's cipher once.
    """
    data = envelope.data
    opened: dict[str, Any] | None = None
    for name, value in data.items():
        if is_sealed_value(value):
            if opened is None:
                opened = dict(data)
            plain = _open(value[SEALED], key, _bound_to(envelope, name), ciphers)
            opened[name] = json.loads(plain)
    return envelope.model_copy(update={"data": dict(data) if opened is None else opened})


def redacted(type_: str, version: int, data: dict[str, Any]) -> dict[str, Any] | None:
    """Return an event's data with its unsealed personal values erased in place (None when
    there are none: it was sealed, or holds nothing personal). For events stored before
    sealing: erasing their person cannot shred what was never sealed."""
    clear = [
        name
        for name in personal_fields_of(type_, version)
        if data.get(name) is not None and not is_sealed_value(data[name]) and data[name] != ERASED
    ]
    return {**data, **dict.fromkeys(clear, ERASED)} if clear else None


def all_values_erased(type_: str, version: int, data: dict[str, Any]) -> dict[str, Any] | None:
    """Return an event's data with every personal value erased in place, sealed or not
    (None when it holds none left to erase): an event retracted with its values."""
    held = [
        name
        for name in personal_fields_of(type_, version)
        if data.get(name) is not None and data[name] != ERASED
    ]
    return {**data, **dict.fromkeys(held, ERASED)} if held else None


def has_erased_values(envelope: Envelope) -> bool:
    """Tell whether some of the event's personal values were erased in place (it reads
    as erased: nothing folds it, though it still counts where it is kept)."""
    data = envelope.data
    return any(
        data.get(name) == ERASED
        for name in personal_fields_of(envelope.type, envelope.schema_version)
    )


def _open(text: str, key: bytes, associated: bytes, ciphers: dict[bytes, AESGCM] | None) -> bytes:
    if not text.startswith(_VERSION):
        raise SealBroken(f"unknown seal version {text.split(':', 1)[0]!r}")
    try:
        raw = base64.b64decode(text.removeprefix(_VERSION), validate=True)
        cipher = _cipher(key, ciphers)
        return cipher.decrypt(raw[:_NONCE_BYTES], raw[_NONCE_BYTES:], associated)
    except (InvalidTag, ValueError) as error:
        raise SealBroken("a sealed value does not open with its record's key") from error


def _cipher(key: bytes, ciphers: dict[bytes, AESGCM] | None) -> AESGCM:
    """Return the cipher of `key` (ValueError for a key of the wrong size), made once when
    `ciphers` remembers them."""
    if ciphers is None:
        return AESGCM(key)
    cipher = ciphers.get(key)
    if cipher is None:
        cipher = ciphers[key] = AESGCM(key)
    return cipher


def _bound_to(envelope: Envelope, field: str) -> bytes:
    return f"{envelope.org}|{envelope.subject}|{envelope.event_id}|{field}".encode()
