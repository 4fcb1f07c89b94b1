"""API keys: one per organisation and role, shown once, stored only as a hash.

A key is revoked at once (`revoke`) or rotated (`rotate`): a new key for the same
organisation and role is issued, and the old one keeps working for a grace period so
partner apps can switch without an outage, then expires.
"""

import hashlib
import hmac
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from events.envelope import OrgId, Role
from services.runtime.database import Connection, Pool
from services.runtime.migrations import Migration, SchemaSet

AUTH_SCHEMA = "caseweave_auth"
_PREFIX = "cw"
# the LISTEN/NOTIFY channel a key's id is sent on when it is revoked or its expiry changes
KEYS_CHANGED = "caseweave_api_keys_changed"


@dataclass(frozen=True)
class Caller:
    """Who is calling: the organisation and role an API key was issued for."""

    key_id: str
    org: OrgId
    role: Role

    @property
    def actor(self) -> str:
        """Return how events name this caller as their recorder."""
        return f"{self.org}/{self.role}/{self.key_id}"


@dataclass(frozen=True)
class IssuedKey:
    """A key as listed to operators: never the secret."""

    key_id: str
    org: OrgId
    role: Role
    created_at: datetime
    revoked_at: datetime | None
    expires_at: datetime | None = None


@dataclass(frozen=True)
class LiveKey:
    """A key that worked when read: whom it names, its secret's hash, when it expires."""

    key_id: str
    org: OrgId
    role: Role
    secret_sha256: str
    expires_at: datetime | None

    def caller_presenting(self, secret: str, *, now: datetime | None = None) -> Caller | None:
        """Return the caller if `secret` is this key's and it has not expired by `now`."""
        if self.expires_at is not None and self.expires_at <= (now or datetime.now(UTC)):
            return None
        if not hmac.compare_digest(self.secret_sha256, _hash(secret)):
            return None
        return Caller(key_id=self.key_id, org=self.org, role=self.role)


def _hash(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def split_key(plaintext: str) -> tuple[str, str] | None:
    """Return (key id, secret) from a presented key, or None if it is not shaped like one."""
    parts = plaintext.split("_", 2)
    if len(parts) != 3 or parts[0] != _PREFIX or not parts[1] or not parts[2]:
        return None
    return parts[1], parts[2]


def auth_migrations() -> SchemaSet:
    """Return the migrations of the API key table; a change to it is a new one at the end."""
    baseline = Migration(version=1, name="baseline", statements=tuple(auth_ddl()))
    return SchemaSet(name=f"auth:{AUTH_SCHEMA}", migrations=(baseline,), lock_name=AUTH_SCHEMA)


def auth_ddl() -> list[str]:
    """Return the idempotent DDL of the API key table: the baseline migration, never edited."""
    return [
        f"CREATE SCHEMA IF NOT EXISTS {AUTH_SCHEMA}",
        f"""
        CREATE TABLE IF NOT EXISTS {AUTH_SCHEMA}.api_keys (
            key_id text PRIMARY KEY,
            org text NOT NULL,
            role text NOT NULL,
            secret_sha256 text NOT NULL,
            created_at timestamptz NOT NULL DEFAULT now(),
            revoked_at timestamptz
        )""",
        f"ALTER TABLE {AUTH_SCHEMA}.api_keys ADD COLUMN IF NOT EXISTS expires_at timestamptz",
    ]


class ApiKeyStore:
    """Issue, check, list and revoke API keys in PostgreSQL."""

    def __init__(self, pool: Pool) -> None:
        self._pool = pool

    async def issue(self, *, org: OrgId, role: Role) -> str:
        """Create a key for `org` and `role`; return the plaintext, which is never stored."""
        async with self._pool.acquire() as conn:
            return await _insert_key(conn, org=org, role=role)

    async def authenticate(self, plaintext: str) -> Caller | None:
        """Return the caller a presented key belongs to, or None if it is unknown, revoked or
        expired."""
        parts = split_key(plaintext)
        if parts is None:
            return None
        key_id, secret = parts
        live = await self.live_key(key_id)
        return live.caller_presenting(secret) if live is not None else None

    async def live_key(self, key_id: str) -> "LiveKey | None":
        """Return a key that is neither revoked nor expired, with its secret's hash."""
        row = await self._pool.fetchrow(
            f"SELECT org, role, secret_sha256, expires_at FROM {AUTH_SCHEMA}.api_keys"  # noqa: S608 - constant schema
            " WHERE key_id = $1 AND revoked_at IS NULL"
            " AND (expires_at IS NULL OR expires_at > now())",
            key_id,
        )
        if row is None:
            return None
        return LiveKey(key_id, row["org"], row["role"], row["secret_sha256"], row["expires_at"])

    async def list(self) -> list[IssuedKey]:
        """Return every key ever issued, newest first."""
        rows = await self._pool.fetch(
            "SELECT key_id, org, role, created_at, revoked_at, expires_at"  # noqa: S608 - constant schema
            f" FROM {AUTH_SCHEMA}.api_keys ORDER BY created_at DESC"
        )
        return [IssuedKey(**dict(row)) for row in rows]

    async def rotate(self, key_id: str, *, grace: timedelta) -> tuple[str, datetime] | None:
        """Issue a new key like a live one, and let the old one expire after `grace`; return
        the new key's plaintext and when the old one stops working (None: no such live key)."""
        async with self._pool.acquire() as conn, conn.transaction():
            old = await conn.fetchrow(
                f"UPDATE {AUTH_SCHEMA}.api_keys"  # noqa: S608 - constant schema
                " SET expires_at = least(coalesce(expires_at, 'infinity'), now() + $2::interval)"
                " WHERE key_id = $1 AND revoked_at IS NULL"
                " AND (expires_at IS NULL OR expires_at > now())"
                " RETURNING org, role, expires_at",
                key_id,
                grace,
            )
            if old is None:
                return None
            plaintext = await _insert_key(conn, org=old["org"], role=old["role"])
            await conn.execute("SELECT pg_notify($1, $2)", KEYS_CHANGED, key_id)
        expires: datetime = old["expires_at"]
        return plaintext, expires

    async def revoke(self, key_id: str) -> bool:
        """Revoke a key, telling every service at once (`KEYS_CHANGED`); return False if no
        such live key exists."""
        async with self._pool.acquire() as conn, conn.transaction():
            status: str = await conn.execute(
                f"UPDATE {AUTH_SCHEMA}.api_keys SET revoked_at = now()"  # noqa: S608 - constant schema
                " WHERE key_id = $1 AND revoked_at IS NULL",
                key_id,
            )
            await conn.execute("SELECT pg_notify($1, $2)", KEYS_CHANGED, key_id)
        return status.endswith(" 1")


async def _insert_key(conn: Connection, *, org: OrgId, role: Role) -> str:
    """Store a new key's hash; return its plaintext, which is never stored."""
    key_id, secret = secrets.token_hex(6), secrets.token_urlsafe(32)
    await conn.execute(
        f"INSERT INTO {AUTH_SCHEMA}.api_keys (key_id, org, role, secret_sha256)"  # noqa: S608 - constant schema
        " VALUES ($1, $2, $3, $4)",
        key_id,
        org,
        role,
        _hash(secret),
    )
    return f"{_PREFIX}_{key_id}_{secret}"
