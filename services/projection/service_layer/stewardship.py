"""Data stewards' identity work: the review queue, and decisions that beat the algorithm.

Each decision is one transaction: record the `identity.*` event in the decision store,
re-resolve every record connected to the ones it names, and refold the citizens whose
records moved, so the single view is split or joined by the time the steward is answered.
A decision is refused, recording nothing, unless it is the steward's to make (one of the
pair is their organisation's; an unlink splits off only their own record; keeping records
apart never parts other organisations' records from each other) and it keeps the NHS-number
rules (one number is one citizen; a citizen holds at most one).

A link of two organisations' records takes effect once the stewards of both have linked the
pair (`identity_decisions.decisions_in_force`); keeping apart takes one. And a steward sees
another organisation's values only for a citizen their own organisation already holds an
attested record of; before that, how each field compared. So a registration made up from a
search's name and birth date buys neither the other record's details nor, by one
organisation's link, its frontline's way into the person's view.
"""

from collections.abc import Awaitable, Callable, Collection, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime
from uuid import UUID

import asyncpg
import structlog
from pydantic import BaseModel, ConfigDict, Field

from events.envelope import Envelope, OrgId, new_event_id
from events.identity import (
    MAX_RECORDS_SPLIT_FROM,
    IdentityLinked,
    IdentityNotSamePerson,
    IdentityUnlinked,
    RecordRef,
)
from services.identity_matching.matching import MatchingConfig, agrees, score
from services.identity_matching.model import MatchingModel
from services.projection.adapters.sharing_config import load_sharing_policy
from services.projection.domain.fold import BatchFold, fold
from services.projection.domain.identity_conflicts import (
    disputed_records,
    is_conflict,
    standing_links,
)
from services.projection.domain.identity_decisions import (
    IdentityDecision,
    decides_about_own,
    nhs_numbers_among,
    organisations_of,
    parts_an_nhs_number,
    parts_others_records,
    record_key,
    records_named,
)
from services.projection.domain.identity_records import Registration, StoredPair
from services.projection.domain.linkage import PersonKey
from services.projection.domain.sharing import IDENTITY, SharingPolicy, Viewer
from services.projection.domain.view import CitizenView, ConsentState
from services.projection.service_layer.identity_resolution import IdentityResolution, Relinked
from services.projection.service_layer.log_projection import DEFAULT_MATCHING, refolded_views
from services.projection.service_layer.unit_of_work import UnitOfWork, UnitsOfWork
from services.runtime.api_keys import Caller

logger = structlog.get_logger(__name__)
DEFAULT_SHARING = load_sharing_policy(None)
ATTEMPTS = 3  # a decision's transaction, run again if a deadlock ended it
LISTED_RECORDS = 20
REVIEW_SCAN = 10_000  # pairs read for one page of a steward's review queue, best score first


class UnknownRecord(Exception):
    """A decision names a record the projection has no registration of."""

    def __init__(self, field: str, record: PersonKey) -> None:
        super().__init__(f"no registration of {record[0]} person {record[1]}")
        self.field = field
        self.record = record


class AlreadyDecided(Exception):
    """The latest decision about these two records already says the same: nothing to record."""

    def __init__(self, decided_at: datetime) -> None:
        super().__init__(f"already decided at {decided_at.isoformat()}")
        self.decided_at = decided_at


class UnknownPair(Exception):
    """No scored pair has this id."""


class UnknownCitizen(Exception):
    """No citizen has this id."""


class NotPartOfCitizen(Exception):
    """The record to split off is not one of the citizen's records, or is its only one."""


class NotYourRecords(Exception):
    """A steward may decide only about pairs where one record is their own organisation's,
    and split off only their own organisation's records."""


class PartsOthersRecords(NotYourRecords):
    """A decision would part other organisations' records from each other and keep some of
    them with the steward's organisation's records: their stewards decide that."""


class DifferentNhsNumbers(Exception):
    """A link would join citizens holding two different NHS numbers: two people."""


class SharesNhsNumber(Exception):
    """A decision would part records sharing an NHS number: one person."""


class CitizenTooLarge(Exception):
    """The citizen has more records than one unlink may split a record from."""


class ReviewRecord(BaseModel):
    """One side of a candidate pair: an organisation's record and the details it holds."""

    model_config = ConfigDict(frozen=True)

    org: OrgId | None = Field(
        description="null for the other side of an identity conflict (whose record it is is"
        " that organisation's to say)"
    )
    person_id: UUID | None
    citizen_id: UUID | None = Field(description="the citizen the record is part of now")
    details_shown: bool = Field(
        description="false: another organisation's record of a citizen your organisation holds"
        " no attested record of yet (or whose identity the sharing rules or the person's"
        " decisions withhold); its values are null and the pair's evidence says how each"
        " field compared"
    )
    nhs_number: str | None
    given_name: str | None
    family_name: str | None
    date_of_birth: date | None
    postcode: str | None
    address: str | None = Field(description="the first line of the address, if recorded")
    place: str | None


class FieldComparison(BaseModel):
    """How one field compared (its comparison level) and the weight that level added."""

    model_config = ConfigDict(frozen=True)

    field: str
    agreement: str = Field(
        description="the comparison level, strongest first: exact, swapped, crossed, "
        "nickname, initial, typo, variant, first_name, part, sound, similar, "
        "day_month_swapped, year_month, year, sector, district, street, disagree, missing "
        "(each field has its own: see the README's Identity matching); a pair scored by an "
        "earlier release may name one of its levels (close) until the projection is replayed"
    )
    weight: float = Field(description="bits of evidence it added (negative: against)")


class ReviewPair(BaseModel):
    """Two records that may be one person, with the evidence, for a person to decide."""

    model_config = ConfigDict(frozen=True)

    pair_id: UUID
    conflict: bool = Field(
        default=False,
        description="an identity conflict: both records claim one NHS number, under names or"
        " birth dates that disagree; joined by the number, the record of the version fewer"
        " organisations attest (or of each, when none leads) gives its organisation no"
        " relationship until both sides' stewards link them; neither side's details show to"
        " the other",
    )
    score: float = Field(description="bits of evidence for one person over two")
    agreed_on: list[str]
    evidence: list[FieldComparison]
    linked_by: list[OrgId] = Field(
        description="organisations whose stewards have linked the pair; two organisations'"
        " records join once the stewards of both have"
    )
    a: ReviewRecord
    b: ReviewRecord


class ReviewQueue(BaseModel):
    """A page of the pairs awaiting review, best score first."""

    total: int
    limit: int
    offset: int
    pairs: list[ReviewPair]


class DecisionOutcome(BaseModel):
    """What a decision recorded and where each record it names is now."""

    event_id: UUID
    type: str
    named_records: int = Field(description="how many records the decision names")
    citizens: list[ReviewRecord] = Field(
        description=f"the records named and the citizen each is part of now (the first "
        f"{LISTED_RECORDS}: an unlink of a large citizen names many)"
    )
    takes_effect: bool = Field(
        description="false: a link of two organisations' records, waiting for the other"
        " organisation's steward to link them too (a link takes effect once both have)"
    )
    awaiting: list[OrgId] = Field(
        description="the organisations whose stewards are still to link the pair (the other"
        " side of an identity conflict is not named)"
    )


@dataclass(frozen=True)
class DecisionRequest:
    """Who decides, in which request, under which sharing rules."""

    caller: Caller
    correlation_id: str
    policy: SharingPolicy = DEFAULT_SHARING

    @property
    def viewer(self) -> Viewer:
        """Return the steward as a viewer of other organisations' records (reading them to
        keep identities right: purpose `administration`)."""
        return Viewer(
            org=self.caller.org, role=self.caller.role, policy=self.policy, purpose="administration"
        )


class IdentityStewardship:
    """The review queue and the decisions of one projection schema."""

    def __init__(
        self,
        units: UnitsOfWork,
        *,
        id_secret: bytes,
        matching: MatchingConfig = DEFAULT_MATCHING,
        fold_batch: BatchFold = fold,
    ) -> None:
        self._units = units
        self._identities = IdentityResolution(id_secret=id_secret, matching=matching)
        self._model = matching.model
        self._fold = fold_batch

    async def review_queue(self, *, limit: int, offset: int, by: DecisionRequest) -> ReviewQueue:
        """Return a page of the pairs awaiting review that hold a record of the steward's
        organisation; the other record's details as far as the sharing rules allow. A pair
        whose other record the person's decisions withhold from the steward's organisation
        is left out (and not counted): its existence would say that organisation knows them.
        The best `REVIEW_SCAN` pairs are considered."""
        async with self._units() as uow:  # reads only: nothing to commit
            scanned = await uow.matches.pairs_in_review(org=by.caller.org, limit=REVIEW_SCAN)
            records = {k for p, _, _ in scanned for k in (p.a, p.b)}
            links = await uow.read_model.links_of(records)
            viewers = _viewers(by.viewer, await uow.read_model.consents_of(set(links.values())))
            shown = [
                (pair, a, b)
                for pair, a, b in scanned
                if not _withheld(a, links, viewers) and not _withheld(b, links, viewers)
            ]
            page = shown[offset:][:limit]
            on_page = {k for p, _, _ in page for k in (p.a, p.b)}
            decided = standing_links(await uow.decisions.decided_by(on_page)) if page else {}
            sees = await _details_shown(uow, by.caller.org, on_page, links=links, viewers=viewers)
        pairs = [
            _review_pair(
                p,
                a,
                b,
                links,
                sees,
                org=by.caller.org,
                linked_by=decided.get(frozenset((p.a, p.b))),
            )
            for p, a, b in page
        ]
        return ReviewQueue(total=len(shown), limit=limit, offset=offset, pairs=pairs)

    async def links_awaiting(self, *, limit: int, offset: int, by: DecisionRequest) -> ReviewQueue:
        """Return a page of the links other organisations' stewards have made with one of
        the steward's organisation's records and that await theirs to take effect
        (`decisions_in_force`), each with how its fields compare under the place's model
        now, scored before or not. Left out: pairs already one citizen by other means, and,
        as in the review queue, pairs whose other record the person's decisions withhold
        from the steward's organisation."""
        org = by.caller.org
        async with self._units() as uow:  # reads only: nothing to commit
            linked_so_far = standing_links(await uow.decisions.decided_about(org))
            awaiting = {
                pair: linked
                for pair, linked in linked_so_far.items()
                if linked and org not in linked  # another's steward linked it; not yet ours
            }
            asked = list(awaiting)
            held = await uow.matches.registrations({key for pair in asked for key in pair})
            links = await uow.read_model.links_of(set(held))
            viewers = _viewers(by.viewer, await uow.read_model.consents_of(set(links.values())))
            shown = [
                (held[a], held[b], awaiting[frozenset((a, b))])
                for a, b in (sorted(pair) for pair in asked)
                if a in held and b in held and links.get(a) != links.get(b)
                if not _withheld(held[a], links, viewers) and not _withheld(held[b], links, viewers)
            ]
            page = shown[offset:][:limit]
            on_page = {r.key for a, b, _ in page for r in (a, b)}
            sees = await _details_shown(uow, org, on_page, links=links, viewers=viewers)
        pairs = [
            _review_pair(
                _scored_now(a, b, self._model), a, b, links, sees, org=org, linked_by=linked
            )
            for a, b, linked in page
        ]
        return ReviewQueue(total=len(shown), limit=limit, offset=offset, pairs=pairs)

    async def confirm(self, pair_id: UUID, *, reason: str, by: DecisionRequest) -> DecisionOutcome:
        """Record that a candidate pair is one person (`identity.linked`) and join them."""
        a, b = await self._pair(pair_id)
        return await self.decide(IdentityLinked(a=a, b=b, reason=reason), by=by)

    async def reject(self, pair_id: UUID, *, reason: str, by: DecisionRequest) -> DecisionOutcome:
        """Record that a candidate pair is two people (`identity.not_same_person`)."""
        a, b = await self._pair(pair_id)
        return await self.decide(IdentityNotSamePerson(a=a, b=b, reason=reason), by=by)

    async def unlink(
        self, citizen_id: UUID, record: RecordRef, *, reason: str, by: DecisionRequest
    ) -> DecisionOutcome:
        """Split `record` off the citizen (`identity.unlinked`): a person of its own."""
        return await _retried(lambda: self._unlink(citizen_id, record, reason=reason, by=by))

    async def _unlink(
        self, citizen_id: UUID, record: RecordRef, *, reason: str, by: DecisionRequest
    ) -> DecisionOutcome:
        if record.org != by.caller.org:  # before the citizen is looked at: it tells nothing
            raise NotYourRecords(by.caller.org)
        async with self._units() as uow:
            await uow.hold_relinking()
            members = await uow.read_model.records_of(citizen_id)
            if not members:
                raise UnknownCitizen(str(citizen_id))
            split = record_key(record)
            others = sorted(members - {split})
            if split not in members or not others:
                raise NotPartOfCitizen(str(citizen_id))
            if len(others) > MAX_RECORDS_SPLIT_FROM:
                raise CitizenTooLarge(str(citizen_id))
            decision = IdentityUnlinked(
                record=record,
                from_records=[_ref(other) for other in others],
                reason=reason,
            )
            outcome = await self._decide(uow, decision, by=by)
            await uow.commit()
        return outcome

    async def decide(self, decision: IdentityDecision, *, by: DecisionRequest) -> DecisionOutcome:
        """Record a decision and re-resolve the records it names, in one transaction."""

        async def once() -> DecisionOutcome:
            async with self._units() as uow:
                await uow.hold_relinking()
                outcome = await self._decide(uow, decision, by=by)
                await uow.commit()
            return outcome

        return await _retried(once)

    async def _decide(
        self, uow: UnitOfWork, decision: IdentityDecision, *, by: DecisionRequest
    ) -> DecisionOutcome:
        named = records_named(decision)
        if not decides_about_own(decision, by.caller.org):
            raise NotYourRecords(by.caller.org)
        first_named = {key for field, key in _named_fields(decision) if "." not in field}
        held = await uow.matches.registrations(named)
        for field, key in _named_fields(decision):
            if key not in held:
                raise UnknownRecord(field, key)
        await self._refuse_what_breaks_a_rule(uow, decision, held, org=by.caller.org)
        first = held[min(named)]
        before = await uow.read_model.links_of([first.key])
        envelope = _decision_envelope(decision, by=by, subject=before.get(first.key), place=first)
        await uow.decisions.append(envelope, decision)
        awaiting = await _awaiting(uow, decision)
        relinked = await self._identities.relink(uow, named)
        deciders = _deciders(decision, awaiting, org=by.caller.org)
        if await _parts_others(uow, relinked, deciders=deciders):  # raising undoes it all
            raise PartsOthersRecords(by.caller.org)
        refold = relinked.refold()
        if refold:
            await uow.read_model.lock_citizens(refold)
            views = await refolded_views(uow, refold, self._fold)
            await uow.read_model.save_views(list(views.values()))
        links = await uow.read_model.links_of(named)
        viewers = _viewers(by.viewer, await uow.read_model.consents_of(set(links.values())))
        hidden = {key for key in named if key in held and _withheld(held[key], links, viewers)}
        if _settles_a_conflict(decision, held):  # the other side's record stays unsaid
            hidden |= {key for key in named if key[0] != by.caller.org}
        knowable = sorted(named - hidden, key=lambda key: (key not in first_named, key))
        listed = knowable[:LISTED_RECORDS]
        sees = await _details_shown(uow, by.caller.org, listed, links=links, viewers=viewers)
        return DecisionOutcome(
            event_id=envelope.event_id,
            type=envelope.type,
            named_records=len(knowable),
            citizens=[_review_record(held[key], links.get(key), sees) for key in listed],
            takes_effect=not awaiting,
            awaiting=[o for o in awaiting if not _settles_a_conflict(decision, held)],
        )

    async def _refuse_what_breaks_a_rule(
        self,
        uow: UnitOfWork,
        decision: IdentityDecision,
        held: Mapping[PersonKey, Registration],
        *,
        org: str,
    ) -> None:
        """Raise if the decision repeats the latest, or would part one NHS number or join two."""
        if isinstance(decision, IdentityLinked | IdentityNotSamePerson):
            await self._refuse_a_repeat(uow, decision, org=org)
        if parts_an_nhs_number(decision, {k: r.record.nhs_number for k, r in held.items()}):
            raise SharesNhsNumber(decision.event_type)
        if isinstance(decision, IdentityLinked):
            await self._refuse_two_numbers(uow, decision)

    async def _refuse_a_repeat(
        self,
        uow: UnitOfWork,
        decision: IdentityLinked | IdentityNotSamePerson,
        *,
        org: str,
    ) -> None:
        """Raise AlreadyDecided if the pair's latest decision already says what this one does
        (a retried request, or a second steward: one event per decision, not one per click;
        but a link of two organisations' records needs a steward of each, so the other
        organisation's first link is no repeat)."""
        pair = {record_key(decision.a), record_key(decision.b)}
        decided = [d for d in await uow.decisions.among(pair) if d.pair == pair]
        if not decided:
            return
        latest = max(decided, key=lambda d: (d.decided_at, not d.same))  # as linkage breaks ties
        if latest.same != isinstance(decision, IdentityLinked):
            return
        if isinstance(decision, IdentityLinked):
            # two organisations' records are linked by both their stewards: one may be second
            linked = standing_links(await uow.decisions.decided_by(pair))
            if org not in linked.get(frozenset(pair), frozenset()):
                return
        raise AlreadyDecided(latest.decided_at)

    async def _refuse_two_numbers(self, uow: UnitOfWork, decision: IdentityLinked) -> None:
        """Raise DifferentNhsNumbers if the two records' citizens hold different NHS numbers
        between them (whichever of their records holds each)."""
        pair = [record_key(decision.a), record_key(decision.b)]
        members = set(pair)
        for citizen_id in set((await uow.read_model.links_of(pair)).values()):
            members |= await uow.read_model.records_of(citizen_id)
        held = await uow.matches.registrations(members)
        if len(nhs_numbers_among({k: r.record.nhs_number for k, r in held.items()})) > 1:
            raise DifferentNhsNumbers(decision.event_type)

    async def _pair(self, pair_id: UUID) -> tuple[RecordRef, RecordRef]:
        async with self._units() as uow:  # reads only: nothing to commit
            pair = await uow.matches.pair(pair_id)
        if pair is None:
            raise UnknownPair(str(pair_id))
        return _ref(pair.a), _ref(pair.b)


async def _retried(attempt: Callable[[], Awaitable[DecisionOutcome]]) -> DecisionOutcome:
    """Run a decision's transaction again if PostgreSQL broke a deadlock by ending it."""
    for _ in range(ATTEMPTS - 1):
        try:
            return await attempt()
        except (asyncpg.DeadlockDetectedError, asyncpg.SerializationError):
            logger.warning("identity_decision_retried")
    return await attempt()


def _ref(key: PersonKey) -> RecordRef:
    return RecordRef(org=key[0], person_id=UUID(key[1]))


def _named_fields(decision: IdentityDecision) -> list[tuple[str, PersonKey]]:
    if isinstance(decision, IdentityUnlinked):
        return [("record", record_key(decision.record))] + [
            (f"from_records.{n}", record_key(r)) for n, r in enumerate(decision.from_records)
        ]
    return [("a", record_key(decision.a)), ("b", record_key(decision.b))]


def _decision_envelope(
    decision: IdentityDecision, *, by: DecisionRequest, subject: UUID | None, place: Registration
) -> Envelope:
    now = datetime.now(UTC)
    return Envelope(
        event_id=new_event_id(),
        type=decision.event_type,
        schema_version=decision.schema_version,
        category=decision.category,
        occurred_at=now,
        recorded_at=now,
        org=by.caller.org,
        subject=str(subject) if subject else f"{place.key[0]}:{place.key[1]}",
        place=place.record.place or "",
        correlation_id=by.correlation_id,
        actor=by.caller.actor,
        data=decision.model_dump(mode="json"),
    )


def _viewers(
    steward: Viewer, consents: Mapping[UUID, Sequence[ConsentState]]
) -> Callable[[UUID | None], Viewer]:
    """Return the steward as a viewer of each citizen: with what that person's consent
    decisions (`consents`, by citizen) withhold from the steward's organisation."""
    about = {c: steward.about_person(c, decisions) for c, decisions in consents.items()}
    return lambda citizen_id: about.get(citizen_id, steward) if citizen_id else steward


def _withheld(
    registration: Registration,
    links: Mapping[PersonKey, UUID],
    viewers: Callable[[UUID | None], Viewer],
) -> bool:
    """Tell whether the person's decisions withhold this record's organisation from the
    steward (for identity work: purpose `administration`)."""
    org = registration.record.org
    return org in viewers(links.get(registration.key)).withheld


async def _details_shown(
    uow: UnitOfWork,
    org: OrgId,
    records: Collection[PersonKey],
    *,
    links: Mapping[PersonKey, UUID],
    viewers: Callable[[UUID | None], Viewer],
) -> Callable[[Registration], bool]:
    """Return whether the steward sees a record's details (names, birth date, NHS number,
    addresses): always their own organisation's; another's only when the sharing rules
    share its identity, the person has not withheld it, and the steward's organisation
    already holds an attested record of that citizen (it works with the person). Before
    that, a pair shows how each field compared, not the other organisation's values: a
    registration made up from a search's name and birth date must not buy the details.

    Reads the views of the other organisations' citizens among `records` only (a page's, not
    a queue's: a scan needs only the people's consent decisions, `consents_of`)."""
    theirs = {links[key] for key in records if key[0] != org and key in links}
    views = await uow.read_model.load_views(theirs) if theirs else {}
    attested = {
        citizen_id
        for citizen_id in theirs
        if citizen_id in views and await _holds_attested_record(uow, views[citizen_id], org)
    }

    def shown(registration: Registration) -> bool:
        record = registration.record
        if record.org == org:
            return True
        citizen_id = links.get(registration.key)
        return citizen_id in attested and viewers(citizen_id).may_see(record.org, IDENTITY)

    return shown


async def _holds_attested_record(uow: UnitOfWork, view: CitizenView, org: OrgId) -> bool:
    """Tell whether `org` holds a record of the citizen that is not disputed (one claiming
    the person's NHS number under other details, not settled by both sides' stewards)."""
    own = [(i.org, i.person_id) for i in view.involvements if i.org == org]
    if not own:
        return False
    if not disputed_records(view.involvements):
        return True
    records = [(i.org, i.person_id) for i in view.involvements if i.registration is not None]
    links = standing_links(await uow.decisions.decided_by(records))
    disputed = disputed_records(view.involvements, links=links)
    return any(key not in disputed for key in own)


def _deciders(decision: IdentityDecision, awaiting: Collection[str], *, org: str) -> set[str]:
    """Return the organisations whose stewards made the decision take effect: both of a
    link of two organisations' records once neither awaits, else the steward's alone."""
    if isinstance(decision, IdentityLinked) and not awaiting:
        return {org, decision.a.org, decision.b.org}
    return {org}


async def _parts_others(uow: UnitOfWork, relinked: Relinked, *, deciders: Collection[str]) -> bool:
    """Tell whether the decision just re-resolved parted records of organisations other
    than the deciders' that were one citizen (`parts_others_records`)."""
    before: dict[UUID, set[PersonKey]] = {}
    after: dict[UUID, set[PersonKey]] = {}  # each citizen's records now, read once
    for citizen in set(relinked.moved_from.values()):
        after[citizen] = await uow.read_model.records_of(citizen)
        left = {key for key, was in relinked.moved_from.items() if was == citizen}
        before[citizen] = (after[citizen] - relinked.moved_to.keys()) | left
    now = {relinked.moved_to.get(key, c) for c, records in before.items() for key in records}
    for citizen in now - after.keys():
        after[citizen] = await uow.read_model.records_of(citizen)
    return parts_others_records(before, after, deciders=deciders)


async def _awaiting(uow: UnitOfWork, decision: IdentityDecision) -> list[OrgId]:
    """Return the organisations whose stewards must still link a linked pair before it takes
    effect (none for other decisions)."""
    if not isinstance(decision, IdentityLinked):
        return []
    pair = frozenset((record_key(decision.a), record_key(decision.b)))
    linked = standing_links(await uow.decisions.decided_by(pair)).get(pair, frozenset())
    return sorted(organisations_of(pair) - linked)


def _review_record(
    registration: Registration, citizen_id: UUID | None, shown: Callable[[Registration], bool]
) -> ReviewRecord:
    """Return a record as a steward sees it: its details only where `shown`."""
    record = registration.record
    visible = shown(registration)
    return ReviewRecord(
        org=record.org,
        person_id=UUID(record.person_id),
        citizen_id=citizen_id,
        details_shown=visible,
        **({f: getattr(record, f) for f in _DETAILS} if visible else _NO_DETAILS),
    )


def _review_pair(
    pair: StoredPair,
    a: Registration,
    b: Registration,
    links: Mapping[PersonKey, UUID],
    shown: Callable[[Registration], bool],
    *,
    org: str,
    linked_by: frozenset[str] | None,
) -> ReviewPair:
    evidence = [
        FieldComparison(field=e.field, agreement=e.agreement, weight=e.weight)
        for e in pair.evidence
    ]
    conflict = is_conflict(a.record, b.record, a.record.nhs_number, b.record.nhs_number)
    sides = [_review_record(r, links.get(r.key), shown) for r in (a, b)]
    if conflict:  # neither side learns the other's version of the person, nor whose it is
        sides = [side if side.org == org else _unnamed(side) for side in sides]
    return ReviewPair(
        pair_id=pair.pair_id,
        conflict=conflict,
        score=pair.score,
        agreed_on=[e.field for e in evidence if agrees(e.agreement)],
        evidence=evidence,
        linked_by=sorted(o for o in linked_by or () if not conflict or o == org),
        a=sides[0],
        b=sides[1],
    )


def _scored_now(a: Registration, b: Registration, model: MatchingModel) -> StoredPair:
    """Return two records' pair as the place's model scores them now."""
    match = score(a.record, b.record, model)
    return StoredPair(a.key, b.key, match.total, tuple(match.evidence))


def _unnamed(record: "ReviewRecord") -> "ReviewRecord":
    """The other side of an identity conflict: only that it exists (and how it compares)."""
    return ReviewRecord(
        org=None, person_id=None, citizen_id=record.citizen_id, details_shown=False, **_NO_DETAILS
    )


_DETAILS = (
    "nhs_number",
    "given_name",
    "family_name",
    "date_of_birth",
    "postcode",
    "address",
    "place",
)
_NO_DETAILS: dict[str, None] = dict.fromkeys(_DETAILS)


def _settles_a_conflict(decision: IdentityDecision, held: Mapping[PersonKey, Registration]) -> bool:
    """Tell whether a decision links the two records of an identity conflict."""
    if not isinstance(decision, IdentityLinked):
        return False
    a, b = held[record_key(decision.a)].record, held[record_key(decision.b)].record
    return is_conflict(a, b, a.nhs_number, b.nhs_number)
