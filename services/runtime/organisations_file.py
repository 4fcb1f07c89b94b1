"""The place's organisations, read from a TOML file (`CASEWEAVE_ORGANISATIONS_FILE`).

    [organisations.northtown_housing]
    name = "Northtown Council housing options"
    sector = "housing"                 # housing | mental_health | voluntary
    contact = "housing.options@northtown.gov.uk"

    [organisations.eastside_food_bank]
    name = "Eastside Food Bank"
    sector = "voluntary"

Unset means one organisation per sector, named after it (`housing`, `mental_health`,
`voluntary`). A file that breaks a rule stops the process at start-up, naming the field
(`organisations.<id>.<field>`) and the rule.
"""

from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from events.organisations import DEFAULT_ORGANISATIONS, Organisation, Organisations, Sector
from services.runtime.toml_config import ConfigFileInvalid, load_toml_model


class _Listed(BaseModel):
    """An organisation as the file lists it: the table's name is its id."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    name: str = Field(min_length=1, max_length=200)
    sector: Sector
    contact: str | None = Field(default=None, max_length=200)


class _OrganisationsFile(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    organisations: dict[str, _Listed] = Field(min_length=1)


def load_organisations(path: Path | None) -> Organisations:
    """Return the organisations in `path`, or the default ones when there is none."""
    if path is None:
        return DEFAULT_ORGANISATIONS
    listed = load_toml_model(path, _OrganisationsFile).organisations
    problems = []
    organisations = []
    for org, entry in listed.items():
        try:
            organisations.append(Organisation(id=org, **entry.model_dump()))
        except ValidationError as error:
            problems += [f"organisations.{org}: {_said(e['msg'])}" for e in error.errors()]
    try:
        if not problems:
            return Organisations(organisations=tuple(organisations))
    except ValidationError as error:
        problems += [f"organisations.{_said(e['msg'])}" for e in error.errors()]
    raise ConfigFileInvalid(f"{path}: {'; '.join(problems)}")


def _said(message: str) -> str:
    return message.removeprefix("Value error, ")
