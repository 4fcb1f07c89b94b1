"""The referral inbox keeps running through a failure, and stops when told to."""

import asyncio

from pydantic import BaseModel, ValidationError
from structlog.testing import capture_logs

from services.organisation.entrypoints.referral_inbox import keep_inbox_running
from services.runtime.event_log import EventLog
from tests.fake_logs import QuietLog


class FailingThenCountingInbox:
    """Fails on the batches listed, then counts batches until it has seen enough."""

    def __init__(self, stop: asyncio.Event, *, failures: list[Exception]) -> None:
        self.stop, self.failures, self.batches = stop, failures, 0

    async def handle_next_batch(self, log: EventLog) -> int:
        """Raise the next failure, if any; else count the batch, stopping after three."""
        if self.failures:
            raise self.failures.pop(0)
        self.batches += 1
        if self.batches == 3:
            self.stop.set()
        return 0


class Person(BaseModel):
    """A model whose validation error would quote its input."""

    name: int


def _validation_error() -> ValidationError:
    try:
        Person.model_validate({"name": "Alex Morgan"})
    except ValidationError as error:
        return error
    raise AssertionError("expected a validation error")


async def test_a_failure_is_logged_and_the_inbox_starts_again() -> None:
    """A database hiccup does not end the inbox: it logs the failure and carries on."""
    stop = asyncio.Event()
    inbox = FailingThenCountingInbox(stop, failures=[ConnectionError("gone")])
    with capture_logs() as logs:
        await asyncio.wait_for(
            keep_inbox_running(inbox, [QuietLog()], stop, restart_delay=0.01), timeout=5
        )
    assert inbox.batches == 3
    assert [line["error_type"] for line in logs if line["event"] == "referral_inbox_failed"] == [
        "ConnectionError"
    ]


async def test_a_validation_failure_is_logged_without_the_data_it_quotes() -> None:
    """A malformed event's personal data stays out of the log: only the error's type is named."""
    stop = asyncio.Event()
    inbox = FailingThenCountingInbox(stop, failures=[_validation_error()])
    with capture_logs() as logs:
        await keep_inbox_running(inbox, [QuietLog()], stop, restart_delay=0.01)
    failure = next(line for line in logs if line["event"] == "referral_inbox_failed")
    assert failure["exc_info"] is False
    assert "Alex Morgan" not in repr(logs)
