"""Identity matching on arrival: a new registration against a population of citizens.

Untimed: register `matching_citizens` people (varied names, birth dates over 65 years,
postcodes over 2,000 sectors; a quarter without an NHS number) through the projection's own
batch code. Timed: `matching_registrations` new registrations, each applied alone in its own
transaction as the projection applies a batch (match, re-link, fold, write): p50 and p99. A
fifth of them are the same people as existing records written differently (a nickname, a
typo in the postcode, no NHS number), so pairs are scored, linked and queued. Then the same
number of registrations in batches of 1,000, for throughput. The garbage collector runs
as in the projection's worker and replay processes (`collect_garbage_less_often`).
"""

import contextlib
import random
import time
from collections.abc import Iterator, Sequence
from datetime import UTC, date, datetime, timedelta
from uuid import uuid4

import asyncpg

from bench.figures import Run
from bench.part import BenchContext, Measurement, SizeOption
from bench.read_model import ID_SECRET, KEYS, as_projection_process, quiet_logs
from bench.timing import latency, per_second, settle
from events.envelope import Envelope, OrgId
from events.identifiers import nhs_number_check_digit
from events.organisations import DEFAULT_ORGANISATIONS
from events.registry import EventPayload
from events.shared import PersonDetails, PersonRegistered
from services.organisation.domain.recording import Recording, envelope_for
from services.projection.adapters.postgres_unit_of_work import postgres_units
from services.projection.adapters.read_model_schema import prepare_read_model
from services.projection.service_layer.log_projection import ProjectionConsumer
from services.projection.service_layer.unit_of_work import UnitsOfWork
from services.runtime.database import Pool, create_pool

MATCHING_CITIZENS = SizeOption(
    "matching_citizens", 100_000, "citizens registered before matching is timed"
)
MATCHING_REGISTRATIONS = SizeOption(
    "matching_registrations", 2_000, "new registrations timed one by one (and in batches)"
)
_SCHEMA = "bench_matching"
_GIVEN = [
    "Oliver",
    "George",
    "Harry",
    "Noah",
    "Jack",
    "Leo",
    "Arthur",
    "Muhammad",
    "Oscar",
    "Charlie",
    "Jacob",
    "Thomas",
    "Henry",
    "William",
    "Olivia",
    "Amelia",
    "Isla",
    "Ava",
    "Mia",
    "Ivy",
    "Lily",
    "Isabella",
    "Rosie",
    "Sophia",
    "Grace",
    "Freya",
    "Florence",
    "Emily",
    "David",
    "Sarah",
    "James",
    "Mary",
    "John",
    "Karen",
    "Michael",
    "Susan",
    "Robert",
    "Linda",
    "Daniel",
    "Aleksandra",
    "Mohammed",
]
_FAMILY = [
    "Smith",
    "Jones",
    "Williams",
    "Taylor",
    "Brown",
    "Davies",
    "Evans",
    "Wilson",
    "Thomas",
    "Johnson",
    "Roberts",
    "Robinson",
    "Thompson",
    "Wright",
    "Walker",
    "White",
    "Edwards",
    "Hughes",
    "Green",
    "Hall",
    "Lewis",
    "Harris",
    "Clarke",
    "Patel",
    "Jackson",
    "Wood",
    "Turner",
    "Martin",
    "Cooper",
    "Hill",
    "Ward",
    "Morris",
    "Moore",
    "Clark",
    "Lee",
    "King",
    "Baker",
    "Harrison",
    "Morgan",
    "Allen",
    "James",
    "Scott",
    "Phillips",
    "Watson",
    "Davis",
    "Parker",
    "Price",
    "Bennett",
    "Young",
    "Griffiths",
    "Mitchell",
    "Kelly",
    "Cook",
    "Carter",
    "Richardson",
    "Bailey",
    "Collins",
    "Bell",
    "Shaw",
    "Murphy",
    "Miller",
    "Cox",
    "Richards",
    "Khan",
    "Marshall",
    "Anderson",
    "Simpson",
    "Ellis",
    "Adams",
    "Singh",
    "Begum",
    "Wilkinson",
    "Foster",
    "Chapman",
    "Powell",
    "Webb",
    "Rogers",
    "Gray",
    "Mason",
    "Ali",
    "Hunt",
    "Hussain",
    "Campbell",
    "Matthews",
    "Owen",
    "Palmer",
    "Holmes",
    "Mills",
    "Barnes",
    "Knight",
    "Lloyd",
    "Butler",
    "Russell",
    "Barker",
    "Fisher",
    "Stevens",
    "Jenkins",
    "Murray",
    "Dixon",
    "Harvey",
    "Nowak",
]
_NICKNAMES = {"David": "Dave", "James": "Jim", "Michael": "Mike", "Robert": "Bob"}
_START = datetime(2025, 1, 6, 9, 0, tzinfo=UTC)


async def run(ctx: BenchContext) -> list[Measurement]:
    """Measure matching a new registration against the population: p50, p99 and events/s."""
    population = ctx.size(MATCHING_CITIZENS.name)
    timed = ctx.size(MATCHING_REGISTRATIONS.name)
    rng = random.Random(7)
    people = _People(rng)
    with quiet_logs(), as_projection_process():
        pool = await create_pool(ctx.ours_url, max_size=2)
        try:
            await prepare_read_model(pool, _SCHEMA)
            units = postgres_units(pool, _SCHEMA, keys=KEYS)
            consumer = ProjectionConsumer(units, id_secret=ID_SECRET)
            for first in range(0, population, 1_000):
                batch = [people.new() for _ in range(min(1_000, population - first))]
                await _apply(units, consumer, batch)
            await _settle_database(pool)
            settle()
            arrivals = [people.arrival() for _ in range(timed)]
            one_by_one = await _one_by_one(units, consumer, arrivals)
            batched = [people.arrival() for _ in range(timed)]
            began = time.perf_counter()
            for first in range(0, timed, 1_000):
                await _apply(units, consumer, batched[first : first + 1_000])
            seconds = time.perf_counter() - began
            linked, queued = await _outcome(pool)
        finally:
            await pool.close()
    print(f"  matching: {linked:,} records linked by score, {queued:,} pairs in review")
    one = latency(one_by_one.durations)
    vs = f"vs {population:,} citizens"
    return [
        Measurement(
            "matching.one", f"registrations matched one at a time {vs}", "events/s", "ours",
            per_second(one_by_one.count, one_by_one.seconds),
        ),
        Measurement("matching.p50", "  latency p50, one registration", "ms", "ours", one.p50_ms),
        Measurement("matching.p99", "  latency p99, one registration", "ms", "ours", one.p99_ms),
        Measurement(
            "matching.batch", f"registrations matched in batches of 1,000 {vs}", "events/s",
            "ours", per_second(timed, seconds),
        ),
    ]  # fmt: skip


async def _apply(
    units: UnitsOfWork,
    consumer: ProjectionConsumer,
    batch: Sequence[tuple[Envelope, EventPayload]],
) -> None:
    async with units() as uow:
        await consumer.project(uow, batch)
        await uow.commit()


async def _one_by_one(
    units: UnitsOfWork,
    consumer: ProjectionConsumer,
    arrivals: Sequence[tuple[Envelope, EventPayload]],
) -> Run:
    durations = []
    began = time.perf_counter()
    for arrival in arrivals:
        start = time.perf_counter()
        await _apply(units, consumer, [arrival])
        durations.append(time.perf_counter() - start)
    return Run(len(arrivals), time.perf_counter() - began, durations)


async def _settle_database(pool: Pool) -> None:
    """Let PostgreSQL catch up with the bulk load before the timed loops (statistics,
    visibility, dirty pages), so that they time matching, not autovacuum and a checkpoint
    arriving part-way through: those made the one-at-a-time p99 swing by 150 ms run to run."""
    await pool.execute(f"VACUUM ANALYZE {_SCHEMA}.registrations, {_SCHEMA}.blocking_keys")
    await pool.execute(f"VACUUM ANALYZE {_SCHEMA}.match_pairs, {_SCHEMA}.person_links")
    with contextlib.suppress(asyncpg.InsufficientPrivilegeError):  # a server's plain user
        await pool.execute("CHECKPOINT")


async def _outcome(pool: Pool) -> tuple[int, int]:
    linked = await pool.fetchval(
        f"SELECT count(*) - count(DISTINCT citizen_id) FROM {_SCHEMA}.person_links"  # noqa: S608 - constant
    )
    queued = await pool.fetchval(
        f"SELECT count(*) FROM {_SCHEMA}.match_pairs WHERE in_review"  # noqa: S608 - constant
    )
    return int(linked), int(queued)


class _People:
    """A made-up population: new people, and arrivals some of whom are already known."""

    def __init__(self, rng: random.Random) -> None:
        self._rng = rng
        self._known: list[PersonDetails] = []
        self._numbers = _nhs_numbers()
        self._n = 0

    def new(self) -> tuple[Envelope, EventPayload]:
        rng = self._rng
        person = PersonDetails(
            nhs_number=next(self._numbers) if rng.random() < 0.75 else None,
            given_name=rng.choice(_GIVEN),
            family_name=rng.choice(_FAMILY),
            date_of_birth=date(1940, 1, 1) + timedelta(days=rng.randrange(65 * 365)),
            postcode=_postcode(rng) if rng.random() < 0.8 else None,
        )
        self._known.append(person)
        return self._registered(person)

    def arrival(self) -> tuple[Envelope, EventPayload]:
        """A new person, or (one in five) a known one as another organisation writes them."""
        if self._rng.random() >= 0.2:
            return self.new()
        known = self._rng.choice(self._known)
        given = _NICKNAMES.get(known.given_name, known.given_name)
        postcode = known.postcode
        if postcode and self._rng.random() < 0.5:
            postcode = postcode[:-1] + ("A" if postcode[-1] != "A" else "B")
        return self._registered(
            known.model_copy(update={"nhs_number": None, "given_name": given, "postcode": postcode})
        )

    def _registered(self, person: PersonDetails) -> tuple[Envelope, EventPayload]:
        self._n += 1
        org: OrgId = DEFAULT_ORGANISATIONS.ids[self._n % 3]
        at = _START + timedelta(seconds=self._n)
        recording = Recording(org=org, actor=f"{org}/bench", correlation_id="b", recorded_at=at)
        payload = PersonRegistered(person_id=uuid4(), details=person)
        envelope = envelope_for(
            payload, recording=recording, subject=payload.person_id, place="E05001234"
        )
        return envelope, payload


def _postcode(rng: random.Random) -> str:
    area = rng.choice(["BS", "LS", "M", "B", "L", "NE", "CF", "G"])
    unit = "".join(rng.choices("ABDEFGHJLNPQRSTUWXYZ", k=2))
    return f"{area}{rng.randrange(1, 30)} {rng.randrange(1, 10)}{unit}"


def _nhs_numbers() -> Iterator[str]:
    prefix = 600_000_000
    while True:
        check = nhs_number_check_digit(str(prefix))
        if check is not None:
            yield f"{prefix}{check}"
        prefix += 1
