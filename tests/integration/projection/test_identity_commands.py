"""`caseweave identity train|explain` on a real PostgreSQL holding a place's registrations."""

import asyncio
import json
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from uuid import uuid4

import pytest

from services.cli.main import main
from services.identity_matching.matching import PersonRecord
from services.identity_matching.model import DEFAULT_MODEL
from services.projection.adapters.postgres_unit_of_work import postgres_units
from services.projection.adapters.read_model_schema import prepare_read_model
from services.projection.domain.identity_records import Registration
from services.runtime.database import create_pool
from services.runtime.matching_config import load_matching_config
from services.runtime.settings import get_settings
from tests.postgres import create_database
from tests.unit.test_identity_training import population

AT = datetime(2026, 12, 7, 9, 0, tzinfo=UTC)


@pytest.fixture(autouse=True)
def settings_read_afresh() -> Iterator[None]:
    """Each command here reads the environment the test set (the settings are cached)."""
    get_settings.cache_clear()
    yield
    get_settings.cache_clear()


def _use(monkeypatch: pytest.MonkeyPatch, name: str, value: str) -> None:
    monkeypatch.setenv(name, value)
    get_settings.cache_clear()


async def _registered(url: str, records: list[PersonRecord]) -> None:
    pool = await create_pool(url, max_size=2)
    try:
        await prepare_read_model(pool, "projection")
        async with postgres_units(pool, "projection")() as uow:
            await uow.matches.save_latest([Registration(r, uuid4(), AT) for r in records])
            await uow.commit()
    finally:
        await pool.close()


@pytest.fixture
def place(postgres_server: str, monkeypatch: pytest.MonkeyPatch) -> list[PersonRecord]:
    """A database of its own whose projection holds 900 people's registrations (300 twice)."""
    url = asyncio.run(create_database(postgres_server))
    records, _ = population(900, seed=4)
    asyncio.run(_registered(url, records))
    monkeypatch.delenv("CASEWEAVE_MATCHING_FILE", raising=False)
    _use(monkeypatch, "CASEWEAVE_DATABASE_URL", url)
    return records


def test_train_writes_a_matching_file_the_services_read_and_explain_uses_it(
    place: list[PersonRecord],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """An operator learns the model, points the place at it, and asks why a pair scored so."""
    learnt = tmp_path / "matching.toml"

    assert main(["identity", "train", "--output", str(learnt), "--random-pairs", "20000"]) == 0

    said = capsys.readouterr().err
    assert "read 1,200 registrations" in said
    assert f"set CASEWEAVE_MATCHING_FILE={learnt}" in said
    config = load_matching_config(learnt)
    assert config.model.version.startswith("trained-")
    assert config.model.training is not None
    assert config.model.training.records == 1200
    assert config.default.link > config.default.review
    assert config.model.address["exact"].m is not None  # learnt from the stored addresses
    _use(monkeypatch, "CASEWEAVE_MATCHING_FILE", str(learnt))
    original, twice = place[0], place[1]  # person 0 was registered twice (h0, v0)

    status = main([
        "identity", "explain", f"{original.org}:{original.person_id}",
        f"{twice.org}:{twice.person_id}", "--json",
    ])  # fmt: skip

    explained = json.loads(capsys.readouterr().out)
    assert status == 0
    assert explained["model"] == config.model.version
    assert [row["field"] for row in explained["fields"]] == [
        "given_name", "family_name", "date_of_birth", "postcode", "address",
    ]  # fmt: skip
    for row in explained["fields"]:  # an exact name weighs by how common it is, the rest not
        named = row["level"] == "exact" and row["field"] in config.model.names
        assert (row["name"] in ("common", "rare")) if named else row["name"] is None, row
    assert explained["score"] == pytest.approx(
        sum(r["weight"] for r in explained["fields"]), abs=0.01
    )
    assert explained["link"] == config.default.link
    assert explained["decision"] in ("link", "review", "none")
    assert explained["shared_blocking_keys"]
    assert all(
        isinstance(row["m"], float) for row in explained["fields"] if row["level"] != "missing"
    )
    assert original.given_name not in json.dumps(explained)  # no personal values


def test_explain_prints_a_table_and_says_when_a_record_is_unknown(
    place: list[PersonRecord], capsys: pytest.CaptureFixture[str]
) -> None:
    first, second = place[0], place[2]

    assert (
        main(["identity", "explain", f"housing:{first.person_id}", f"housing:{second.person_id}"])
        == 0
    )
    printed = capsys.readouterr().out
    assert f"model {DEFAULT_MODEL.version}" in printed
    assert "blocking keys shared:" in printed

    assert main(["identity", "explain", "housing:nobody", f"housing:{first.person_id}"]) == 1
    said = capsys.readouterr().err
    assert "no registration of housing:nobody" in said
    assert first.person_id not in said  # only the record it cannot find


def test_train_refuses_a_place_with_too_few_records_and_keeps_the_model(
    postgres_server: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    url = asyncio.run(create_database(postgres_server))
    asyncio.run(_registered(url, population(30, seed=5)[0]))
    _use(monkeypatch, "CASEWEAVE_DATABASE_URL", url)

    assert main(["identity", "train"]) == 1
    assert "at least 500 are needed" in capsys.readouterr().err


def test_a_record_is_named_org_colon_person_id(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_:
        main(["identity", "explain", "housing-123", "voluntary:9"])
    assert exit_.value.code == 2
    assert "expected ORG:PERSON_ID" in capsys.readouterr().err


def test_train_says_why_when_the_records_cannot_teach_a_model(
    postgres_server: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """Enough registrations, but no two alike enough to be compared: nothing to learn m from."""
    url = asyncio.run(create_database(postgres_server))
    strangers = [
        PersonRecord(org="housing", person_id=f"p{n}", given_name=f"Given{n}", family_name="X")
        for n in range(600)
    ]  # no birth dates, no postcodes: each name's sound is its own
    asyncio.run(_registered(url, strangers))
    _use(monkeypatch, "CASEWEAVE_DATABASE_URL", url)

    assert main(["identity", "train"]) == 1
    assert "too few records to learn how" in capsys.readouterr().err
