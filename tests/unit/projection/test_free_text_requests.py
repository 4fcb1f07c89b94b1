"""The projection's request bodies refuse blank reasons, like every other free text."""

from typing import Any
from uuid import uuid4

import pytest
from pydantic import BaseModel, ValidationError

from services.projection.entrypoints.http.governance import EmergencyReason
from services.projection.entrypoints.http.identity import Reason, Unlink

REQUESTS: list[tuple[type[BaseModel], dict[str, Any]]] = [
    (EmergencyReason, {}),
    (Reason, {}),
    (Unlink, {"org": "housing", "person_id": str(uuid4())}),
]


@pytest.mark.parametrize(("model", "fields"), REQUESTS, ids=[m.__name__ for m, _ in REQUESTS])
@pytest.mark.parametrize("blank", [" " * 12, "\t\n" * 6, "\u00a0" * 11])
def test_a_blank_reason_is_refused_with_rule_not_blank(
    model: type[BaseModel], fields: dict[str, Any], blank: str
) -> None:
    """A break-glass or steward's reason of spaces only says nothing an IG lead can check."""
    with pytest.raises(ValidationError) as refused:
        model.model_validate({**fields, "reason": blank})
    assert [(e["loc"], e["type"]) for e in refused.value.errors()] == [(("reason",), "not_blank")]


def test_a_break_glass_reason_padded_with_spaces_is_too_short() -> None:
    """Ten characters means ten besides the spaces around them."""
    with pytest.raises(ValidationError) as refused:
        EmergencyReason.model_validate({"reason": "  fire   " + " " * 6})
    assert [e["type"] for e in refused.value.errors()] == ["string_too_short"]


def test_a_real_reason_is_kept_as_written() -> None:
    """A reason with words passes untouched."""
    reason = "Found unconscious; need allergies"
    assert EmergencyReason.model_validate({"reason": reason}).reason == reason


def test_a_break_glass_reason_padded_with_zero_width_characters_is_too_short() -> None:
    """Characters that do not show do not count towards the ten."""
    with pytest.raises(ValidationError) as refused:
        EmergencyReason.model_validate({"reason": "a" + "\u200b" * 12})
    assert [e["type"] for e in refused.value.errors()] == ["string_too_short"]
    assert EmergencyReason.model_validate({"reason": "need his GP now"}).reason
