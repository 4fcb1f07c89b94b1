"""The projection's use cases on the in-memory unit of work: projecting batches, and data
stewards' decisions, without PostgreSQL (the contract suite holds the fake to PostgreSQL's
rules; tests/integration/projection covers the same use cases end to end)."""

import random
from collections.abc import Callable, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any
from uuid import UUID, uuid4

import pytest

from events.envelope import Envelope, OrgId
from events.identity import IdentityLinked, IdentityNotSamePerson, RecordRef
from services.projection.domain.view import CitizenView
from services.projection.service_layer.log_projection import BatchOutcome, ProjectionConsumer
from services.projection.service_layer.stewardship import (
    AlreadyDecided,
    CitizenTooLarge,
    DecisionRequest,
    DifferentNhsNumbers,
    IdentityStewardship,
    NotPartOfCitizen,
    NotYourRecords,
    SharesNhsNumber,
    UnknownCitizen,
    UnknownPair,
    UnknownRecord,
)
from services.runtime.api_keys import Caller
from tests.unit.projection.factories import PersonAt, details
from tests.unit.projection.fake_unit_of_work import (
    FakeUnitOfWork,
    InMemoryReadModel,
    fake_unit_of_work,
)

ID_SECRET = b"unit-test citizen ids"
AT = datetime(2026, 5, 4, 9, 0, tzinfo=UTC)
ROBERT, VICTORIA = "1573681938", "9850588624"
REFUSED = (
    AlreadyDecided, CitizenTooLarge, DifferentNhsNumbers, NotPartOfCitizen, NotYourRecords,
    SharesNhsNumber, UnknownCitizen, UnknownPair, UnknownRecord,
)  # fmt: skip


def _steward(org: OrgId) -> DecisionRequest:
    return DecisionRequest(
        caller=Caller(key_id=f"{org}-steward", org=org, role="data_steward"), correlation_id="c"
    )


def _ref(person: PersonAt) -> RecordRef:
    return RecordRef(org=person.org, person_id=person.person_id)


def _key(person: PersonAt) -> tuple[str, str]:
    return (person.org, person.subject)


async def _project(
    units: Callable[[], FakeUnitOfWork], consumer: ProjectionConsumer, events: Sequence[Envelope]
) -> BatchOutcome:
    """Project `events` as one batch, as the log consumer does, and commit."""
    async with units() as uow:
        outcome = await consumer.project(uow, [(e, None) for e in events])
        await uow.commit()
    return outcome


def _view_of(state: InMemoryReadModel, person: PersonAt) -> CitizenView:
    return state.views[state.links[_key(person)]]


def _broken_invariants(state: InMemoryReadModel) -> list[str]:
    """Return each NHS number held by two citizens and each citizen holding two numbers."""
    citizens: dict[str, set[UUID]] = {}
    numbers: dict[UUID, set[str]] = {}
    for key, registration in state.registrations.items():
        number, citizen = registration.record.nhs_number, state.links.get(key)
        if number is not None and citizen is not None:
            citizens.setdefault(number, set()).add(citizen)
            numbers.setdefault(citizen, set()).add(number)
    return [f"NHS number {n} in {len(c)} citizens" for n, c in citizens.items() if len(c) > 1] + [
        f"citizen {c} holds {sorted(n)}" for c, n in numbers.items() if len(n) > 1
    ]


async def test_two_organisations_records_of_one_nhs_number_make_one_citizen() -> None:
    state, units = fake_unit_of_work()
    consumer = ProjectionConsumer(units, id_secret=ID_SECRET)
    housing, charity = PersonAt("housing"), PersonAt("voluntary")

    outcome = await _project(
        units,
        consumer,
        [housing.registered(AT, details()), charity.registered(AT, details(given_name="Dave"))],
    )

    assert outcome == BatchOutcome(new_events=2, citizens=1)
    assert state.links[_key(housing)] == state.links[_key(charity)]
    assert {i.org for i in _view_of(state, housing).involvements} == {"housing", "voluntary"}
    assert "relinking" in state.locks  # a batch that registers people re-links alone


async def test_a_batch_delivered_again_changes_nothing() -> None:
    state, units = fake_unit_of_work()
    consumer = ProjectionConsumer(units, id_secret=ID_SECRET)
    housing = PersonAt("housing")
    batch = [housing.registered(AT, details()), housing.case_opened(AT, uuid4())]
    await _project(units, consumer, batch)
    before = state.views.copy()

    again = await _project(units, consumer, batch)

    assert again == BatchOutcome()
    assert state.views == before


async def test_events_that_arrive_before_their_registration_are_folded_when_it_arrives() -> None:
    state, units = fake_unit_of_work()
    consumer = ProjectionConsumer(units, id_secret=ID_SECRET)
    charity = PersonAt("voluntary")
    case = uuid4()

    early = await _project(units, consumer, [charity.case_opened(AT, case)])
    assert early == BatchOutcome(new_events=1)  # in the timeline, nobody to fold it into
    assert state.views == {}
    await _project(units, consumer, [charity.registered(AT - timedelta(days=1), details())])

    cases = [c for i in _view_of(state, charity).involvements for c in i.cases]
    assert [c.case_id for c in cases] == [case]


async def test_a_batch_that_fails_leaves_nothing_behind() -> None:
    state, units = fake_unit_of_work()

    def failing_fold(*_: Any) -> Any:
        raise RuntimeError("the fold broke")

    consumer = ProjectionConsumer(units, id_secret=ID_SECRET, fold_batch=failing_fold)
    with pytest.raises(RuntimeError):
        await _project(units, consumer, [PersonAt("housing").registered(AT, details())])

    assert (state.timeline, state.links, state.registrations, state.commits) == ({}, {}, {}, 0)


async def test_stewards_of_both_organisations_link_two_records_and_one_unlinks_its_own() -> None:
    state, units = fake_unit_of_work()
    consumer = ProjectionConsumer(units, id_secret=ID_SECRET)
    stewardship = IdentityStewardship(units, id_secret=ID_SECRET)
    housing = PersonAt("housing")
    charity = PersonAt("voluntary")
    await _project(
        units,
        consumer,
        [
            housing.registered(AT, details(nhs_number=None, postcode="BS5 6XX")),
            charity.registered(AT, details(nhs_number=None, given_name="Dai")),
        ],
    )
    assert state.links[_key(housing)] != state.links[_key(charity)]

    link = IdentityLinked(a=_ref(housing), b=_ref(charity), reason="same man")
    first = await stewardship.decide(link, by=_steward("housing"))
    assert (first.type, first.awaiting) == ("identity.linked", ["voluntary"])
    assert state.links[_key(housing)] != state.links[_key(charity)]  # one side's word only
    second = await stewardship.decide(link, by=_steward("voluntary"))
    assert second.awaiting == []
    assert state.links[_key(housing)] == state.links[_key(charity)]
    assert len(_view_of(state, housing).involvements) == 2

    with pytest.raises(NotYourRecords):  # the charity's record is the charity's to split off
        await stewardship.unlink(
            state.links[_key(housing)], _ref(charity), reason="no", by=_steward("housing")
        )
    await stewardship.unlink(
        state.links[_key(housing)], _ref(housing), reason="not him", by=_steward("housing")
    )
    assert state.links[_key(housing)] != state.links[_key(charity)]
    assert [d.envelope.type for d in state.decisions] == [
        "identity.linked",
        "identity.linked",
        "identity.unlinked",
    ]
    assert state.locks.count("relinking") >= 5  # each decision re-linked alone


async def test_a_refused_decision_records_nothing() -> None:
    state, units = fake_unit_of_work()
    consumer = ProjectionConsumer(units, id_secret=ID_SECRET)
    stewardship = IdentityStewardship(units, id_secret=ID_SECRET)
    bella = PersonAt("housing")
    victoria = PersonAt("mental_health")
    await _project(
        units,
        consumer,
        [
            bella.registered(AT, details(nhs_number=ROBERT, given_name="Bella")),
            victoria.registered(AT, details(nhs_number=VICTORIA, given_name="Victoria")),
        ],
    )
    commits = state.commits

    with pytest.raises(DifferentNhsNumbers):
        await stewardship.decide(
            IdentityLinked(a=_ref(bella), b=_ref(victoria), reason="same woman"),
            by=_steward("housing"),
        )

    assert (state.decisions, state.commits) == ([], commits)
    assert state.links[_key(bella)] != state.links[_key(victoria)]


class _Walk:
    """A seeded random walk of stewards' decisions over records of two NHS numbers."""

    def __init__(self, seed: int) -> None:
        self.rng = random.Random(seed)
        self.state, self.units = fake_unit_of_work()
        self.consumer = ProjectionConsumer(self.units, id_secret=ID_SECRET)
        self.stewardship = IdentityStewardship(self.units, id_secret=ID_SECRET)
        self.people: list[PersonAt] = []
        self.events: list[Envelope] = []

    async def setup(self) -> None:
        records: tuple[tuple[OrgId, str | None, str], ...] = (
            ("housing", ROBERT, "Robert"), ("mental_health", ROBERT, "Robert"),
            ("voluntary", None, "Bob"), ("housing", VICTORIA, "Rob"),
            ("mental_health", None, "Robbie"), ("voluntary", ROBERT, "Robert"),
            ("housing", None, "Roberto"),
        )  # fmt: skip
        for org, number, name in records:
            person = PersonAt(org)
            self.people.append(person)
            self.events += [
                person.registered(
                    AT,
                    details(
                        nhs_number=number, given_name=name, family_name="Jones", postcode="BS5 6XX"
                    ),
                ),
                person.case_opened(AT, uuid4()),
            ]
        await _project(self.units, self.consumer, self.events)

    async def step(self) -> str:
        """Take one decision as the steward of its first record; return what happened."""
        a, b = self.rng.sample(self.people, 2)
        by = _steward(a.org)
        kind = self.rng.choice(["link", "apart", "unlink", "confirm", "reject"])
        recorded = len(self.state.decisions)
        try:
            await self._decide(kind, a, b, by)
        except REFUSED as refused:
            assert len(self.state.decisions) == recorded, kind
            return f"{kind}: {type(refused).__name__}"
        assert len(self.state.decisions) in (recorded, recorded + 1), kind
        return f"{kind}: recorded"

    async def _decide(self, kind: str, a: PersonAt, b: PersonAt, by: DecisionRequest) -> None:
        service = self.stewardship
        if kind == "unlink":
            citizen = self.state.links[_key(a)]
            await service.unlink(citizen, _ref(a), reason="walk", by=by)
        elif kind in ("confirm", "reject"):
            queue = await service.review_queue(limit=50, offset=0, by=by)
            if queue.pairs:
                pair = self.rng.choice(queue.pairs).pair_id
                decide = service.confirm if kind == "confirm" else service.reject
                await decide(pair, reason="walk", by=by)
        elif kind == "link":
            await service.decide(IdentityLinked(a=_ref(a), b=_ref(b), reason="walk"), by=by)
        else:
            await service.decide(IdentityNotSamePerson(a=_ref(a), b=_ref(b), reason="walk"), by=by)


@pytest.mark.parametrize("seed", range(40))
async def test_no_order_of_decisions_breaks_the_nhs_number_rules_or_the_views(seed: int) -> None:
    """Link, keep apart, unlink, confirm and reject in a random order: after every step one
    NHS number is one citizen, no citizen holds two, every linked record's citizen has a
    view naming its organisation; and folding the same events afresh by the same decisions
    links every record to the same citizen."""
    walk = _Walk(seed)
    await walk.setup()
    steps = []
    for _ in range(40):
        steps.append(await walk.step())
        state = walk.state
        assert _broken_invariants(state) == [], steps
        assert set(state.views) == set(state.links.values()), steps
        for (org, _), citizen in state.links.items():
            assert org in {i.org for i in state.views[citizen].involvements}, steps

    fresh, units = fake_unit_of_work()
    fresh.decisions = list(walk.state.decisions)
    await _project(units, ProjectionConsumer(units, id_secret=ID_SECRET), walk.events)
    assert fresh.links == walk.state.links, steps
