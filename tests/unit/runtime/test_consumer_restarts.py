"""A log consumer that keeps failing (a database that is down) waits longer each time."""

import asyncio

from structlog.testing import capture_logs

from services.runtime.event_log import EventLog
from services.runtime.subscription import keep_running
from tests.fake_logs import QuietLog


class UnreachableThenCountingConsumer:
    """Fails as an unreachable database does for the first `outage` batches, then stops."""

    def __init__(self, stop: asyncio.Event, *, outage: int) -> None:
        self.stop, self.outage = stop, outage

    async def handle_next_batch(self, log: EventLog) -> int:
        """Raise ConnectionRefusedError while the outage lasts; then set `stop`."""
        if self.outage:
            self.outage -= 1
            raise ConnectionRefusedError(111, "Connection refused")
        self.stop.set()
        return 0


async def test_failures_in_a_row_wait_twice_as_long_each_time_without_stack_traces() -> None:
    """Retry after 1, 2, then 4 times the first pause; an outage is logged by type, no trace."""
    stop = asyncio.Event()
    consumer = UnreachableThenCountingConsumer(stop, outage=3)
    with capture_logs() as logs:
        await asyncio.wait_for(
            keep_running(consumer, [QuietLog()], stop, name="inbox", restart_delay=0.01), 5
        )
    failures = [line for line in logs if line["event"] == "inbox_failed"]
    assert [(f["attempt"], f["retry_s"]) for f in failures] == [(1, 0.01), (2, 0.02), (3, 0.04)]
    assert all(f["database_unreachable"] and f["exc_info"] is False for f in failures)
