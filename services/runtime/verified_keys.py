"""API keys checked once, then remembered briefly: one database round trip fewer per request.

A key read from the store is kept for `ttl` seconds (its secret's hash, organisation, role and
expiry; never the secret), and every later request presenting it is checked against that.
Revocation stays immediate: `ApiKeyStore.revoke` (and `rotate`) sends the key's id on the
`KEYS_CHANGED` channel in the same transaction, and this process, listening on a connection of
its own, forgets the key as soon as PostgreSQL delivers the notification. While it is not
listening (at start, or after the listening connection was lost) nothing is remembered: every
request reads the store, as if there were no cache. Unknown keys are never remembered.
"""

import asyncio
import time
from collections import OrderedDict

import structlog
from asyncpg.pool import PoolConnectionProxy

from services.runtime.api_keys import KEYS_CHANGED, ApiKeyStore, Caller, LiveKey, split_key
from services.runtime.database import Pool

log = structlog.get_logger(__name__)
REMEMBER_SECONDS = 30.0
MOST_KEYS = 10_000


class VerifiedKeys:
    """The API keys this process has verified lately, forgotten the moment one changes."""

    def __init__(self, store: ApiKeyStore, pool: Pool, *, ttl: float = REMEMBER_SECONDS) -> None:
        self._store = store
        self._pool = pool
        self._ttl = ttl
        self._known: OrderedDict[str, tuple[LiveKey, float]] = OrderedDict()
        self._listener: PoolConnectionProxy | None = None
        self._starting = asyncio.Lock()
        self._changes = 0  # notifications heard: a key read before one is not remembered

    async def authenticate(self, plaintext: str) -> Caller | None:
        """Return the caller a presented key belongs to, or None if it is unknown, revoked or
        expired (from memory when it was verified lately and has not changed since)."""
        parts = split_key(plaintext)
        if parts is None:
            return None
        key_id, secret = parts
        live = self._remembered(key_id)
        if live is None:
            listening = await self._listening()
            changes = self._changes
            live = await self._store.live_key(key_id)
            if live is None:
                return None
            if listening and self._changes == changes:  # no change heard while it was read
                self._remember(live)
        return live.caller_presenting(secret)

    async def close(self) -> None:
        """Stop listening and forget every key."""
        self._known.clear()
        if self._listener is not None:
            listener, self._listener = self._listener, None
            listener.remove_termination_listener(self._on_lost)
            await listener.remove_listener(KEYS_CHANGED, self._on_changed)
            await self._pool.release(listener)

    def _remembered(self, key_id: str) -> LiveKey | None:
        found = self._known.get(key_id)
        if found is None or self._listener is None:
            return None
        live, at = found
        if time.monotonic() - at > self._ttl:
            del self._known[key_id]
            return None
        return live

    def _remember(self, live: LiveKey) -> None:
        self._known[live.key_id] = (live, time.monotonic())
        self._known.move_to_end(live.key_id)
        while len(self._known) > MOST_KEYS:
            self._known.popitem(last=False)

    async def _listening(self) -> bool:
        """Listen for changed keys if not yet; tell whether this process is listening."""
        async with self._starting:
            if self._listener is None:
                listener = await self._pool.acquire()
                try:
                    listener.add_termination_listener(self._on_lost)
                    await listener.add_listener(KEYS_CHANGED, self._on_changed)
                except Exception:
                    log.warning("api_key_changes_not_heard", fix="every request reads the key")
                    listener.remove_termination_listener(self._on_lost)
                    await self._pool.release(listener)
                    return False
                self._listener = listener
        return True

    def _on_changed(self, *notification: object) -> None:
        """Forget the key whose id was sent (its revocation or new expiry)."""
        self._changes += 1
        self._known.pop(str(notification[-1]), None)

    def _on_lost(self, *_: object) -> None:
        """The listening connection ended: a change may go unheard, so forget everything."""
        self._listener = None
        self._changes += 1
        self._known.clear()
