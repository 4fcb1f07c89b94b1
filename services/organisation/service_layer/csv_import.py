"""Import a charity's CSV export, row by row, through its source's mapping (what
`caseweave import csv` and `POST /v1/inbound/{source}/csv` run)."""

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from services.organisation.domain.inbound_mapping import Source
from services.organisation.domain.recording import Recording
from services.organisation.service_layer.inbound import take_inbound_once
from services.organisation.service_layer.unit_of_work import UnitOfWork
from services.runtime.idempotency import request_fingerprint


@dataclass
class ImportTally:
    """What an import did (or, dry, would do), row by row."""

    applied: dict[str, int]
    quarantined: list[tuple[int, str, str, str]]  # line, field, rule, quarantine id
    unchanged: int = 0  # rows imported before: nothing new

    @property
    def rows(self) -> int:
        """How many rows were read."""
        return sum(self.applied.values()) + len(self.quarantined) + self.unchanged


async def import_row(
    uow: UnitOfWork,
    tally: ImportTally,
    *,
    source: Source,
    line: int,
    row: dict[str, Any],
    recording: Recording,
) -> None:
    """Take one row of a source's CSV export in (once: a row is known by its contents, so
    the same file again records nothing new, and a changed row records what changed), and
    count what became of it. The caller commits, or not (a dry run)."""
    message_id = "csv-" + request_fingerprint("ROW", source.name, row)[:40]
    answer, replayed = await take_inbound_once(
        uow, source=source, message_id=message_id, message=row, recording=recording
    )
    said = answer.body
    if replayed:
        tally.unchanged += 1
    elif said["status"] == "applied":
        tally.applied[said["command"]] = tally.applied.get(said["command"], 0) + 1
    else:
        tally.quarantined.append((line, said["field"], said["rule"], said["quarantine_id"]))


ROWS_PER_TRANSACTION = 500


async def import_rows(
    new_uow: Callable[[], UnitOfWork],
    *,
    source: Source,
    rows: Sequence[tuple[int, dict[str, Any]]],
    recording: Recording,
    dry_run: bool = False,
    progress: Callable[[int], None] = lambda done: None,
) -> ImportTally:
    """Import a CSV export's rows (line, values), in order: each row applied or quarantined
    (never partly written: its command runs in a savepoint of its own), 500 rows a
    transaction. A dry
    run does the same in one transaction it never commits, so later rows see earlier ones
    (a person registered above, a case opened above) exactly as a real import would."""
    tally = ImportTally({}, [])
    size = max(1, len(rows)) if dry_run else ROWS_PER_TRANSACTION
    for start in range(0, len(rows), size):
        async with new_uow() as uow:
            for line, row in rows[start : start + size]:  # each row applied in a savepoint
                await import_row(uow, tally, source=source, line=line, row=row, recording=recording)
                progress(tally.rows)
            if not dry_run:
                await uow.commit()
    return tally
