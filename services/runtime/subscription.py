"""Drive a consumer over several logs: catch up, then wait for more, until told to stop."""

import asyncio
import contextlib
from collections.abc import Callable, Sequence
from typing import Protocol

import structlog
from pydantic import ValidationError

from services.runtime.event_log import EventLog

log = structlog.get_logger(__name__)

IDLE_POLL_SECONDS = 0.5


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

    Each failure is logged as `<name>_failed`; a validation error's text would quote the
    event's personal data, so only its type is named.
    """
    while not stop.is_set():
        try:
            await run_until_stopped(consumer, logs, stop)
        except Exception as error:
            quiet = isinstance(error, ValidationError)
            log.error(f"{name}_failed", error_type=type(error).__name__, exc_info=not quiet)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), restart_delay)
