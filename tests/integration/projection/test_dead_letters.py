"""The projection's parked events (embedded mode) through `caseweave dead-letters`.

An event of a type this release does not know is kept in the timeline and parked; after the
upgrade that teaches the type, a redrive folds it into its citizen's view, once.
"""

import argparse
import json
from collections.abc import Callable

import pytest
from structlog.testing import capture_logs

from services.cli.dead_letters import act, add_dead_letters
from services.dead_letters.bootstrap import consumers, dead_letter_stores
from services.dead_letters.domain import Selection
from services.dead_letters.service_layer import DeadLetterStore, list_dead_letters, redrive
from tests.integration.dead_letter_support import (
    SUPPORT_PLAN,
    CountingFold,
    support_plan_agreed,
    upgrade,
)
from tests.integration.projection.conftest import ID_SECRET, Organisations
from tests.unit.projection.factories import NHS_NUMBER, PersonAt, details, minutes


def the_stores(orgs: Organisations, fold: CountingFold) -> list[DeadLetterStore]:
    found = consumers(
        orgs.pool, id_secret=ID_SECRET, keys=orgs.keys, projection_schema=orgs.schema,
        org_schemas=orgs.sources, fold_batch=fold,
    )  # fmt: skip
    return dead_letter_stores(orgs.pool, found, kafka_bootstrap_servers=None)


def command(*words: str) -> argparse.Namespace:
    parser = argparse.ArgumentParser()
    add_dead_letters(parser.add_subparsers())
    return parser.parse_args(["dead-letters", *words])


async def recent_event_ids(orgs: Organisations) -> list[str]:
    [found] = await orgs.queries().by_nhs_number(NHS_NUMBER)
    view = await orgs.queries().citizen_view(found.citizen_id)
    assert view is not None
    return [str(recent.event_id) for recent in view.recent]


async def test_an_event_of_a_type_learnt_later_is_parked_then_folded_in_once(
    orgs: Organisations,
    monkeypatch: pytest.MonkeyPatch,
    unique_schema: Callable[[str], str],
) -> None:
    person = PersonAt("housing")
    plan = support_plan_agreed(person, minutes(1))
    await orgs.record([person.registered(minutes(0), details()), plan])
    await orgs.catch_up()
    fold = CountingFold()
    stores = the_stores(orgs, fold)

    [letter] = await list_dead_letters(stores, Selection())
    assert (letter.consumer, letter.reason, letter.event_type, letter.event_id) == (
        "projection", "unknown_event_type", SUPPORT_PLAN, str(plan.event_id),
    )  # fmt: skip
    [too_soon] = await redrive(stores, ids=[letter.id])
    assert (too_soon.result, too_soon.reason) == ("still_parked", "unknown_event_type")
    assert str(plan.event_id) not in await recent_event_ids(orgs)

    upgrade(monkeypatch)
    [redriven] = await redrive(stores, ids=[letter.id])
    [again] = await redrive(stores, ids=[letter.id])

    assert (redriven.result, again.result) == ("redriven", "already_redriven")
    assert fold.applied[plan.event_id] == 1
    assert (await recent_event_ids(orgs)).count(str(plan.event_id)) == 1
    assert await orgs.snapshot() == await orgs.reference(unique_schema)  # as if known all along
    [settled] = await list_dead_letters(stores, Selection(settled_too=True))
    assert (settled.status, settled.attempts) == ("redriven", 2)
    assert await list_dead_letters(stores, Selection()) == []


async def test_folding_a_parked_event_again_changes_nothing(
    orgs: Organisations, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Even past the status check (two redrives racing), a second fold is the same fold."""
    person = PersonAt("housing")
    plan = support_plan_agreed(person, minutes(1))
    await orgs.record([person.registered(minutes(0), details()), plan])
    await orgs.catch_up()
    upgrade(monkeypatch)
    projection = consumers(
        orgs.pool, id_secret=ID_SECRET, keys=None, projection_schema=orgs.schema,
        org_schemas=orgs.sources,
    )["projection"]  # fmt: skip

    views = []
    for _ in range(2):
        async with orgs.pool.acquire() as conn, conn.transaction():
            assert await projection.apply_parked(conn, "housing", str(plan.event_id)) is None
        views.append(await orgs.snapshot())
    assert views[0] == views[1]


async def test_the_command_lists_shows_and_discards_without_personal_data(
    orgs: Organisations, capsys: pytest.CaptureFixture[str]
) -> None:
    person = PersonAt("housing")
    kept, dropped = support_plan_agreed(person, minutes(1)), support_plan_agreed(person, minutes(2))
    await orgs.record([person.registered(minutes(0), details()), kept, dropped])
    await orgs.catch_up()
    stores = the_stores(orgs, CountingFold())
    ids = {letter.event_id: letter.id for letter in await list_dead_letters(stores, Selection())}
    kept_id = ids[str(kept.event_id)]
    capsys.readouterr()  # the consumer's own log lines

    with capture_logs() as logs:
        assert await act(command("discard", ids[str(dropped.event_id)]), stores) == 0
        assert "discarded" in capsys.readouterr().out
        assert await act(command("list", "--json"), stores) == 0
        listed = json.loads(capsys.readouterr().out)
        assert await act(command("show", kept_id), stores) == 0
        shown = capsys.readouterr().out
        assert await act(command("show", kept_id, "--payload"), stores) == 0
        with_payload = capsys.readouterr().out
        assert await act(command("redrive", kept_id), stores) == 1  # not fixed yet
        still = capsys.readouterr().out
        assert await act(command("show", "p000000000000"), stores) == 1

    assert [row["id"] for row in listed] == [kept_id]
    assert set(listed[0]) == {"id", "parked_at", "consumer", "reason", "event_type", "status"}
    assert "unknown_event_type" in shown
    assert person.subject not in shown  # the person reference only with --payload
    assert person.subject in with_payload
    assert f"{kept_id}  still parked (unknown_event_type" in still
    assert person.subject not in str(logs)
