"""Each person record's data key, wrapped by the deployment's master key (crypto-shredding).

One key per record (organisation + its person id), made when the record's first personal
value is sealed, kept in PostgreSQL schema `caseweave_keys` wrapped (AES-GCM) by the master
key (`CASEWEAVE_MASTER_KEY`; never stored beside them). Erasing a record replaces its key
with a tombstone: its sealed values open nowhere any more, and no new key is ever made for
it, so an erased person cannot be written back by a late or replayed event.

Every service and the projection read keys here; in a deployment this schema is the key
service's (a KMS or vault can take its place behind the same three calls).
"""

import hashlib
import hmac
import os
from collections.abc import Collection, Iterable, Sequence
from typing import Any
from uuid import UUID

import structlog
from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from events.envelope import Envelope
from services.runtime.database import Connection
from services.runtime.event_store_schema import checked_schema
from services.runtime.migrations import Migration, SchemaSet
from services.runtime.sealing import (
    KEY_BYTES,
    SealBroken,
    is_sealed,
    new_data_key,
    record_of,
    unseal,
)

logger = structlog.get_logger(__name__)
KEYS_SCHEMA = "caseweave_keys"
Record = tuple[str, str]  # (organisation, its person id)
_NONCE_BYTES = 12
_CANARY: Record = ("caseweave", "master-key-canary")
_DAMAGED = b""  # never a key: a key that is there but does not unwrap


class MasterKeyWrong(Exception):
    """A data key does not unwrap with the master key: CASEWEAVE_MASTER_KEY is not the one
    the keys were made with."""


class KeyUnreadable(Exception):
    """A record's key is in the store but does not unwrap: the store is damaged."""


class RecordErased(Exception):
    """The record was erased: nothing personal about it may be written or read again."""

    def __init__(self, records: Collection[Record]) -> None:
        super().__init__(f"{len(records)} record(s) erased")
        self.records = records


def person_keys_migrations(schema: str = KEYS_SCHEMA) -> SchemaSet:
    """Return the migrations of the key store; a change to it is a new one at the end."""
    baseline = Migration(version=1, name="baseline", statements=tuple(person_keys_ddl(schema)))
    return SchemaSet(name=f"person_keys:{schema}", migrations=(baseline,), lock_name=schema)


def person_keys_ddl(schema: str = KEYS_SCHEMA) -> list[str]:
    """Return the idempotent DDL of the key store: the baseline migration, never edited."""
    s = checked_schema(schema)
    return [
        f"CREATE SCHEMA IF NOT EXISTS {s}",
        f"""
        CREATE TABLE IF NOT EXISTS {s}.person_keys (
            org text NOT NULL,
            person_id text NOT NULL,
            wrapped bytea,
            created_at timestamptz NOT NULL DEFAULT now(),
            erased_at timestamptz,
            PRIMARY KEY (org, person_id),
            CHECK ((wrapped IS NULL) = (erased_at IS NOT NULL))
        )""",
        f"CREATE SCHEMA IF NOT EXISTS {s}_erasures",  # restored apart from the keys
        f"""
        CREATE TABLE IF NOT EXISTS {s}_erasures.erasures (
            erasure_id uuid PRIMARY KEY,
            erased_at timestamptz NOT NULL DEFAULT now(),
            records jsonb NOT NULL
        )""",
    ]


class PersonKeys:
    """The data keys of person records, wrapped by a master key."""

    def __init__(self, master_key: bytes, *, schema: str = KEYS_SCHEMA) -> None:
        if len(master_key) != KEY_BYTES:
            raise ValueError(f"the master key must be {KEY_BYTES} bytes")
        self._master = AESGCM(master_key)
        self._derivation = hmac.new(master_key, b"caseweave derived keys v1", hashlib.sha256)
        self.schema = checked_schema(schema)

    def derived_key(self, purpose: str) -> bytes:
        """Return a key for `purpose` derived from the master key (the same in every process
        holding it; knowing one derived key tells nothing of the master key or the others)."""
        derivation = self._derivation.copy()
        derivation.update(purpose.encode())
        return derivation.digest()

    async def verify(self, conn: Connection) -> None:
        """Raise MasterKeyWrong unless this master key is the store's: the first process to
        ask leaves a canary wrapped with its master key, which every later one must open."""
        await conn.execute(
            f"INSERT INTO {self.schema}.person_keys (org, person_id, wrapped)"  # noqa: S608 - schema name is checked
            " VALUES ($1, $2, $3) ON CONFLICT (org, person_id) DO NOTHING",
            *_CANARY,
            self._wrap(_CANARY, new_data_key()),
        )
        wrapped = await conn.fetchval(
            f"SELECT wrapped FROM {self.schema}.person_keys"  # noqa: S608 - schema name is checked
            " WHERE org = $1 AND person_id = $2",
            *_CANARY,
        )
        self._unwrap(_CANARY, wrapped)

    async def for_writing(
        self, conn: Connection, records: Collection[Record]
    ) -> dict[Record, bytes]:
        """Return each record's key, making the missing ones (raises RecordErased)."""
        wanted = sorted(set(records))
        if not wanted:
            return {}
        keys = await self.for_reading(conn, wanted)
        missing = [record for record in wanted if record not in keys]
        if missing:  # made once; a concurrent maker wins and both read the winner's
            await conn.execute(
                f"INSERT INTO {self.schema}.person_keys (org, person_id, wrapped)"  # noqa: S608 - schema name is checked
                " SELECT * FROM unnest($1::text[], $2::text[], $3::bytea[])"
                " ON CONFLICT (org, person_id) DO NOTHING",
                [org for org, _ in missing],
                [person for _, person in missing],
                [self._wrap(record, new_data_key()) for record in missing],
            )
            keys |= await self.for_reading(conn, missing)
        if any(keys.get(record) == _DAMAGED for record in wanted):
            raise KeyUnreadable("a person's key does not unwrap: the key store is damaged")
        erased = [record for record in wanted if keys.get(record) is None]
        if erased:
            raise RecordErased(erased)
        return {record: key for record, key in keys.items() if key is not None}

    async def for_reading(
        self, conn: Connection, records: Iterable[Record]
    ) -> dict[Record, bytes | None]:
        """Return the keys these records have: None for an erased one; absent when none;
        empty bytes for one that does not unwrap (logged)."""
        wanted = sorted(set(records))
        rows = await conn.fetch(
            f"SELECT k.org, k.person_id, k.wrapped FROM {self.schema}.person_keys k"  # noqa: S608 - schema name is checked
            " JOIN unnest($1::text[], $2::text[]) AS w(org, person_id)"
            "  ON k.org = w.org AND k.person_id = w.person_id",
            [org for org, _ in wanted],
            [person for _, person in wanted],
        )
        return {
            (row["org"], row["person_id"]): self._readable((row["org"], row["person_id"]), row)
            for row in rows
        }

    def _readable(self, record: Record, row: Any) -> bytes | None:
        """Return a record's key; None when erased; `_DAMAGED` (loudly) when it does not
        unwrap: one damaged key makes one person unreadable, not everyone."""
        if row["wrapped"] is None:
            return None
        try:
            return self._unwrap(record, row["wrapped"])
        except MasterKeyWrong:
            logger.error("person_key_unreadable", org=record[0])
            return _DAMAGED

    async def erase(self, conn: Connection, records: Collection[Record]) -> None:
        """Replace the records' keys with tombstones (records without a key get one too)."""
        wanted = sorted(set(records))
        await conn.execute(
            f"INSERT INTO {self.schema}.person_keys (org, person_id, wrapped, erased_at)"  # noqa: S608 - schema name is checked
            " SELECT org, person_id, NULL, now()"
            " FROM unnest($1::text[], $2::text[]) AS w(org, person_id)"
            " ON CONFLICT (org, person_id) DO UPDATE SET wrapped = NULL,"
            " erased_at = coalesce(person_keys.erased_at, now())",
            [org for org, _ in wanted],
            [person for _, person in wanted],
        )

    async def record_erasure(
        self, conn: Connection, erasure_id: UUID, records: Sequence[Record]
    ) -> None:
        """List an erasure: when, and which records (organisations' person ids, not who)."""
        await conn.execute(
            f"INSERT INTO {self.schema}_erasures.erasures (erasure_id, records)"  # noqa: S608 - schema name is checked
            " VALUES ($1, $2)",
            erasure_id,
            [list(record) for record in records],
        )

    async def erase_again(self, conn: Connection) -> int:
        """Tombstone the keys of every record an erasure listed (after a backup of the keys
        older than some erasures was restored); return how many records that is."""
        rows = await conn.fetch(f"SELECT records FROM {self.schema}_erasures.erasures")  # noqa: S608 - schema name is checked
        records = {(org, person) for row in rows for org, person in row["records"]}
        await self.erase(conn, records)
        return len(records)

    async def erasures(self, conn: Connection) -> dict[UUID, set[Record]]:
        """Return every listed erasure's records (organisations' person ids, grants' keys)."""
        rows = await conn.fetch(
            f"SELECT erasure_id, records FROM {self.schema}_erasures.erasures"  # noqa: S608 - schema name is checked
        )
        return {row["erasure_id"]: {(o, p) for o, p in row["records"]} for row in rows}

    async def open(self, conn: Connection, envelopes: Sequence[Envelope]) -> list[Envelope | None]:
        """Return each event with its personal values opened, or None for an event about an
        erased record (sealed or not: nothing about an erased person is read)."""
        return await self.open_under(conn, [(e, record_of(e)) for e in envelopes])

    async def open_under(
        self, conn: Connection, sealed: Sequence[tuple[Envelope, Record]]
    ) -> list[Envelope | None]:
        """Return each event opened with the key of the record named beside it (events the
        projection seals under a key of their own, such as a break-glass grant's), or None
        when that record is erased."""
        keys = await self.for_reading(conn, {record for _, record in sealed})
        ciphers: dict[bytes, AESGCM] = {}  # each record's, made once for the batch
        opened: list[Envelope | None] = []
        for envelope, record in sealed:
            if record in keys and not keys[record]:  # erased, or its key is damaged
                opened.append(None)
            elif is_sealed(envelope):
                key = keys.get(record)
                if key is None:  # sealed, and no key at all: the key store lost it
                    logger.error("sealed_event_without_key", event_id=str(envelope.event_id))
                    opened.append(None)
                else:
                    opened.append(_opened(envelope, key, ciphers))
            else:
                opened.append(envelope)
        return opened

    def _wrap(self, record: Record, key: bytes) -> bytes:
        nonce = os.urandom(_NONCE_BYTES)
        return nonce + self._master.encrypt(nonce, key, _bound_to(record))

    def _unwrap(self, record: Record, wrapped: bytes) -> bytes:
        try:
            return self._master.decrypt(
                wrapped[:_NONCE_BYTES], wrapped[_NONCE_BYTES:], _bound_to(record)
            )
        except InvalidTag as error:
            raise MasterKeyWrong("the master key does not open the people's data keys") from error


def _opened(envelope: Envelope, key: bytes, ciphers: dict[bytes, AESGCM]) -> Envelope | None:
    try:
        return unseal(envelope, key, ciphers=ciphers)
    except SealBroken:
        logger.error("sealed_value_broken", event_id=str(envelope.event_id))
        return None


def _bound_to(record: Record) -> bytes:
    return f"{record[0]}|{record[1]}".encode()
