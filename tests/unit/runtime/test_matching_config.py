"""The matching thresholds file: defaults, per-place values, and precise errors."""

from pathlib import Path

import pytest

from services.identity_matching.matching import Thresholds
from services.runtime.matching_config import MatchingConfigInvalid, load_matching_config


def test_no_file_means_the_documented_defaults() -> None:
    assert load_matching_config(None).thresholds_for("E06000023") == Thresholds(link=15, review=6)


def test_places_override_the_default(tmp_path: Path) -> None:
    path = tmp_path / "matching.toml"
    path.write_text("[default]\nlink = 16\n\n[places.E06000023]\nlink = 18.5\nreview = 7\n")
    config = load_matching_config(path)
    assert config.thresholds_for("E06000023") == Thresholds(link=18.5, review=7)
    assert config.thresholds_for("E09000001") == Thresholds(link=16, review=6)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("[places.E1]\nlink = 5\nreview = 9\n", "places.E1: Value error, review must not be"),
        ("[default]\nlinks = 5\n", "default.links: Extra inputs are not permitted"),
        ("[default\n", "not valid TOML"),
    ],
)
def test_a_broken_file_names_where_and_which_rule(tmp_path: Path, text: str, expected: str) -> None:
    path = tmp_path / "matching.toml"
    path.write_text(text)
    with pytest.raises(MatchingConfigInvalid, match=expected.replace(".", r"\.")):
        load_matching_config(path)


def test_a_missing_file_is_named(tmp_path: Path) -> None:
    with pytest.raises(MatchingConfigInvalid, match="cannot read it"):
        load_matching_config(tmp_path / "nope.toml")
