"""Who may see what of a citizen: a place's sharing rules, and the single view they leave.

Pure. A viewer is an organisation and a role (from their API key). They always see what their
own organisation recorded. Of another organisation's records they see the categories a
grant gives their organisation and role: nothing else (default deny). Categories are the
envelope's (`housing.tenancy`, `health.clinical`, `safeguarding.risk`...); a grant may name
one exactly or a family (`housing.*`), or everything (`*`).

Only a viewer with a legitimate relationship to the person (an open case, or an accepted
referral to their organisation) opens the full single view; anyone else sees whether and
how to contact the organisations involved (each one's open cases and key workers), and
their own organisation's records whole.

How each part of the view is judged:
- identity values and an organisation's registration: `person.identity` of the organisation
  that registered them;
- an organisation's cases (dates, key worker): `case.involvement`;
- a flag: the category of the event that raised it (`flag.raised` is `safeguarding.risk`;
  an eviction notice served is `housing.tenancy`);
- a referral: `referral` of the organisation that made it or the one it was made to;
- free text (a case's reason and outcome, a flag's note, a referral's reasons): also the
  category of its writer's own work (`domain/free_text.py`: a mental health case's reason is
  `health.clinical`); a referral's reasons always show to the two organisations it is between;
- a standing consent decision: `person.consent` of the organisation that recorded it;
- an event (timeline, recent): its own category.

On top of the rules, the person's own say (`domain/consent.py`): `Viewer.about(view)` is
the viewer with the organisations whose records the person's consent decisions withhold
from them, for the purpose they read for; every check below then treats those
organisations as if no grant named them, down to not saying they are involved.
"""

from collections.abc import Collection, Iterable, Mapping
from datetime import datetime
from typing import Literal
from uuid import UUID

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from events.consent import CONSENT_CATEGORY, Purpose
from events.envelope import OrgId
from events.organisations import DEFAULT_ORGANISATIONS, Organisation, Organisations, Sector
from services.projection.domain.consent import withheld_sources
from services.projection.domain.free_text import work_category
from services.projection.domain.identity import best_known_identity
from services.projection.domain.identity_conflicts import (
    RecordKey,
    StandingLinks,
    disputed_records,
)
from services.projection.domain.referrals import RANK
from services.projection.domain.view import (
    CaseView,
    CitizenView,
    ConsentState,
    Flag,
    Identity,
    Involvement,
    Referral,
)

Role = Literal["frontline", "data_steward", "ig_lead", "ops"]
Access = Literal["full", "contacts"]
IDENTITY = "person.identity"
INVOLVEMENT = "case.involvement"
REFERRAL = "referral"


class Grant(BaseModel):
    """Viewers of these organisations or sectors (and roles) may see these categories of
    those organisations' or sectors' records."""

    model_config = ConfigDict(frozen=True, extra="forbid", populate_by_name=True)

    viewers: tuple[OrgId, ...] = Field(default=(), description="the viewers' organisations")
    viewer_sectors: tuple[Sector, ...] = Field(
        default=(), description="every organisation of these sectors views too"
    )
    roles: tuple[Role, ...] = Field(
        default=("frontline", "data_steward", "ig_lead", "ops"), min_length=1
    )
    source: tuple[OrgId, ...] = Field(
        default=(), alias="from", description="whose records they may see"
    )
    source_sectors: tuple[Sector, ...] = Field(
        default=(), alias="from_sectors", description="and every organisation's of these sectors"
    )
    categories: tuple[str, ...] = Field(min_length=1)

    @model_validator(mode="after")
    def _names_someone(self) -> "Grant":
        if not (self.viewers or self.viewer_sectors):
            raise ValueError("a grant names its viewers: `viewers` or `viewer_sectors`")
        if not (self.source or self.source_sectors):
            raise ValueError("a grant names whose records: `from` or `from_sectors`")
        return self

    def covers(
        self, viewer: tuple[OrgId, Sector | None], source: tuple[OrgId, Sector | None]
    ) -> bool:
        """Tell whether this grant names the viewer's organisation (or its sector) and the
        source organisation (or its sector)."""
        return (viewer[0] in self.viewers or viewer[1] in self.viewer_sectors) and (
            source[0] in self.source or source[1] in self.source_sectors
        )

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


class ConsentRules(BaseModel):
    """What the place needs of the person's consent, beyond honouring every objection."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    required_for: tuple[Purpose, ...] = Field(
        default=(),
        description="purposes for which other organisations' records are shown only with the"
        " person's consent given; for the others they are shown unless the person objected",
    )


class SharingPolicy(BaseModel):
    """A place's sharing rules: the grants; whatever no grant names is not shared. `place`
    is the place's organisations (not from the rules' file: `for_place` sets it)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    grants: tuple[Grant, ...] = Field(default=(), alias="grant")
    consent: ConsentRules = ConsentRules()
    place: Organisations = Field(default=DEFAULT_ORGANISATIONS, exclude=True)

    def for_place(self, place: Organisations) -> "SharingPolicy":
        """Return these rules for `place`'s organisations; ValueError naming the grant and
        field of an organisation the place does not have."""
        for number, grant in enumerate(self.grants):
            for name, orgs in (("viewers", grant.viewers), ("from", grant.source)):
                for item, org in enumerate(orgs):
                    if org not in place:
                        raise ValueError(
                            f"grant.{number}.{name}.{item}: {org!r} is not an organisation of"
                            f" the place ({', '.join(place.ids)})"
                        )
        return self.model_copy(update={"place": place})

    def patterns_for(self, viewer_org: OrgId, role: Role, source: OrgId) -> frozenset[str]:
        """Return the category patterns a viewer may see of `source`'s records."""
        if viewer_org == source:
            return frozenset({"*"})
        viewer = (viewer_org, self.place.sector_of(viewer_org))
        whose = (source, self.place.sector_of(source))
        return frozenset(
            pattern
            for grant in self.grants
            if role in grant.roles and grant.covers(viewer, whose)
            for pattern in grant.categories
        )


class Viewer(BaseModel):
    """Who is looking, and why: their organisation and role, what the place lets them see,
    and (once narrowed to one person by `about`) whose records that person withholds."""

    model_config = ConfigDict(frozen=True)

    org: OrgId
    role: Role
    policy: SharingPolicy
    purpose: Purpose = "direct_care"
    withheld: frozenset[OrgId] = Field(
        default=frozenset(),
        description="organisations whose records the person's consent decisions keep from"
        " this viewer",
    )

    about_citizen: UUID | None = Field(
        default=None, description="the citizen `withheld` was worked out for"
    )

    def about(self, view: CitizenView) -> "Viewer":
        """Return this viewer reading `view`: with what the person's decisions withhold
        (worked out once per citizen: asking again for the same one returns this viewer)."""
        return self.about_person(view.citizen_id, view.consents)

    def about_person(self, citizen_id: UUID, consents: Iterable[ConsentState]) -> "Viewer":
        """Return this viewer reading about one citizen whose standing consent decisions
        are `consents` (`about`, for a caller that read only those of the view)."""
        if self.about_citizen == citizen_id:
            return self
        withheld = withheld_sources(
            consents,
            recipient=self.org,
            purpose=self.purpose,
            needs_consent=self.purpose in self.policy.consent.required_for,
            sources=self.policy.place.ids,
        )
        return self.model_copy(update={"withheld": withheld, "about_citizen": citizen_id})

    def patterns(self, source: OrgId) -> frozenset[str]:
        """Return the category patterns this viewer may see of `source`'s records."""
        if source in self.withheld:
            return frozenset()
        return self.policy.patterns_for(self.org, self.role, source)

    def may_see(self, source: OrgId, category: str) -> bool:
        """Tell whether this viewer may see `source`'s records of `category`."""
        return any(_matches(pattern, category) for pattern in self.patterns(source))


def _matches(pattern: str, category: str) -> bool:
    if pattern in ("*", category):
        return True
    return pattern.endswith(".*") and category.startswith(pattern[:-1])


class SharedView(CitizenView):
    """The single view as one viewer may see it."""

    access: Access = Field(
        description="full: the viewer works with the person; contacts: who else is involved"
        " and how to reach them, and the viewer's own organisation's records"
    )
    organisations: tuple[Organisation, ...] = Field(
        default=(),
        description="each organisation this view names (involved, flagging, referring or"
        " referred to): its name, sector and contact, as the place lists it",
    )


def organisations_named(view: CitizenView, place: Organisations) -> tuple[Organisation, ...]:
    """Return the place's entry of each organisation `view` names, in the place's order."""
    named = {i.org for i in view.involvements} | {f.org for f in view.flags}
    named |= {org for r in view.referrals for org in (r.from_org, r.to_org)}
    named |= {c.recorded_by for c in view.consents}
    return tuple(o for o in place.organisations if o.id in named)


def has_relationship(view: CitizenView, org: OrgId, *, links: StandingLinks | None = None) -> bool:
    """Tell whether `org` works with the citizen: an open case, or a referral to it that it
    accepted (see `_accepted_referral`). A case on a disputed registration (one claiming the
    person's NHS number under details fewer organisations attest: `identity_conflicts`)
    does not count, nor does a referral unless both its organisations hold an undisputed
    record (a claimant cannot refer its claim on to an organisation that accepts it in good
    faith); `links`: the stewards' standing links, which settle conflicts."""
    disputed = disputed_records(view.involvements, links=links)
    attested = {i.org for i in view.involvements if (i.org, i.person_id) not in disputed}
    cases = {
        case.case_id: case.status
        for involvement in view.involvements
        if involvement.org == org and (org, involvement.person_id) not in disputed
        for case in involvement.cases
    }
    open_case = "open" in cases.values()
    return open_case or any(
        _accepted_referral(r, org, cases) for r in view.referrals if {r.from_org, org} <= attested
    )


def _accepted_referral(referral: Referral, org: OrgId, cases: Mapping[UUID, str]) -> bool:
    """A referral counts while it is accepted by `org`, the sender's own `referral.made` is
    there (a receiver cannot claim a referral nobody made), and the case `org` opened for
    it, if any, is not closed."""
    if referral.to_org != org or referral.status != "accepted":
        return False
    if not any(c.status == "made" and c.org == referral.from_org for c in referral.history):
        return False
    return referral.case_id is None or cases.get(referral.case_id) != "closed"


def shared_view(
    view: CitizenView,
    viewer: Viewer,
    *,
    flag_categories: dict[str, str],
    related: bool,
    hidden: Collection[RecordKey] = (),
) -> tuple[CitizenView, Access]:
    """Return the part of `view` the viewer may see, and whether it is the full view.

    `related`: the viewer has a relationship to the person (`has_relationship`) or a
    break-glass grant. `flag_categories` maps the event type that raised a flag to its
    category. `hidden`: records whose data no other organisation sees (those in an identity
    conflict: `identity_conflicts`). Recent events are left out: the caller reads them from
    the timeline, filtered the same way.
    """
    viewer = viewer.about(view)
    view = _without_others_records(view, hidden, own=viewer.org)
    if not related:
        return _contacts_only(view, viewer), "contacts"
    senders = {r.case_id: r.from_org for r in view.referrals if r.case_id is not None}
    involvements = tuple(
        kept
        for involvement in view.involvements
        if (kept := _involvement(involvement, viewer, senders)) is not None
    )
    return (
        CitizenView(
            citizen_id=view.citizen_id,
            identity=_identity(view, viewer),
            involvements=involvements,
            flags=tuple(
                _flag_for(f, viewer)
                for f in view.flags
                if _may_see_flag(f, viewer, flag_categories)
            ),
            referrals=tuple(
                _referral_for(r, viewer)
                if viewer.org in (r.from_org, r.to_org)
                else _others_referral(r, viewer)
                for r in view.referrals
                if _may_see_referral(r, viewer)
            ),
            consents=tuple(c for c in view.consents if _may_see_consent(c, viewer)),
        ),
        "full",
    )


def _without_others_records(
    view: CitizenView, records: Collection[RecordKey], *, own: OrgId
) -> CitizenView:
    """The view without other organisations' `records`: their registrations, cases and the
    flags raised on those cases."""
    gone = [i for i in view.involvements if (i.org, i.person_id) in records and i.org != own]
    if not gone:
        return view
    cases = {case.case_id for involvement in gone for case in involvement.cases}
    return view.model_copy(
        update={
            "involvements": tuple(i for i in view.involvements if i not in gone),
            "flags": tuple(f for f in view.flags if f.case_id not in cases or f.org == own),
        }
    )


def _contacts_only(view: CitizenView, viewer: Viewer) -> CitizenView:
    """Whom to contact: the open cases' key workers of organisations whose involvement the
    rules share, nothing else of theirs: no dates, reasons or references. The viewer's own
    organisation's records show whole (its registration, cases, flags, referrals and
    consent records): an organisation is never kept from what it recorded, even once its
    relationship with the person has ended."""
    own = viewer.org
    contacts = tuple(
        involvement
        if involvement.org == own
        else Involvement(
            org=involvement.org,
            person_id="",
            cases=tuple(_contact(case) for case in involvement.cases if case.status == "open"),
        )
        for involvement in view.involvements
        if involvement.org == own
        or (
            any(case.status == "open" for case in involvement.cases)
            and viewer.may_see(involvement.org, INVOLVEMENT)
        )
    )
    return CitizenView(
        citizen_id=view.citizen_id,
        identity=best_known_identity((i for i in view.involvements if i.org == own), disputed=()),
        involvements=contacts,
        flags=tuple(f for f in view.flags if f.org == own),
        referrals=tuple(
            _referral_for(r, viewer) for r in view.referrals if own in (r.from_org, r.to_org)
        ),
        consents=tuple(c for c in view.consents if c.recorded_by == own),
    )


def _contact(case: CaseView) -> CaseView:
    return CaseView(case_id=case.case_id, status=case.status, key_worker=case.key_worker)


def _involvement(
    involvement: Involvement, viewer: Viewer, senders: Mapping[UUID, OrgId]
) -> Involvement | None:
    """Another organisation's involvement, as the rules share it, once it has a case: a
    registration alone is no work with the person (and one a referral's receiver made from
    the referral would tell its sender that the receiver held no record before).
    `senders`: the organisation that made the referral each case was opened for."""
    if involvement.org != viewer.org and not involvement.cases:
        return None
    if not viewer.may_see(involvement.org, INVOLVEMENT):
        return None
    identity_shared = viewer.may_see(involvement.org, IDENTITY)
    return Involvement(
        org=involvement.org,
        person_id=involvement.person_id if identity_shared else "",
        registration=involvement.registration if identity_shared else None,
        cases=tuple(
            _case_for(case, involvement.org, viewer, senders) for case in involvement.cases
        ),
    )


def _case_for(
    case: CaseView, org: OrgId, viewer: Viewer, senders: Mapping[UUID, OrgId]
) -> CaseView:
    """The case with the free text the viewer may read: its outcome is `org`'s words; its
    reason too, and, for a case opened by accepting a referral, the sender's (it is the
    referral's reason, copied)."""
    own_words = may_read_text_of(viewer, org)
    sender = senders.get(case.case_id)
    reason_readable = own_words and (sender is None or may_read_text_of(viewer, sender))
    update = {"reason": None} if not reason_readable else {}
    update |= {"outcome": None} if not own_words else {}
    return case.model_copy(update=update) if update else case


def may_read_text_of(viewer: Viewer, writer: str) -> bool:
    """Tell whether the viewer may read `writer`'s free text: the category of the
    writer's own work is shared with them."""
    if writer == viewer.org:
        return True
    sector = viewer.policy.place.sector_of(writer)
    return sector is not None and viewer.may_see(writer, work_category(sector))


def _flag_for(flag: Flag, viewer: Viewer) -> Flag:
    """The flag, with its note only for a viewer who may read its writer's free text."""
    if flag.note is None or may_read_text_of(viewer, flag.org):
        return flag
    return flag.model_copy(update={"note": None})


def _others_referral(referral: Referral, viewer: Viewer) -> Referral:
    """A referral between two other organisations: each side's reason only for a viewer
    who may read that side's free text."""
    update: dict[str, None] = {}
    if not may_read_text_of(viewer, referral.from_org):
        update["reason"] = None
    if not may_read_text_of(viewer, referral.to_org):
        update["decline_reason"] = None
    return referral.model_copy(update=update) if update else referral


def with_last_contacts(view: CitizenView, last_contacts: Mapping[UUID, datetime]) -> CitizenView:
    """Return the (shared) view with each case's `last_contact_at` as the viewer may know it:
    when the latest of the case's events they may see happened (a crisis episode hidden from
    them does not move it)."""
    involvements = tuple(
        involvement.model_copy(
            update={
                "cases": tuple(
                    case.model_copy(update={"last_contact_at": last_contacts.get(case.case_id)})
                    for case in involvement.cases
                )
            }
        )
        for involvement in view.involvements
    )
    return view.model_copy(update={"involvements": involvements})


def may_find(view: CitizenView, viewer: Viewer) -> bool:
    """Tell whether a search may show this citizen to the viewer: their organisation knows
    them, or may see who some organisation involved with them is (`person.identity`)."""
    viewer = viewer.about(view)
    return any(
        involvement.org == viewer.org or viewer.may_see(involvement.org, IDENTITY)
        for involvement in view.involvements
    )


def identity_for(view: CitizenView, viewer: Viewer) -> Identity:
    """Return the citizen's best-known identity from the registrations the viewer may see."""
    return _identity(view, viewer.about(view))


def _identity(view: CitizenView, viewer: Viewer) -> Identity:
    """The best-known identity among the registrations the viewer may see: a value another
    organisation's hidden registration holds neither shows nor hides a visible one."""
    return best_known_identity(
        (i for i in view.involvements if viewer.may_see(i.org, IDENTITY)),
        disputed=disputed_records(view.involvements),
    )


def _may_see_flag(flag: Flag, viewer: Viewer, flag_categories: dict[str, str]) -> bool:
    if flag.org == viewer.org:
        return True
    category = flag_categories.get(flag.raised_by_event)
    return category is not None and viewer.may_see(flag.org, category)


def _referral_for(referral: Referral, viewer: Viewer) -> Referral:
    """The referral as the viewer may see it: one of theirs, with the other side's part left
    out when the person's decisions withhold that organisation (its decision, case, reasons:
    saying it accepted would say the person is in its care). Its receipt stays: every
    referral is received, so a sender whose referral stayed "made" would learn that the
    receiver holds a record of the person kept from them."""
    own = viewer.org
    other = referral.to_org if referral.from_org == own else referral.from_org
    if other not in viewer.withheld:
        return referral
    sent = referral.from_org == own
    history = tuple(
        change
        for change in referral.history
        if change.org == own or (sent and change.status == "received")
    )
    furthest = max(history, key=lambda change: RANK[change.status], default=None)
    return referral.model_copy(
        update={
            "history": history,
            "status": furthest.status if furthest else "made",
            "reason": referral.reason if sent else None,
            "urgency": referral.urgency if sent else None,
            "made_at": referral.made_at if sent else None,
            "case_id": None if sent else referral.case_id,
            "decline_reason": None if sent else referral.decline_reason,
        }
    )


def _may_see_referral(referral: Referral, viewer: Viewer) -> bool:
    """Either side's `referral` grant shows it (the viewer's own referrals always show),
    unless it would name an organisation the person's decisions withhold from the viewer."""
    sides = (referral.from_org, referral.to_org)
    if viewer.org in sides:
        return True
    if any(side in viewer.withheld for side in sides):
        return False
    return any(viewer.may_see(side, REFERRAL) for side in sides)


def _may_see_consent(consent: ConsentState, viewer: Viewer) -> bool:
    """A decision shows to the organisation that recorded it; to others, if its recorder's
    `person.consent` does and it names no organisation the person withholds from them
    (saying so would say that they are involved)."""
    if consent.recorded_by == viewer.org:
        return True
    named = {consent.recorded_by, consent.recipient} | ({consent.source} - {None})
    return viewer.may_see(consent.recorded_by, CONSENT_CATEGORY) and not (named & viewer.withheld)


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
    if view.consents:
        shown.add(CONSENT_CATEGORY)
    shown |= {event.category for event in view.recent}
    return sorted(shown)


def visible_categories(viewer: Viewer, sources: Iterable[OrgId]) -> list[tuple[OrgId, str]]:
    """Return, per source organisation, the category patterns the viewer may see of it."""
    return [(source, pattern) for source in sources for pattern in sorted(viewer.patterns(source))]
