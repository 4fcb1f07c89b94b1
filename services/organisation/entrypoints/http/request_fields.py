"""Field types requests share."""

from datetime import UTC, datetime
from typing import Annotated

from pydantic import AfterValidator, AwareDatetime, Field

from services.organisation.domain.recording import check_not_in_future


def _not_in_future(value: datetime) -> datetime:
    return check_not_in_future(value, now=datetime.now(UTC))


OccurredAt = Annotated[
    AwareDatetime,
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
