"""The place's sharing rules, read from a TOML file (`CASEWEAVE_SHARING_FILE`).

Unset means the rules in `default_sharing.toml` beside this module, which say what each
grant is for. A file that breaks a rule stops the process at start-up, naming the field.
"""

from pathlib import Path

from services.projection.domain.sharing import SharingPolicy
from services.runtime.toml_config import load_toml_model

DEFAULT_SHARING_FILE = Path(__file__).with_name("default_sharing.toml")


def load_sharing_policy(path: Path | None) -> SharingPolicy:
    """Return the sharing rules in `path`, or the default ones when there is none."""
    return load_toml_model(path or DEFAULT_SHARING_FILE, SharingPolicy)
