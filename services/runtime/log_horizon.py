"""Say so when the horizon holds committed events back from a log's readers.

The gap-safe reader (see `event_log`) only reads events of transactions older than the oldest
still running on the server. A transaction left open elsewhere therefore holds every consumer
back: nothing is lost, but nothing moves either. This watch turns that silence into a warning
naming the session to look at.
"""

import time
from collections.abc import Callable

import structlog

from services.runtime.database import Pool
from services.runtime.event_store_schema import checked_schema

log = structlog.get_logger(__name__)
WARN_AFTER_SECONDS = 10.0
_OLDEST_WRITER = (
    "SELECT pid, datname, state, extract(epoch FROM now() - xact_start)::float AS seconds"
    " FROM pg_stat_activity WHERE backend_xid IS NOT NULL ORDER BY xact_start LIMIT 1"
)


class HorizonWatch:
    """Warns (at most once per `warn_after` seconds) while committed events stay unreadable."""

    def __init__(
        self,
        pool: Pool,
        *,
        source: str,
        schema: str,
        warn_after: float = WARN_AFTER_SECONDS,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._pool, self._source, self._schema = pool, source, checked_schema(schema)
        self._warn_after, self._clock = warn_after, clock
        self._held_since: float | None = None
        self._warned_at: float | None = None

    def events_arrived(self) -> None:
        """Note that the reader moved on: nothing is held back now."""
        self._held_since = None

    async def nothing_arrived(self, after_transaction: int, after_position: int) -> None:
        """After an empty read: check whether committed events wait behind the horizon."""
        held = await self._pool.fetchval(
            f"SELECT EXISTS (SELECT 1 FROM {self._schema}.events"  # noqa: S608 - schema name is checked
            " WHERE (transaction_id, position) > ($1, $2))",
            after_transaction,
            after_position,
        )
        now = self._clock()
        if not held:
            self._held_since = None
            return
        self._held_since = self._held_since if self._held_since is not None else now
        if now - self._held_since >= self._warn_after and self._may_warn(now):
            await self._warn(now - self._held_since)

    def _may_warn(self, now: float) -> bool:
        if self._warned_at is not None and now - self._warned_at < self._warn_after:
            return False
        self._warned_at = now
        return True

    async def _warn(self, held_for: float) -> None:
        oldest = await self._pool.fetchrow(_OLDEST_WRITER)
        log.warning(
            "log_held_back_by_open_transaction",
            source=self._source,
            held_for_s=round(held_for, 1),
            blocking_pid=oldest["pid"] if oldest else None,
            blocking_database=oldest["datname"] if oldest else None,
            blocking_state=oldest["state"] if oldest else None,
            blocking_for_s=round(oldest["seconds"], 1) if oldest else None,
        )
