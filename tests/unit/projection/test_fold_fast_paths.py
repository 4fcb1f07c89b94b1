"""The fold's faster bookkeeping gives what the plain definitions give, for any arrival order.

Each test checks a part of the fold against its straightforward definition (kept here) on
random inputs full of ties: same moments, same values, copies, duplicates.
"""

from collections import Counter
from collections.abc import Callable, Hashable
from datetime import UTC, date, datetime, timedelta, timezone
from random import Random
from typing import Any, TypeVar
from uuid import UUID

import pytest

from events.envelope import Envelope, OrgId
from events.organisations import DEFAULT_ORGANISATIONS
from services.identity_matching.comparisons import normalise_name
from services.projection.domain import identity
from services.projection.domain.fold import WorkingRecent
from services.projection.domain.view import (
    RECENT_EVENTS,
    CitizenView,
    Identity,
    KnownAs,
    RecentEvent,
    Registration,
)

V = TypeVar("V")
START = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)


def _envelope(rng: Random, ids: list[UUID]) -> Envelope:
    zone = rng.choice([UTC, timezone(timedelta(hours=1))])  # one instant, written either way
    occurred = (START + timedelta(minutes=rng.randrange(4))).astimezone(zone)
    return Envelope(
        event_id=rng.choice(ids),
        type="flag.raised",
        schema_version=1,
        occurred_at=occurred,
        recorded_at=occurred + timedelta(minutes=rng.randrange(2)),
        org=rng.choice(DEFAULT_ORGANISATIONS.ids),
        subject="p",
        place="E05001234",
        category="safeguarding.risk",
        correlation_id="c",
        actor="housing/frontline/k",
        data={},
    )


def _add_recent_by_definition(recent: list[RecentEvent], envelope: Envelope) -> bool:
    key = (envelope.occurred_at, envelope.recorded_at, envelope.event_id)
    if any(r.event_id == envelope.event_id and r.org == envelope.org for r in recent):
        return False
    if len(recent) >= RECENT_EVENTS and key <= recent[-1].sort_key:
        return False
    recent.append(
        RecentEvent(
            event_id=envelope.event_id,
            org=envelope.org,
            type=envelope.type,
            category=envelope.category,
            occurred_at=envelope.occurred_at,
            recorded_at=envelope.recorded_at,
        )
    )
    recent.sort(key=lambda r: r.sort_key, reverse=True)
    del recent[RECENT_EVENTS:]
    return True


@pytest.mark.parametrize("seed", range(40))
def test_recent_events_as_a_full_sort_keeps_them(seed: int) -> None:
    rng = Random(seed)
    ids = [UUID(int=rng.getrandbits(128)) for _ in range(rng.randrange(3, 30))]
    fast = WorkingRecent([])
    plain: list[RecentEvent] = []
    for _ in range(60):
        envelope = _envelope(rng, ids)
        assert fast.add(envelope) == _add_recent_by_definition(plain, envelope)
        assert fast.recent() == tuple(plain)


@pytest.mark.parametrize("seed", range(40))
def test_a_fold_keeps_the_recent_events_one_at_a_time_would(seed: int) -> None:
    rng = Random(seed)
    ids = [UUID(int=rng.getrandbits(128)) for _ in range(rng.randrange(3, 30))]
    plain: list[RecentEvent] = []
    for _ in range(rng.randrange(15)):
        _add_recent_by_definition(plain, _envelope(rng, ids))
    stored = CitizenView(citizen_id=ids[0], recent=tuple(plain))
    read_back = CitizenView.model_validate_json(stored.model_dump_json())  # its own time zones
    working = WorkingRecent(read_back.recent)
    for _ in range(40):
        envelope = _envelope(rng, ids)
        assert working.add(envelope) == _add_recent_by_definition(plain, envelope)
    assert working.recent() == tuple(plain)


def _best_by_definition(
    ranked: identity.Ranked,
    value_of: Callable[[Registration], V | None],
    key: Callable[[V], Hashable] = identity._identical,
) -> tuple[OrgId, datetime, V] | None:
    attested = [
        (org, registration, value)
        for org, registration in ranked
        if (value := value_of(registration)) is not None
    ]
    if not attested:
        return None
    by_org = {
        (org, key(value)) for org, registration, value in attested if not registration.from_referral
    }
    weight = Counter(value_key for _, value_key in by_org)
    most = max(weight[key(value)] for _, _, value in attested)
    winner = next(key(value) for _, _, value in attested if weight[key(value)] == most)
    org, registration, value = [entry for entry in attested if key(entry[2]) == winner][-1]
    return org, registration.occurred_at, value


def _registration(rng: Random) -> Registration:
    known_as: dict[str, Any] = {
        "given_name": rng.choice(["David", "david", "Dave", "DAVID!"]),
        "family_name": rng.choice(["Smith", "Smyth"]),
        "date_of_birth": rng.choice([date(1979, 3, 12), date(1979, 12, 3)]),
        "postcode": rng.choice([None, "BS5 6XX", "bs56xx", "BS1 1AA"]),
    }
    return Registration(
        occurred_at=START + timedelta(minutes=rng.randrange(3)),
        place=rng.choice(["E05001234", "E05009999"]),
        known_as=KnownAs(**known_as),
        from_referral=rng.random() < 0.3,
    )


@pytest.mark.parametrize("seed", range(60))
def test_best_value_as_defined(seed: int) -> None:
    rng = Random(seed)
    ranked = [
        (rng.choice(DEFAULT_ORGANISATIONS.ids), _registration(rng)) for _ in range(rng.randrange(6))
    ]
    values: list[tuple[Callable[[Registration], Any], Callable[[Any], Hashable]]] = [
        (lambda r: r.known_as.given_name, normalise_name),
        (lambda r: r.known_as.postcode, identity._postcode_key),
        (lambda r: r.known_as.date_of_birth, identity._identical),
        (lambda r: r.place, identity._identical),
    ]
    for value_of, key in values:
        assert identity._best(ranked, value_of, key) == _best_by_definition(ranked, value_of, key)


@pytest.mark.parametrize("seed", range(20))
def test_one_registration_gives_its_values_as_the_general_rule_does(seed: int) -> None:
    rng = Random(seed)
    org, registration = rng.choice(DEFAULT_ORGANISATIONS.ids), _registration(rng)
    ranked = [(org, registration)]
    by_rule = Identity(
        given_name=identity._text(ranked, lambda r: r.known_as.given_name, normalise_name),
        family_name=identity._text(ranked, lambda r: r.known_as.family_name, normalise_name),
        date_of_birth=identity._date(ranked, lambda r: r.known_as.date_of_birth),
        nhs_number=identity._text(ranked, lambda r: r.known_as.nhs_number),
        postcode=identity._text(ranked, lambda r: r.known_as.postcode, identity._postcode_key),
        place=identity._text(ranked, lambda r: r.place),
    )
    fast = identity._as_registered(org, registration)
    assert fast == by_rule
    assert fast.model_dump_json() == by_rule.model_dump_json()
