"""Drive a consumer over several logs: catch up, then wait for more, until told to stop."""

import asyncio
import contextlib
import time
from collections.abc import Callable, Sequence
from typing import Protocol

import structlog
from pydantic import ValidationError

from services.runtime.backoff import Backoff
from services.runtime.database import is_database_unreachable
from services.runtime.event_log import EventLog

log = structlog.get_logger(__name__)

IDLE_POLL_SECONDS = 0.5
RESTART_MOST_SECONDS = 30.0


class BatchConsumer(Protocol):
    """Something that handles the next batch of a log, checkpoint included, in one transaction."""

    async def handle_next_batch(self, log: EventLog) -> int:
        """Handle the events after the consumer's checkpoint in `log`; return how many."""
        ...


async def catch_up(
    consumer: BatchConsumer,
    logs: Sequence[EventLog],
    *,
    on_progress: Callable[[int], None] | None = None,
    stop: asyncio.Event | None = None,
) -> int:
    """Handle batches from every log until none has anything new (or `stop` is set)."""
    total = 0
    while stop is None or not stop.is_set():
        handled = 0
        for source in logs:
            handled += await consumer.handle_next_batch(source)
        if handled == 0:
            return total
        total += handled
        if on_progress is not None:
            on_progress(total)
    return total


async def run_until_stopped(
    consumer: BatchConsumer, logs: Sequence[EventLog], stop: asyncio.Event
) -> None:
    """Keep `consumer` caught up with `logs` until `stop` is set."""
    while not stop.is_set():
        handled = await catch_up(consumer, logs, stop=stop)
        if handled:
            log.debug("caught_up", events=handled)
            continue
        waits = [asyncio.ensure_future(source.wait_for_new(IDLE_POLL_SECONDS)) for source in logs]
        stopping = asyncio.ensure_future(stop.wait())
        await asyncio.wait([*waits, stopping], return_when=asyncio.FIRST_COMPLETED)
        for waiting in [*waits, stopping]:
            waiting.cancel()


async def keep_running(
    consumer: BatchConsumer,
    logs: Sequence[EventLog],
    stop: asyncio.Event,
    *,
    name: str,
    restart_delay: float = 1.0,
) -> None:
    """Run `consumer` until `stop` is set, starting it again after an unexpected failure.

    Failures in a row wait `restart_delay` seconds, then twice as long each time (at most
    RESTART_MOST_SECONDS; a run of a minute starts over), so a database that is down for a
    while is asked less and less often. Each failure is logged as `<name>_failed` with the
    wait; a validation error's text would quote the event's personal data, and an outage's
    stack trace says nothing new each time, so for those only the error's type is named.
    """
    backoff = Backoff(first=restart_delay, most=max(restart_delay, RESTART_MOST_SECONDS))
    attempts = 0
    while not stop.is_set():
        started = time.monotonic()
        try:
            await run_until_stopped(consumer, logs, stop)
        except Exception as error:
            attempts, delay = backoff.next_restart(attempts, ran_for=time.monotonic() - started)
            unreachable = is_database_unreachable(error)
            log.error(
                f"{name}_failed",
                error_type=type(error).__name__,
                database_unreachable=unreachable,
                attempt=attempts,
                retry_s=delay,
                exc_info=not (unreachable or isinstance(error, ValidationError)),
            )
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), delay)
