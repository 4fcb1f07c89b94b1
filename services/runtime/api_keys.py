"""API keys: one per organisation and role, shown once, stored only as a hash."""

import hashlib
import hmac
import secrets
from dataclasses import dataclass
from datetime import datetime
from typing import Literal, get_args

import asyncpg

from events.envelope import OrgId
from services.runtime.database import Pool

Role = Literal["frontline", "data_steward", "ig_lead", "ops"]
ROLES: tuple[Role, ...] = get_args(Role)
AUTH_SCHEMA = "caseweave_auth"
_PREFIX = "cw"


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


def _hash(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def split_key(plaintext: str) -> tuple[str, str] | None:
    """Return (key id, secret) from a presented key, or None if it is not shaped like one."""
    parts = plaintext.split("_", 2)
    if len(parts) != 3 or parts[0] != _PREFIX or not parts[1] or not parts[2]:
        return None
    return parts[1], parts[2]


def auth_ddl() -> list[str]:
    """Return the idempotent DDL of the API key table."""
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
    ]


class ApiKeyStore:
    """Issue, check, list and revoke API keys in PostgreSQL."""

    def __init__(self, pool: Pool) -> None:
        self._pool = pool

    async def issue(self, *, org: OrgId, role: Role) -> str:
        """Create a key for `org` and `role`; return the plaintext, which is never stored."""
        key_id, secret = secrets.token_hex(6), secrets.token_urlsafe(32)
        await self._pool.execute(
            f"INSERT INTO {AUTH_SCHEMA}.api_keys (key_id, org, role, secret_sha256)"  # noqa: S608 - constant schema
            " VALUES ($1, $2, $3, $4)",
            key_id,
            org,
            role,
            _hash(secret),
        )
        return f"{_PREFIX}_{key_id}_{secret}"

    async def authenticate(self, plaintext: str) -> Caller | None:
        """Return the caller a presented key belongs to, or None if it is unknown or revoked."""
        parts = split_key(plaintext)
        if parts is None:
            return None
        key_id, secret = parts
        row = await self._pool.fetchrow(
            f"SELECT org, role, secret_sha256 FROM {AUTH_SCHEMA}.api_keys"  # noqa: S608 - constant schema
            " WHERE key_id = $1 AND revoked_at IS NULL",
            key_id,
        )
        if row is None or not hmac.compare_digest(row["secret_sha256"], _hash(secret)):
            return None
        return Caller(key_id=key_id, org=row["org"], role=row["role"])

    async def list(self) -> list[IssuedKey]:
        """Return every key ever issued, newest first."""
        rows = await self._pool.fetch(
            f"SELECT key_id, org, role, created_at, revoked_at FROM {AUTH_SCHEMA}.api_keys"  # noqa: S608 - constant schema
            " ORDER BY created_at DESC"
        )
        return [IssuedKey(**dict(row)) for row in rows]

    async def revoke(self, key_id: str) -> bool:
        """Revoke a key; return False if no such live key exists."""
        status: str = await self._pool.execute(
            f"UPDATE {AUTH_SCHEMA}.api_keys SET revoked_at = now()"  # noqa: S608 - constant schema
            " WHERE key_id = $1 AND revoked_at IS NULL",
            key_id,
        )
        return status.endswith(" 1")


async def ensure_auth_schema(conn: asyncpg.Connection) -> None:
    """Create the API key table if it does not exist (inside the caller's transaction)."""
    for statement in auth_ddl():
        await conn.execute(statement)
