"""Idempotency-Key: a retried request gets the first answer, and writes nothing again.

The key is claimed in the same transaction as the command's events. A concurrent retry
waits on the claim's row lock and then finds the stored answer.
"""

import hashlib
import json
from dataclasses import dataclass
from typing import Any

from services.runtime.database import Connection
from services.runtime.event_store_schema import checked_schema


@dataclass(frozen=True)
class StoredResponse:
    """The answer first given to a request with this key."""

    status: int
    body: dict[str, Any]


class IdempotencyKeyReused(Exception):
    """The key was used before for a different request."""


def request_fingerprint(method: str, path: str, body: Any) -> str:
    """Return a stable fingerprint of a request, to tell a retry from a different request."""
    canonical = json.dumps([method, path, body], sort_keys=True, default=str)
    return hashlib.sha256(canonical.encode()).hexdigest()


class IdempotencyKeys:
    """The idempotency_keys table of one service's schema."""

    def __init__(self, schema: str) -> None:
        self.schema = checked_schema(schema)

    async def claim(
        self, conn: Connection, *, scope: str, key: str, fingerprint: str
    ) -> StoredResponse | None:
        """Claim `key` for this request; return the earlier answer if it was already used."""
        claimed = await conn.fetchval(
            f"INSERT INTO {self.schema}.idempotency_keys (scope, key, request_fingerprint)"  # noqa: S608 - schema name is checked
            " VALUES ($1, $2, $3) ON CONFLICT DO NOTHING RETURNING true",
            scope,
            key,
            fingerprint,
        )
        if claimed:
            return None
        row = await conn.fetchrow(
            f"SELECT request_fingerprint, response_status, response_body"  # noqa: S608 - schema name is checked
            f" FROM {self.schema}.idempotency_keys WHERE scope = $1 AND key = $2",
            scope,
            key,
        )
        assert row is not None  # the conflicting row committed before ON CONFLICT saw it
        if row["request_fingerprint"] != fingerprint:
            raise IdempotencyKeyReused(key)
        return StoredResponse(row["response_status"], row["response_body"])

    async def remember(
        self, conn: Connection, *, scope: str, key: str, response: StoredResponse
    ) -> None:
        """Store the answer to a claimed key (inside the transaction that claimed it)."""
        await conn.execute(
            f"UPDATE {self.schema}.idempotency_keys SET response_status = $3,"  # noqa: S608 - schema name is checked
            " response_body = $4 WHERE scope = $1 AND key = $2",
            scope,
            key,
            response.status,
            response.body,
        )
