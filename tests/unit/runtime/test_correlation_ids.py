"""A caller's correlation id is stored in clear everywhere, so only a safe shape is kept."""

from uuid import UUID

import pytest

from services.runtime.correlation import correlation_id_for


@pytest.mark.parametrize(
    "given", ["ref-42", "c-500", "9b2f7a52-3c1e-4d5e-9a3b-1f2e3d4c5b6a", "a.b_c-D", "x" * 64]
)
def test_a_safe_correlation_id_is_kept_as_given(given: str) -> None:
    assert correlation_id_for(given) == given


@pytest.mark.parametrize(
    "given", [None, "", "David Smith 943 476 5919", "Zoë", "a/b", "x" * 65, "id\n2"]
)
def test_any_other_correlation_id_is_replaced_by_a_fresh_one(given: str | None) -> None:
    fresh = correlation_id_for(given)
    assert fresh != given
    assert UUID(fresh).version == 4
