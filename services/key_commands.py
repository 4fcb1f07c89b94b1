"""`caseweave keys create|list|revoke`."""

import argparse

from services.runtime.api_keys import ApiKeyStore, auth_ddl
from services.runtime.database import apply_ddl, create_pool


async def run(args: argparse.Namespace, database_url: str) -> int:
    """Carry out a keys action against the database; return an exit code."""
    pool = await create_pool(database_url, max_size=2)
    try:
        await apply_ddl(pool, lock_name="caseweave_auth", statements=auth_ddl())
        store = ApiKeyStore(pool)
        if args.action == "create":
            key = await store.issue(org=args.org, role=args.role)
            print(f"API key for {args.org} ({args.role}); it is shown only once:\n{key}")
            return 0
        if args.action == "list":
            for issued in await store.list():
                state = f"revoked {issued.revoked_at:%Y-%m-%d}" if issued.revoked_at else "active"
                print(f"{issued.key_id}  {issued.org:<14} {issued.role:<13} {state}")
            return 0
        if await store.revoke(args.key_id):
            print(f"revoked {args.key_id}")
            return 0
        print(f"no active key {args.key_id}")
        return 1
    finally:
        await pool.close()
