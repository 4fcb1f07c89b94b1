"""An in-memory event log for tests of what runs a consumer (restarts, stopping)."""

import asyncio

from services.runtime.event_log import LoggedEvent, LogPosition


class QuietLog:
    """A log with nothing new in it (the in-memory stand-in for an organisation's log)."""

    source = "housing"

    async def read_after(self, after: LogPosition, *, limit: int) -> list[LoggedEvent]:
        """Return nothing: the log is empty."""
        return []

    async def wait_for_new(self, timeout: float) -> None:  # noqa: ASYNC109 - the port's contract
        """Return at once, as if woken."""
        await asyncio.sleep(0)
