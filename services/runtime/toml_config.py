"""Read a configuration file (TOML) into a pydantic model, or say precisely what is wrong."""

import tomllib
from pathlib import Path
from typing import TypeVar

from pydantic import BaseModel, ValidationError

M = TypeVar("M", bound=BaseModel)


class ConfigFileInvalid(Exception):
    """A configuration file cannot be read or breaks a rule; the message names the field."""


def load_toml_model(path: Path, model: type[M]) -> M:
    """Return the file at `path` validated as `model`."""
    try:
        document = tomllib.loads(path.read_text(encoding="utf-8"))
    except OSError as error:
        raise ConfigFileInvalid(f"{path}: cannot read it ({error.strerror})") from None
    except tomllib.TOMLDecodeError as error:
        raise ConfigFileInvalid(f"{path}: not valid TOML ({error})") from None
    try:
        return model.model_validate(document)
    except ValidationError as error:
        problems = "; ".join(
            f"{'.'.join(str(part) for part in e['loc']) or 'file'}: {e['msg']}"
            for e in error.errors(include_input=False)
        )
        raise ConfigFileInvalid(f"{path}: {problems}") from None
