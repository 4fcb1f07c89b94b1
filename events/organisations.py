"""The organisations of a place, and the sector each works in.

A place has one council, an NHS trust or two, and tens of charities. Each organisation has an
id (its events' `org`, its key's organisation, its database schema and Kafka topic), a name
people know it by, a contact, and one sector. The sector says which vocabulary it records
(`housing.*`, `mental_health.*`, `voluntary.*` event types) and which service serves it: each
sector's service serves every organisation of its sector.

The register is the place's configuration (`CASEWEAVE_ORGANISATIONS_FILE`); the default is one
organisation per sector, named after it, as Caseweave has always started.
"""

from collections.abc import Mapping
from typing import Literal, get_args

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from events.envelope import ORG_ID_PATTERN, OrgId

Sector = Literal["housing", "mental_health", "voluntary"]
SECTORS: tuple[Sector, ...] = get_args(Sector)
SECTOR_NAMES: Mapping[Sector, str] = {
    "housing": "housing",
    "mental_health": "mental health",
    "voluntary": "voluntary sector",
}
_RESERVED = ("projection", "public", "information_schema")
_RESERVED_PREFIXES = ("caseweave", "pg_")
_RESERVED_SUFFIXES = ("_erasures",)  # beside each schema, its erasures' own


class Organisation(BaseModel):
    """One organisation of the place."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    id: OrgId = Field(
        description="its events' `org`, its keys' organisation, its schema and topic: lower"
        " case letters, digits and underscores"
    )
    name: str = Field(min_length=1, max_length=200, description="the name people know it by")
    sector: Sector
    contact: str | None = Field(
        default=None, max_length=200, description="how other organisations reach it"
    )

    @field_validator("id")
    @classmethod
    def _not_reserved(cls, org: str) -> str:
        if (
            org in _RESERVED
            or org.startswith(_RESERVED_PREFIXES)
            or org.endswith(_RESERVED_SUFFIXES)
        ):
            raise ValueError(f"{org!r} is a name Caseweave keeps for its own tables")
        return org


class Organisations(BaseModel):
    """The place's register of organisations."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    organisations: tuple[Organisation, ...] = Field(min_length=1)

    @model_validator(mode="after")
    def _sector_names_are_their_own(self) -> "Organisations":
        for organisation in self.organisations:
            if organisation.id in SECTORS and organisation.sector != organisation.id:
                raise ValueError(
                    f"{organisation.id}: an organisation named after a sector must be of that"
                    f" sector, not {organisation.sector}"
                )
        if len({o.id for o in self.organisations}) != len(self.organisations):
            raise ValueError("organisations: each id once")
        return self

    def __contains__(self, org: object) -> bool:
        return any(o.id == org for o in self.organisations)

    @property
    def ids(self) -> tuple[OrgId, ...]:
        """Return every organisation's id, in the file's order."""
        return tuple(o.id for o in self.organisations)

    def get(self, org: str) -> Organisation | None:
        """Return the organisation with this id, if the place has it."""
        return next((o for o in self.organisations if o.id == org), None)

    def sector_of(self, org: str) -> Sector | None:
        """Return the sector `org` works in (None: not an organisation of this place)."""
        found = self.get(org)
        return None if found is None else found.sector

    def name_of(self, org: str) -> str:
        """Return the name people know `org` by (its id if the place does not list it)."""
        found = self.get(org)
        return org if found is None else found.name

    def of_sector(self, sector: Sector) -> tuple[OrgId, ...]:
        """Return the ids of the organisations of `sector`."""
        return tuple(o.id for o in self.organisations if o.sector == sector)

    @property
    def sectors(self) -> tuple[Sector, ...]:
        """Return the sectors the place has organisations of (in the sectors' order)."""
        return tuple(s for s in SECTORS if self.of_sector(s))


DEFAULT_ORGANISATIONS = Organisations(
    organisations=(
        Organisation(id="housing", name="Housing service", sector="housing"),
        Organisation(id="mental_health", name="Mental health service", sector="mental_health"),
        Organisation(id="voluntary", name="Voluntary sector service", sector="voluntary"),
    )
)
"""One organisation per sector, named after it: what a place starts from."""

__all__ = [
    "DEFAULT_ORGANISATIONS",
    "ORG_ID_PATTERN",
    "SECTORS",
    "Organisation",
    "Organisations",
    "Sector",
]
