"""A caller's correlation id is stored in clear everywhere, so only a safe shape is kept."""

from uuid import UUID

import pytest

from services.runtime.correlation import correlation_id_for


@pytest.mark.parametrize(
    "given",
    [
        "9b2f7a52-3c1e-4d5e-9a3b-1f2e3d4c5b6a",
        "9B2F7A523C1E4D5E9A3B1F2E3D4C5B6A",
        "4bf92f3577b34da6a3ce929d0e0e4736",
        "0" * 64,
    ],
)
def test_a_safe_correlation_id_is_kept_as_given(given: str) -> None:
    assert correlation_id_for(given) == given


@pytest.mark.parametrize(
    "given",
    [
        None,
        "",
        "David Smith 943 476 5919",
        "David.Smith",
        "9434765919",
        "ref-42",
        "Zoë",
        "a/b",
        "0" * 65,
        "id\n2",
        "-" * 20,
    ],
)
def test_any_other_correlation_id_is_replaced_by_a_fresh_one(given: str | None) -> None:
    fresh = correlation_id_for(given)
    assert fresh != given
    assert UUID(fresh).version == 4
