"""The place's sharing rules, read from a TOML file (`CASEWEAVE_SHARING_FILE`).

Unset means the rules in `default_sharing.toml` beside this module, which say what each
grant is for. A file that breaks a rule stops the process at start-up, naming the field.
"""

from pathlib import Path

from events.organisations import DEFAULT_ORGANISATIONS, Organisations
from services.projection.domain.sharing import SharingPolicy
from services.runtime.toml_config import ConfigFileInvalid, load_toml_model

DEFAULT_SHARING_FILE = Path(__file__).with_name("default_sharing.toml")


def load_sharing_policy(
    path: Path | None, place: Organisations = DEFAULT_ORGANISATIONS
) -> SharingPolicy:
    """Return the sharing rules in `path`, or the default ones when there is none, for the
    `place`'s organisations (each one a grant names must be one of them)."""
    where = path or DEFAULT_SHARING_FILE
    try:
        return load_toml_model(where, SharingPolicy).for_place(place)
    except ValueError as error:
        raise ConfigFileInvalid(f"{where}: {error}") from None
