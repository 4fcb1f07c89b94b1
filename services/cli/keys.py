"""`caseweave keys create|list|rotate|revoke`."""

import argparse
from datetime import UTC, datetime, timedelta

from services.runtime.api_keys import ApiKeyStore, IssuedKey, auth_migrations
from services.runtime.database import create_pool
from services.runtime.migrations import apply_migrations


async def run(args: argparse.Namespace, database_url: str) -> int:
    """Carry out a keys action against the database; return an exit code."""
    pool = await create_pool(database_url, max_size=2)
    try:
        await apply_migrations(pool, auth_migrations())
        store = ApiKeyStore(pool)
        if args.action == "create":
            key = await store.issue(org=args.org, role=args.role)
            print(f"API key for {args.org} ({args.role}); it is shown only once:\n{key}")
            return 0
        if args.action == "list":
            for issued in await store.list():
                print(f"{issued.key_id}  {issued.org:<14} {issued.role:<13} {_state(issued)}")
            return 0
        if args.action == "rotate":
            return await _rotate(store, args.key_id, grace=timedelta(minutes=args.grace_minutes))
        if await store.revoke(args.key_id):
            print(f"revoked {args.key_id}")
            return 0
        print(f"no active key {args.key_id}")
        return 1
    finally:
        await pool.close()


async def _rotate(store: ApiKeyStore, key_id: str, *, grace: timedelta) -> int:
    rotated = await store.rotate(key_id, grace=grace)
    if rotated is None:
        print(f"no active key {key_id}")
        return 1
    key, old_expires = rotated
    old = (
        f"keeps working until {old_expires:%Y-%m-%d %H:%M:%S %Z}"
        if grace > timedelta(0)
        else "no longer works"
    )
    print(f"{key_id} {old}; its replacement is shown only once:\n{key}")
    return 0


def _state(issued: IssuedKey) -> str:
    if issued.revoked_at:
        return f"revoked {issued.revoked_at:%Y-%m-%d}"
    if issued.expires_at and issued.expires_at <= datetime.now(UTC):
        return f"expired {issued.expires_at:%Y-%m-%d %H:%M %Z}"
    if issued.expires_at:
        return f"active, expires {issued.expires_at:%Y-%m-%d %H:%M %Z}"
    return "active"
