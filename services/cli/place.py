"""The place's organisations as commands take them: `--org` names one of them, or none (every
organisation)."""

from events.envelope import OrgId
from services.runtime.organisations_file import load_organisations
from services.runtime.settings import Settings


class UnknownOrganisation(Exception):
    """`--org` names no organisation of the place."""


def organisations_chosen(settings: Settings, org: str | None) -> list[OrgId]:
    """Return `[org]`, or every organisation of the place when `org` is None; raise
    UnknownOrganisation (naming the ones there are) for an organisation the place lacks."""
    organisations = load_organisations(settings.organisations_file)
    if org is None:
        return list(organisations.ids)
    if org not in organisations.ids:
        listed = ", ".join(organisations.ids)
        raise UnknownOrganisation(
            f"--org {org}: not an organisation of this place (CASEWEAVE_ORGANISATIONS_FILE"
            f" lists {listed})"
        )
    return [org]
