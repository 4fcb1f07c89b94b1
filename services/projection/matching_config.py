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

import tomllib
from pathlib import Path

from pydantic import ValidationError

from services.projection.domain.matching import MatchingConfig


class MatchingConfigInvalid(Exception):
    """The matching file cannot be read or breaks a rule; the message says where."""


def load_matching_config(path: Path | None) -> MatchingConfig:
    """Return the matching configuration in `path`, or the defaults when there is none."""
    if path is None:
        return MatchingConfig()
    try:
        document = tomllib.loads(path.read_text(encoding="utf-8"))
    except OSError as error:
        raise MatchingConfigInvalid(f"{path}: cannot read it ({error.strerror})") from None
    except tomllib.TOMLDecodeError as error:
        raise MatchingConfigInvalid(f"{path}: not valid TOML ({error})") from None
    try:
        return MatchingConfig.model_validate(document)
    except ValidationError as error:
        problems = "; ".join(
            f"{'.'.join(str(part) for part in e['loc']) or 'file'}: {e['msg']}"
            for e in error.errors(include_input=False)
        )
        raise MatchingConfigInvalid(f"{path}: {problems}") from None
