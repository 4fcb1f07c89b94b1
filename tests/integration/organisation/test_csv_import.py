"""A charity's spreadsheet export imported through the shipped spreadsheet mapping: a dry run
writes nothing and says what it would do; the import records the good rows and quarantines
the bad ones (never half of a row); the same file again records nothing new; a changed row
records what changed."""

import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from services.organisation.adapters.csv_rows import csv_rows
from services.organisation.adapters.sources_file import load_sources
from services.organisation.domain.inbound_mapping import Source
from services.organisation.domain.recording import Recording
from services.organisation.service_layer.csv_import import ImportTally, import_rows
from tests.integration.organisation.running_services import (
    RunningService,
    eventually,
)

MAPPINGS = Path(__file__).parents[3] / "deploy" / "adapters"
SOURCE = "drop_in_spreadsheet"


@pytest.fixture(scope="module")
def source() -> Source:
    return load_sources(MAPPINGS / "sources.example.toml")[SOURCE]


@pytest.fixture(scope="module")
def sources(source: Source) -> dict[str, Source]:
    return {SOURCE: source}


def _export(ref: str, *, dob: str = "03/04/1990", session: str = "1-1") -> bytes:
    """A spreadsheet export as Excel writes it: a byte order mark, Windows line endings, a
    quoted comma, a blank line, an accent."""
    lines = [
        "Type,Client ID,First name,Surname,Date of birth,Postcode,Case ID,Reason,Worker,"
        "Session,Minutes",
        f"client,{ref},Zoé,Bloggs{ref},{dob},BS5 6XX,,,,,",
        "",
        f'case,{ref},,,,,K-{ref},"Food, and benefits",Jo Reid,,',
        f"session,{ref},,,,,K-{ref},,,{session},45",
    ]
    return ("\ufeff" + "\r\n".join(lines) + "\r\n").encode("utf-8")


async def _import(
    voluntary: RunningService, source: Source, data: bytes, *, dry_run: bool = False
) -> ImportTally:
    rows = [(row.line, row.values) for row in csv_rows(data)]
    recording = Recording(
        org="voluntary", actor=f"{source.actor}/csv", correlation_id=str(uuid.uuid4()),
        recorded_at=datetime.now(UTC),
    )  # fmt: skip
    return await import_rows(
        voluntary.unit_of_work, source=source, rows=rows, recording=recording,
        dry_run=dry_run,
    )  # fmt: skip


async def test_a_dry_run_says_what_it_would_record_and_writes_nothing(
    voluntary: RunningService, source: Source
) -> None:
    before = await voluntary.count_events()
    tally = await _import(voluntary, source, _export(f"C{uuid.uuid4().hex[:6]}"), dry_run=True)
    assert tally.applied == {"register_person": 1, "open_case": 1, "record_event": 1}
    assert tally.quarantined == []  # later rows saw the person and case of earlier ones
    assert await voluntary.count_events() == before


async def test_an_import_records_each_row_once_and_again_records_nothing_new(
    voluntary: RunningService, source: Source
) -> None:
    ref = f"C{uuid.uuid4().hex[:6]}"
    first = await _import(voluntary, source, _export(ref))
    assert (first.applied, first.quarantined) == (
        {"register_person": 1, "open_case": 1, "record_event": 1}, [],
    )  # fmt: skip

    async def listed() -> list[dict[str, Any]] | None:  # the people list follows the log
        found = (await voluntary.get(f"/v1/people?family_name=Bloggs{ref}")).json()
        return found["items"] or None

    [person] = await eventually(listed)
    assert (person["person"]["given_name"], person["person"]["date_of_birth"]) == (
        "Zoé", "1990-04-03",
    )  # fmt: skip
    after = await voluntary.count_events()
    again = await _import(voluntary, source, _export(ref))
    assert (again.applied, again.unchanged) == ({}, 3)
    assert await voluntary.count_events() == after


async def test_bad_rows_are_quarantined_by_line_and_good_ones_recorded(
    voluntary: RunningService, source: Source
) -> None:
    ref = f"C{uuid.uuid4().hex[:6]}"
    before = await voluntary.count_events()
    tally = await _import(voluntary, source, _export(ref, dob="1990-04-03", session="Walk"))
    # the person's date is not written the spreadsheet's way: no person, so their case and
    # session cannot be recorded either; each row kept with its own reason
    assert [(line, field, rule) for line, field, rule, _ in tally.quarantined] == [
        (2, "Date of birth", "date_format"),
        (4, "Client ID", "unknown_person"),
        (5, "Session", "unknown_code"),
    ]
    assert await voluntary.count_events() == before + 3  # three quarantine records, no more


async def test_a_frontline_worker_uploads_the_export_dry_first_then_for_real(
    voluntary: RunningService, housing: RunningService
) -> None:
    ref = f"C{uuid.uuid4().hex[:6]}"
    path = f"/v1/inbound/{SOURCE}/csv"
    headers = {"Authorization": f"Bearer {voluntary.key}", "Content-Type": "text/csv"}
    before = await voluntary.count_events()
    dry = await voluntary.client.post(f"{path}?dry_run=true", content=_export(ref), headers=headers)
    assert dry.status_code == 200, dry.text
    assert (dry.json()["dry_run"], dry.json()["rows"], dry.json()["quarantined"]) == (True, 3, [])
    assert await voluntary.count_events() == before
    real = await voluntary.client.post(path, content=_export(ref), headers=headers)
    assert real.json()["applied"] == {"register_person": 1, "open_case": 1, "record_event": 1}
    again = await voluntary.client.post(path, content=_export(ref), headers=headers)
    assert (again.json()["applied"], again.json()["unchanged"]) == ({}, 3)

    as_json = await voluntary.client.post(
        path, content=b"{}", headers={**headers, "Content-Type": "application/json"}
    )
    assert (as_json.status_code, as_json.json()["error"]["fields"][0]["rule"]) == (
        415,
        "csv_media_type",
    )
    garbage = await voluntary.client.post(path, content=b'a,b\n"open', headers=headers)
    assert (garbage.status_code, garbage.json()["error"]["fields"][0]["field"]) == (422, "body")
    unknown = await voluntary.client.post(
        "/v1/inbound/nobody/csv", content=_export(ref), headers=headers
    )
    assert unknown.status_code == 404
    other_org = await voluntary.client.post(
        path, content=_export(ref), headers={**headers, "Authorization": f"Bearer {housing.key}"}
    )
    assert other_org.status_code == 403  # another organisation's key
