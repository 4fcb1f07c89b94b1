"""The place's matching thresholds, read from a TOML file (`CASEWEAVE_MATCHING_FILE`).

    [default]            # every place without its own entry
    link = 15.0          # at or above: link automatically
    review = 6.0         # at or above (below link): a data steward reviews the pair
    twins_rule = true    # given names that differ never link by themselves (default)

    [places.E06000023]   # Bristol: stricter
    link = 17.0
    review = 7.0

    [model]              # optional: the weights (`caseweave identity train` writes them)
    version = "trained-2026-12-07T110338Z"
    [model.given_name]
    exact = { weight = 7.8, m = 0.728, u = 0.00329 }
    ...
    [model.names.family_name]  # exact names weighed by how common they are (learnt)
    min_bearers = 10
    rare = 10.9
    [model.names.family_name.common]
    "smith" = 5.1
    ...

Unset means the defaults above and the default model (`services/identity_matching/model.py`).
A file that breaks a rule stops the process at start-up with the field and the rule named.
"""

import json
from datetime import UTC, datetime
from pathlib import Path

from services.identity_matching.comparisons import FIELDS
from services.identity_matching.matching import MatchingConfig, Thresholds
from services.runtime.toml_config import ConfigFileInvalid, load_toml_model

MatchingConfigInvalid = ConfigFileInvalid  # the name callers know


def load_matching_config(path: Path | None) -> MatchingConfig:
    """Return the matching configuration in `path`, or the defaults when there is none."""
    return MatchingConfig() if path is None else load_toml_model(path, MatchingConfig)


def matching_file_text(config: MatchingConfig, *, heading: str = "") -> str:
    """Return `config` as the TOML file `load_matching_config` reads back to an equal config
    (what `caseweave identity train` writes). `heading` becomes comment lines at the top."""
    lines = [f"# {line}".rstrip() for line in heading.splitlines()]
    lines += ["", "[default]", *_thresholds_lines(config.default)]
    for place, thresholds in sorted(config.places.items()):
        lines += ["", f"[places.{place}]", *_thresholds_lines(thresholds)]
    model = config.model
    lines += ["", "[model]", f"version = {_toml_string(model.version)}"]
    if model.training is not None:
        lines += ["", "[model.training]"]
        for name, value in model.training.model_dump().items():
            lines.append(f"{name} = {_toml_value(value)}")
    for field in FIELDS:
        lines += ["", f"[model.{field}]"]
        for level, weight in model.of(field).items():
            shown = weight.model_dump(exclude_none=True)
            pairs = ", ".join(f"{name} = {_toml_value(value)}" for name, value in shown.items())
            lines.append(f"{level} = {{ {pairs} }}")
    for field, names in model.names.items():
        lines += ["", f"[model.names.{field}]", f"min_bearers = {names.min_bearers}"]
        lines += [f"rare = {names.rare!r}", "", f"[model.names.{field}.common]"]
        lines += [f"{_toml_string(name)} = {weight!r}" for name, weight in names.common.items()]
    return "\n".join(lines).lstrip("\n") + "\n"


def _thresholds_lines(thresholds: Thresholds) -> list[str]:
    return [
        f"link = {thresholds.link!r}",
        f"review = {thresholds.review!r}",
        f"twins_rule = {str(thresholds.twins_rule).lower()}",
    ]


def _toml_value(value: object) -> str:
    if isinstance(value, datetime):
        return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    if isinstance(value, str):
        return _toml_string(value)
    return repr(value)


def _toml_string(text: str) -> str:
    return json.dumps(text)  # a JSON string is a TOML basic string
