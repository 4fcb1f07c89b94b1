"""Keys verified once are remembered, and forgotten the moment they are revoked or rotated."""

import asyncio
from collections.abc import AsyncIterator
from datetime import timedelta

import pytest

from services.runtime.api_keys import ApiKeyStore, LiveKey, auth_migrations, split_key
from services.runtime.database import Pool
from services.runtime.migrations import apply_migrations
from services.runtime.verified_keys import VerifiedKeys
from tests.integration.organisation.running_services import eventually


class CountingStore(ApiKeyStore):
    """The real store, counting its reads (and optionally revoking a key mid-read)."""

    def __init__(self, pool: Pool) -> None:
        super().__init__(pool)
        self.reads = 0
        self.revoke_while_reading: str | None = None

    async def live_key(self, key_id: str) -> LiveKey | None:
        """Read the key; revoke it (as another process would) before answering, if asked."""
        self.reads += 1
        live = await super().live_key(key_id)
        if self.revoke_while_reading == key_id:
            await ApiKeyStore(self._pool).revoke(key_id)
            await asyncio.sleep(0.2)  # the notification arrives while the read is answered
        return live


@pytest.fixture
async def store(pool: Pool) -> CountingStore:
    """A store of API keys over the real auth tables."""
    await apply_migrations(pool, auth_migrations())
    return CountingStore(pool)


@pytest.fixture
async def keys(store: CountingStore, pool: Pool) -> AsyncIterator[VerifiedKeys]:
    """The keys a service process verifies, remembered as it does."""
    verified = VerifiedKeys(store, pool)
    yield verified
    await verified.close()


def _key_id(key: str) -> str:
    parts = split_key(key)
    assert parts is not None
    return parts[0]


async def _forgotten(keys: VerifiedKeys, key: str) -> bool:
    return await keys.authenticate(key) is None


async def test_a_key_is_read_once_then_answered_from_memory(
    store: CountingStore, keys: VerifiedKeys
) -> None:
    key = await store.issue(org="housing", role="frontline")
    callers = [await keys.authenticate(key) for _ in range(5)]
    assert {(c.org, c.role) for c in callers if c} == {("housing", "frontline")}
    assert store.reads == 1


async def test_a_wrong_secret_is_refused_even_for_a_remembered_key(
    store: CountingStore, keys: VerifiedKeys
) -> None:
    key = await store.issue(org="housing", role="frontline")
    assert await keys.authenticate(key) is not None
    assert await keys.authenticate(key[:-4] + "AAAA") is None


async def test_a_revoked_key_stops_working_as_soon_as_the_revocation_is_heard(
    store: CountingStore, keys: VerifiedKeys
) -> None:
    key = await store.issue(org="housing", role="frontline")
    assert await keys.authenticate(key) is not None
    assert await ApiKeyStore(store._pool).revoke(_key_id(key))
    # the notification travels (PostgreSQL sends it at the commit): until it is heard, the
    # key is answered from memory, without a read; once heard, read again and refused
    assert await eventually(lambda: _refused(keys, key))
    assert store.reads == 2


async def test_a_rotated_key_is_read_again_with_its_new_expiry(
    store: CountingStore, keys: VerifiedKeys
) -> None:
    key = await store.issue(org="housing", role="frontline")
    assert await keys.authenticate(key) is not None
    rotated = await ApiKeyStore(store._pool).rotate(_key_id(key), grace=timedelta(seconds=1))
    assert rotated is not None
    await asyncio.sleep(1.2)
    assert await keys.authenticate(key) is None  # expired: no stale expiry remembered


async def test_a_key_read_while_a_change_is_heard_is_not_remembered(
    store: CountingStore, keys: VerifiedKeys
) -> None:
    """The read raced the revocation: it may answer that one request, never a later one."""
    key = await store.issue(org="housing", role="frontline")
    store.revoke_while_reading = _key_id(key)
    await keys.authenticate(key)
    assert await keys.authenticate(key) is None


async def test_a_lost_listening_connection_forgets_every_key_and_listens_again(
    store: CountingStore, keys: VerifiedKeys, pool: Pool
) -> None:
    key = await store.issue(org="housing", role="frontline")
    assert await keys.authenticate(key) is not None
    await pool.execute(
        "SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
        " WHERE query LIKE 'LISTEN%caseweave_api_keys_changed%'"
    )
    reads = store.reads

    async def read_again() -> bool | None:
        assert await keys.authenticate(key) is not None
        return True if store.reads > reads else None

    assert await eventually(read_again)  # forgotten: read again, not answered from memory
    assert await ApiKeyStore(store._pool).revoke(_key_id(key))
    assert await eventually(lambda: _refused(keys, key))  # listening again: revocation heard


async def _refused(keys: VerifiedKeys, key: str) -> bool | None:
    """True once the key is refused (None while it is still answered)."""
    return True if await keys.authenticate(key) is None else None
