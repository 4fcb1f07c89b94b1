"""A replay nobody notices: `caseweave replay projection` builds a new version of the single
view beside the live one and switches to it atomically once it has caught up.

Reads during it answer as before; a steward's decision made while it ran holds after the
switch; a rebuild stopped half-way resumes where it stopped (or starts over when asked);
one citizen can be refolded alone.
"""

import asyncio
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from typing import Any
from uuid import uuid4

import httpx
import pytest

from events.envelope import Envelope, OrgId
from services.projection.adapters.read_model_versions import RebuildRunning
from services.projection.bootstrap import rebuild_projection
from services.projection.service_layer.citizen_refold import refold_citizen
from services.projection.service_layer.rebuild import (
    ReplayProgress,
    rebuilding,
    start_or_resume,
    switch_to_next,
)
from tests.integration.projection.conftest import ID_SECRET, Organisations
from tests.integration.projection.reading import citizen_of, key_of, projection_api
from tests.unit.projection.factories import PersonAt, details
from tests.unit.projection.stories import crowd, three_organisations_story

AT = datetime(2026, 5, 4, 9, 0, tzinfo=UTC)
ROBERT = "1573681938"


@pytest.fixture
async def api(orgs: Organisations, database_url: str) -> AsyncIterator[httpx.AsyncClient]:
    async with projection_api(orgs, database_url) as client:
        yield client


async def _story_and_crowd(orgs: Organisations, people: int) -> int:
    story = three_organisations_story()
    await orgs.record(
        sorted((e for log in story.values() for e in log), key=Envelope.occurred_sort_key)
    )
    logs = crowd(people)
    await orgs.record_logs(logs)
    await orgs.catch_up()
    return sum(len(log) for log in story.values()) + sum(len(log) for log in logs.values())


async def _schemas(orgs: Organisations) -> set[str]:
    rows = await orgs.pool.fetch(
        "SELECT nspname FROM pg_namespace WHERE nspname LIKE $1", f"{orgs.schema}%"
    )
    return {row["nspname"] for row in rows}


async def test_reads_during_a_replay_answer_exactly_as_before_it(
    orgs: Organisations, api: httpx.AsyncClient
) -> None:
    """The single view is read over HTTP again and again while the whole projection is
    rebuilt and switched: every answer is 200 and the same, before, during and after."""
    events = await _story_and_crowd(orgs, people=150)
    housing = await key_of(orgs, "housing")
    citizen = await citizen_of(api, housing)
    path = f"/v1/citizens/{citizen}"
    before = (await api.get(path, headers=housing)).json()
    progress: list[ReplayProgress] = []

    rebuilding = asyncio.create_task(
        rebuild_projection(
            pool=orgs.pool, sources=orgs.sources, schema=orgs.schema, id_secret=ID_SECRET,
            on_progress=progress.append,
        )
    )  # fmt: skip

    async def read() -> tuple[int, Any]:
        for _ in range(30):
            answer = await api.get(path, headers=housing)
            if answer.status_code != 429:
                break
            # the key's rate limit, not the replay: wait as told
            await asyncio.sleep(float(answer.headers.get("Retry-After", "1")))
        return answer.status_code, answer.json()

    answers = []
    while not rebuilding.done():
        answers.append(await read())
    answers.append(await read())

    assert await rebuilding == events
    assert len(progress) > 1, "the rebuild was over before anything could read during it"
    assert len(answers) > 10
    assert {status for status, _ in answers} == {200}
    assert [body for _, body in answers if body != before] == []
    assert await _schemas(orgs) >= {orgs.schema}
    assert {f"{orgs.schema}_next", f"{orgs.schema}_retired"} & await _schemas(orgs) == set()


async def _register(orgs: Organisations, org: OrgId, **who: Any) -> PersonAt:
    person = PersonAt(org)
    await orgs.record(
        [person.registered(AT, details(**who)), person.case_opened(AT, uuid4(), "support")]
    )
    return person


async def _citizen_of(orgs: Organisations, person: PersonAt) -> Any:
    return await orgs.pool.fetchval(
        f"SELECT citizen_id FROM {orgs.schema}.person_links"  # noqa: S608
        " WHERE org = $1 AND person_id = $2",
        person.org,
        str(person.person_id),
    )


async def test_a_stewards_decision_made_during_a_replay_holds_after_the_switch(
    orgs: Organisations, api: httpx.AsyncClient
) -> None:
    """The rebuilt version had already resolved both records when the steward confirmed
    them as one person on the live view: the switch applies the decision to it."""
    robert = await _register(
        orgs, "housing", nhs_number=ROBERT, given_name="Robert", family_name="Jones"
    )
    bob = await _register(orgs, "voluntary", nhs_number=None, given_name="Bob", family_name="Jones")
    await orgs.catch_up()
    assert await _citizen_of(orgs, robert) != await _citizen_of(orgs, bob)
    rebuilding = await start_or_resume(orgs.pool, orgs.schema, keys=None)
    built = orgs.consumer(rebuilding.versions.next, decisions_schema=rebuilding.decisions_schema)
    await orgs.catch_up(built)  # both records resolved apart in the new version

    steward = await key_of(orgs, "voluntary", "data_steward")
    [pair] = (await api.get("/v1/identity/review", headers=steward)).json()["pairs"]
    confirm = f"/v1/identity/review/{pair['pair_id']}/confirm"
    for org in ("voluntary", "housing"):  # both records' organisations' stewards
        by = await key_of(orgs, org, "data_steward")
        assert (await api.post(confirm, headers=by, json={"reason": "same"})).status_code == 200
    live_citizen = await _citizen_of(orgs, robert)
    assert live_citizen == await _citizen_of(orgs, bob)

    await switch_to_next(orgs.pool, rebuilding, id_secret=ID_SECRET, keys=None)

    assert await _citizen_of(orgs, robert) == live_citizen
    assert await _citizen_of(orgs, bob) == live_citizen
    housing = await key_of(orgs, "housing")
    view = await api.get(f"/v1/citizens/{live_citizen}", headers=housing)
    assert view.status_code == 200, view.text
    assert {i["org"] for i in view.json()["involvements"]} == {"housing", "voluntary"}


async def test_a_stopped_replay_resumes_where_it_stopped_and_restart_starts_over(
    orgs: Organisations,
) -> None:
    """A rebuild that folded part of the streams before it stopped goes on from there (the
    live view untouched meanwhile); `restart` throws the part away and starts afresh."""
    events = await _story_and_crowd(orgs, people=60)
    before = await orgs.snapshot()
    rebuilding = await start_or_resume(orgs.pool, orgs.schema, keys=None)
    partly = orgs.consumer(
        rebuilding.versions.next, decisions_schema=rebuilding.decisions_schema, batch_size=50
    )
    stopped_after = sum([await partly.handle_next_batch(log) for log in orgs.logs()])
    assert 0 < stopped_after < events
    assert await orgs.snapshot() == before  # the live version serves on, as it was

    progress: list[ReplayProgress] = []
    resumed = await rebuild_projection(
        pool=orgs.pool, sources=orgs.sources, schema=orgs.schema, id_secret=ID_SECRET,
        on_progress=progress.append,
    )  # fmt: skip
    assert resumed == events - stopped_after
    assert progress[-1].resumed
    assert progress[-1].expected == events - stopped_after
    assert await orgs.snapshot() == before

    await start_or_resume(orgs.pool, orgs.schema, keys=None)
    again = await rebuild_projection(
        pool=orgs.pool, sources=orgs.sources, schema=orgs.schema, id_secret=ID_SECRET,
        restart=True,
    )  # fmt: skip
    assert again == events
    assert await orgs.snapshot() == before


async def test_one_citizen_is_refolded_alone(orgs: Organisations) -> None:
    """A view gone wrong (here: overwritten by hand) is folded again from its events; the
    other citizens are not written; an unknown citizen changes nothing."""
    await _story_and_crowd(orgs, people=5)
    before = await orgs.snapshot()
    views = await orgs.pool.fetch(f"SELECT citizen_id, updated_at FROM {orgs.schema}.citizens")  # noqa: S608
    damaged, *others = [row["citizen_id"] for row in views]
    await orgs.pool.execute(
        f"UPDATE {orgs.schema}.citizens SET view = jsonb_set(view, '{{recent}}', '[]')"  # noqa: S608
        " WHERE citizen_id = $1",
        damaged,
    )

    records = await refold_citizen(orgs.units()(), damaged)

    assert records is not None
    assert records >= 1
    assert await orgs.snapshot() == before
    written = await orgs.pool.fetch(
        f"SELECT citizen_id, updated_at FROM {orgs.schema}.citizens"  # noqa: S608
        " WHERE citizen_id = ANY($1::uuid[])",
        others,
    )
    stamps = {row["citizen_id"]: row["updated_at"] for row in views}
    assert all(row["updated_at"] == stamps[row["citizen_id"]] for row in written)
    assert await refold_citizen(orgs.units()(), uuid4()) is None


async def test_a_second_replay_while_one_runs_is_refused_and_one_from_another_release_restarts(
    orgs: Organisations,
) -> None:
    """Two replays of one read model at once would drop each other's work: the second is
    refused. A stopped rebuild whose tables another release made is not resumed."""
    events = await _story_and_crowd(orgs, people=5)
    async with rebuilding(orgs.pool, orgs.schema, keys=None):
        with pytest.raises(RebuildRunning):
            await rebuild_projection(
                pool=orgs.pool, sources=orgs.sources, schema=orgs.schema, id_secret=ID_SECRET
            )
    await orgs.pool.execute(
        f"UPDATE {orgs.schema}_next.rebuild_state SET tables_version = 0"  # noqa: S608
    )
    progress: list[ReplayProgress] = []

    replayed = await rebuild_projection(
        pool=orgs.pool, sources=orgs.sources, schema=orgs.schema, id_secret=ID_SECRET,
        on_progress=progress.append,
    )  # fmt: skip

    assert replayed == events
    assert not progress[-1].resumed
