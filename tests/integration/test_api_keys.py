"""API keys as operators manage them: issue, rotate with a grace period, revoke."""

import argparse
from datetime import timedelta

import pytest

from services.cli import keys as key_commands
from services.runtime.api_keys import ApiKeyStore, auth_migrations, split_key
from services.runtime.database import Pool
from services.runtime.migrations import apply_migrations


def _key_id(key: str) -> str:
    parts = split_key(key)
    assert parts is not None
    return parts[0]


async def _store(pool: Pool) -> ApiKeyStore:
    await apply_migrations(pool, auth_migrations())
    return ApiKeyStore(pool)


async def test_a_rotated_key_keeps_working_for_its_grace_period_beside_its_replacement(
    pool: Pool,
) -> None:
    store = await _store(pool)
    old = await store.issue(org="housing", role="frontline")
    old_id = _key_id(old)
    rotated = await store.rotate(old_id, grace=timedelta(minutes=30))
    assert rotated is not None
    new, expires = rotated
    old_caller, new_caller = await store.authenticate(old), await store.authenticate(new)
    assert old_caller is not None
    assert new_caller is not None
    assert (new_caller.org, new_caller.role) == ("housing", "frontline")
    assert new_caller.key_id != old_caller.key_id
    listed = {k.key_id: k for k in await store.list()}
    assert listed[old_id].expires_at == expires
    assert listed[new_caller.key_id].expires_at is None
    again = await store.rotate(old_id, grace=timedelta(hours=5))  # never lengthens the grace
    assert again is not None
    assert again[1] == expires


async def test_a_key_rotated_without_grace_stops_at_once_and_a_revoked_one_rotates_no_more(
    pool: Pool,
) -> None:
    store = await _store(pool)
    old = await store.issue(org="voluntary", role="ig_lead")
    old_id = _key_id(old)
    assert await store.rotate(old_id, grace=timedelta(0)) is not None
    assert await store.authenticate(old) is None
    assert await store.rotate(old_id, grace=timedelta(minutes=5)) is None  # expired already
    revoked = await store.issue(org="voluntary", role="ig_lead")
    revoked_id = _key_id(revoked)
    assert await store.revoke(revoked_id)
    assert await store.rotate(revoked_id, grace=timedelta(minutes=5)) is None
    assert await store.rotate("nosuchkey", grace=timedelta(minutes=5)) is None


async def test_the_rotate_command_says_when_the_old_key_stops(
    pool: Pool, database_url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    store = await _store(pool)
    capsys.readouterr()  # what setting up the table logged is not the command's output
    for grace, said in ((30, "keeps working until"), (0, "no longer works")):
        key_id = _key_id(await store.issue(org="housing", role="frontline"))
        command = argparse.Namespace(action="rotate", key_id=key_id, grace_minutes=grace)
        assert await key_commands.run(command, database_url) == 0
        first_line = capsys.readouterr().out.splitlines()[0]
        assert first_line.startswith(f"{key_id} {said}")
        assert await key_commands.run(argparse.Namespace(action="list"), database_url) == 0
        listed = next(line for line in capsys.readouterr().out.splitlines() if key_id in line)
        assert listed.endswith("UTC")  # "active, expires … UTC" or "expired … UTC"
