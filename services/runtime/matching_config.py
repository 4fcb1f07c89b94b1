"""The place's matching thresholds, read from a TOML file (`CASEWEAVE_MATCHING_FILE`).

    [default]            # every place without its own entry
    link = 15.0          # at or above: link automatically
    review = 6.0         # at or above (below link): a data steward reviews the pair

    [places.E06000023]   # Bristol: stricter
    link = 17.0
    review = 7.0

Unset means the defaults above. A file that breaks a rule stops the process at start-up
with the field and the rule named.
"""

from pathlib import Path

from services.identity_matching.matching import MatchingConfig
from services.runtime.toml_config import ConfigFileInvalid, load_toml_model

MatchingConfigInvalid = ConfigFileInvalid  # the name callers know


def load_matching_config(path: Path | None) -> MatchingConfig:
    """Return the matching configuration in `path`, or the defaults when there is none."""
    return MatchingConfig() if path is None else load_toml_model(path, MatchingConfig)
