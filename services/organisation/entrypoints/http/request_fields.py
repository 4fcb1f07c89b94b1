"""Field types requests share."""

from datetime import UTC, datetime
from typing import Annotated

from pydantic import AfterValidator, AwareDatetime, Field
from pydantic_core import PydanticCustomError

from services.organisation.domain.recording import check_not_in_future

EARLIEST_OCCURRED_AT = datetime(1900, 1, 1, tzinfo=UTC)


def _not_in_future(value: datetime) -> datetime:
    return check_not_in_future(value, now=datetime.now(UTC))


def _not_before_1900(value: datetime) -> datetime:
    if value < EARLIEST_OCCURRED_AT:
        raise PydanticCustomError("occurred_at_too_early", "occurred_at is before 1900")
    return value


OccurredAt = Annotated[
    AwareDatetime,
    AfterValidator(_not_before_1900),
    AfterValidator(_not_in_future),
    Field(
        description="when it happened, with a timezone; at most 5 minutes ahead (default: now)",
        examples=["2025-03-04T10:15:00Z"],
    ),
]
ExpectedVersion = Annotated[
    int,
    Field(ge=0, description="the version you read: the write fails with 409 if it moved on"),
]
