"""The charities' systems that may push to the organisation services, read from a TOML file
(`CASEWEAVE_SOURCES_FILE`), each with its mapping file beside it:

    [sources.eastside_drop_in]        # POST /v1/inbound/eastside_drop_in
    org = "voluntary"                 # whose records its messages write
    secrets = ["whsec_…"]             # Standard Webhooks secrets; two while rotating one out
    mapping = "eastside_drop_in.toml" # how its messages become commands (relative to this file)
    endpoint = "https://…"            # optional: where its system takes our webhooks

Unset: no source may push. A file (or a mapping) that breaks a rule stops the service at
start-up, naming the file, the field and the rule.
"""

import base64
import binascii
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field, HttpUrl, field_validator

from events.envelope import OrgId
from events.organisations import DEFAULT_ORGANISATIONS, Organisations
from services.organisation.domain.inbound_mapping import Source, SourceMapping
from services.runtime.toml_config import ConfigFileInvalid, load_toml_model

SECRET_PREFIX = "whsec_"  # noqa: S105 - the prefix, not a secret


class SourceEntry(BaseModel):
    """One source as the file declares it."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    org: OrgId
    secrets: list[str] = Field(min_length=1, max_length=5)
    mapping: Path
    endpoint: HttpUrl | None = Field(
        default=None,
        description="where the charity's system takes our webhooks (referrals made to it,"
        " answers to its own), signed with its secrets",
    )

    @field_validator("secrets")
    @classmethod
    def _standard_webhooks_secrets(cls, secrets: list[str]) -> list[str]:
        for secret in secrets:
            if not secret.startswith(SECRET_PREFIX):
                raise ValueError(f"a secret starts with {SECRET_PREFIX} (Standard Webhooks)")
            try:
                key = base64.b64decode(secret.removeprefix(SECRET_PREFIX), validate=True)
            except binascii.Error as error:
                raise ValueError("a secret is whsec_ and base64 after it") from error
            if len(key) < 24:
                raise ValueError("a secret holds at least 24 random bytes")
        return secrets


class SourcesFile(BaseModel):
    """The sources file: one table per source, by name."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    sources: dict[str, SourceEntry] = Field(default_factory=dict)

    @field_validator("sources")
    @classmethod
    def _names_fit_a_path(cls, sources: dict[str, SourceEntry]) -> dict[str, SourceEntry]:
        for name in sources:
            if not name.replace("_", "").replace("-", "").isalnum() or len(name) > 64:
                raise ValueError(f"source name {name!r}: letters, digits, - and _ (64 at most)")
        return sources


def load_sources(
    path: Path | None, organisations: Organisations = DEFAULT_ORGANISATIONS
) -> dict[str, Source]:
    """Return the sources the file declares, each with its mapping (none without a file);
    each must write the records of one of the place's `organisations`."""
    if path is None:
        return {}
    declared = load_toml_model(path, SourcesFile)
    for name, entry in declared.sources.items():
        if entry.org not in organisations:
            listed = ", ".join(organisations.ids)
            raise ConfigFileInvalid(
                f"{path}: sources.{name}.org: {entry.org!r} is not an organisation of the place"
                f" (CASEWEAVE_ORGANISATIONS_FILE lists {listed})"
            )
    return {
        name: Source(
            name=name,
            org=entry.org,
            secrets=tuple(entry.secrets),
            mapping=load_toml_model(path.parent / entry.mapping, SourceMapping),
            endpoint=None if entry.endpoint is None else str(entry.endpoint),
        )
        for name, entry in declared.sources.items()
    }


SourcesFileInvalid = ConfigFileInvalid  # the name callers know
