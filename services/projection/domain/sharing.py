"""Who may see what of a citizen: a place's sharing rules, and the single view they leave.

Pure. A viewer is an organisation and a role (from their API key). They always see what their
own organisation recorded. Of another organisation's records they see the categories a
grant gives their organisation and role: nothing else (default deny). Categories are the
envelope's (`housing.tenancy`, `health.clinical`, `safeguarding.risk`...); a grant may name
one exactly or a family (`housing.*`), or everything (`*`).

Only a viewer with a legitimate relationship to the person (an open case, or an accepted
referral to their organisation) opens the full single view; anyone else sees whether and
how to contact the organisations involved: each one's open cases and key workers.

How each part of the view is judged:
- identity values and an organisation's registration: `person.identity` of the organisation
  that registered them;
- an organisation's cases (reason, outcome, dates, key worker): `case.involvement`;
- a flag: the category of the event that raised it (`flag.raised` is `safeguarding.risk`;
  an eviction notice served is `housing.tenancy`);
- a referral: `referral` of the organisation that made it or the one it was made to;
- an event (timeline, recent): its own category.
"""

from collections.abc import Iterable
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from events.envelope import OrgId
from services.projection.domain.view import (
    CaseView,
    CitizenView,
    Flag,
    Identity,
    Involvement,
    Referral,
    SourcedDate,
    SourcedText,
)

Role = Literal["frontline", "data_steward", "ig_lead", "ops"]
Access = Literal["full", "contacts"]
IDENTITY = "person.identity"
INVOLVEMENT = "case.involvement"
REFERRAL = "referral"


class Grant(BaseModel):
    """Viewers of these organisations (and roles) may see these categories of those
    organisations' records."""

    model_config = ConfigDict(frozen=True, extra="forbid", populate_by_name=True)

    viewers: tuple[OrgId, ...] = Field(min_length=1, description="the viewers' organisations")
    roles: tuple[Role, ...] = Field(
        default=("frontline", "data_steward", "ig_lead", "ops"), min_length=1
    )
    source: tuple[OrgId, ...] = Field(
        alias="from", min_length=1, description="whose records they may see"
    )
    categories: tuple[str, ...] = Field(min_length=1)

    @field_validator("categories")
    @classmethod
    def _patterns(cls, categories: tuple[str, ...]) -> tuple[str, ...]:
        for pattern in categories:
            name = pattern.removesuffix(".*")
            if pattern != "*" and not all(part.isidentifier() for part in name.split(".")):
                raise ValueError(
                    f"{pattern!r} is not a category, a family like 'housing.*', or '*'"
                )
        return categories


class SharingPolicy(BaseModel):
    """A place's sharing rules: the grants; whatever no grant names is not shared."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    grants: tuple[Grant, ...] = Field(default=(), alias="grant")

    def patterns_for(self, viewer_org: OrgId, role: Role, source: OrgId) -> frozenset[str]:
        """Return the category patterns a viewer may see of `source`'s records."""
        if viewer_org == source:
            return frozenset({"*"})
        return frozenset(
            pattern
            for grant in self.grants
            if viewer_org in grant.viewers and role in grant.roles and source in grant.source
            for pattern in grant.categories
        )


class Viewer(BaseModel):
    """Who is looking: their organisation and role, and what the place lets them see."""

    model_config = ConfigDict(frozen=True)

    org: OrgId
    role: Role
    policy: SharingPolicy

    def may_see(self, source: OrgId, category: str) -> bool:
        """Tell whether this viewer may see `source`'s records of `category`."""
        return any(
            _matches(pattern, category)
            for pattern in self.policy.patterns_for(self.org, self.role, source)
        )


def _matches(pattern: str, category: str) -> bool:
    if pattern in ("*", category):
        return True
    return pattern.endswith(".*") and category.startswith(pattern[:-1])


class SharedView(CitizenView):
    """The single view as one viewer may see it."""

    access: Access = Field(
        description="full: the viewer works with the person; contacts: only who is involved"
        " and how to reach them"
    )


def has_relationship(view: CitizenView, org: OrgId) -> bool:
    """Tell whether `org` works with the citizen: an open case, or an accepted referral to it."""
    open_case = any(
        case.status == "open"
        for involvement in view.involvements
        if involvement.org == org
        for case in involvement.cases
    )
    accepted = any(r.to_org == org and r.status == "accepted" for r in view.referrals)
    return open_case or accepted


def shared_view(
    view: CitizenView, viewer: Viewer, *, flag_categories: dict[str, str], related: bool
) -> tuple[CitizenView, Access]:
    """Return the part of `view` the viewer may see, and whether it is the full view.

    `related`: the viewer has a relationship to the person (`has_relationship`) or a
    break-glass grant. `flag_categories` maps the event type that raised a flag to its
    category. Recent events are left out: the caller reads them from the timeline, filtered
    the same way.
    """
    if not related:
        return _contacts_only(view, viewer), "contacts"
    involvements = tuple(
        kept
        for involvement in view.involvements
        if (kept := _involvement(involvement, viewer)) is not None
    )
    return (
        CitizenView(
            citizen_id=view.citizen_id,
            identity=_identity(view.identity, viewer),
            involvements=involvements,
            flags=tuple(f for f in view.flags if _may_see_flag(f, viewer, flag_categories)),
            referrals=tuple(r for r in view.referrals if _may_see_referral(r, viewer)),
        ),
        "full",
    )


def _contacts_only(view: CitizenView, viewer: Viewer) -> CitizenView:
    """Whom to contact: the open cases' key workers of organisations whose involvement the
    rules share (or the viewer's own), nothing else: no dates, reasons or references."""
    contacts = tuple(
        Involvement(
            org=involvement.org,
            person_id="",
            cases=tuple(_contact(case) for case in involvement.cases if case.status == "open"),
        )
        for involvement in view.involvements
        if any(case.status == "open" for case in involvement.cases)
        and viewer.may_see(involvement.org, INVOLVEMENT)
    )
    return CitizenView(citizen_id=view.citizen_id, involvements=contacts)


def _contact(case: CaseView) -> CaseView:
    return CaseView(case_id=case.case_id, status=case.status, key_worker=case.key_worker)


def _involvement(involvement: Involvement, viewer: Viewer) -> Involvement | None:
    if not viewer.may_see(involvement.org, INVOLVEMENT):
        return None
    identity_shared = viewer.may_see(involvement.org, IDENTITY)
    return Involvement(
        org=involvement.org,
        person_id=involvement.person_id if identity_shared else "",
        registration=involvement.registration if identity_shared else None,
        cases=involvement.cases,
    )


def may_find(view: CitizenView, viewer: Viewer) -> bool:
    """Tell whether a search may show this citizen to the viewer: their organisation knows
    them, or may see who some organisation involved with them is (`person.identity`)."""
    return any(
        involvement.org == viewer.org or viewer.may_see(involvement.org, IDENTITY)
        for involvement in view.involvements
    )


def identity_for(view: CitizenView, viewer: Viewer) -> Identity:
    """Return the values of the citizen's best-known identity the viewer may see."""
    return _identity(view.identity, viewer)


def _identity(identity: Identity, viewer: Viewer) -> Identity:
    def kept(value: SourcedText | SourcedDate | None) -> bool:
        return value is not None and viewer.may_see(value.org, IDENTITY)

    values = {
        name: value
        for name, value in identity
        if isinstance(value, SourcedText | SourcedDate) and kept(value)
    }
    return Identity(**values)


def _may_see_flag(flag: Flag, viewer: Viewer, flag_categories: dict[str, str]) -> bool:
    if flag.org == viewer.org:
        return True
    category = flag_categories.get(flag.raised_by_event)
    return category is not None and viewer.may_see(flag.org, category)


def _may_see_referral(referral: Referral, viewer: Viewer) -> bool:
    return viewer.may_see(referral.from_org, REFERRAL) or viewer.may_see(referral.to_org, REFERRAL)


def categories_shown(view: CitizenView, *, flag_categories: dict[str, str]) -> list[str]:
    """Return the kinds of information a (filtered) view holds, for the access log."""
    shown: set[str] = set()
    if any(value is not None for _, value in view.identity) or any(
        i.registration for i in view.involvements
    ):
        shown.add(IDENTITY)
    if any(i.cases for i in view.involvements):
        shown.add(INVOLVEMENT)
    shown |= {flag_categories.get(f.raised_by_event, "safeguarding.risk") for f in view.flags}
    if view.referrals:
        shown.add(REFERRAL)
    shown |= {event.category for event in view.recent}
    return sorted(shown)


def visible_categories(viewer: Viewer, sources: Iterable[OrgId]) -> list[tuple[OrgId, str]]:
    """Return, per source organisation, the category patterns the viewer may see of it."""
    return [
        (source, pattern)
        for source in sources
        for pattern in sorted(viewer.policy.patterns_for(viewer.org, viewer.role, source))
    ]
