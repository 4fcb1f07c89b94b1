"""The rows of a CSV export as real charities' files are: UTF-8 with or without a byte order
mark, or Windows' Latin-1 (cp1252) when that is what the bytes are; Windows line endings;
quoted fields holding commas, quotes and line breaks; blank lines (skipped).

Each row is a flat dict by the header row's names (surrounding spaces trimmed), with its
line number in the file, so a refusal can say which row.
"""

import csv
import io
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class CsvRow:
    """One row of the file: the line it ends on (1 is the header; a quoted value may span
    lines) and its values by column."""

    line: int
    values: dict[str, Any]


class CsvUnreadable(ValueError):
    """The file is not a CSV export we can read (no header row, or a malformed row)."""


def decoded(data: bytes) -> str:
    """Return a file's text: UTF-8 (a byte order mark dropped), else Windows' Latin-1."""
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError:
        return data.decode("cp1252", errors="replace")


def csv_rows(data: bytes) -> Iterator[CsvRow]:
    """Yield the file's rows after the header, blank ones skipped (raises CsvUnreadable)."""
    reader = csv.reader(io.StringIO(decoded(data), newline=""), strict=True)
    try:
        header = next(reader, None)
        if not header or not any(name.strip() for name in header):
            raise CsvUnreadable("the file has no header row naming its columns")
        names = [name.strip() for name in header]
        for values in reader:
            if not any(value.strip() for value in values):
                continue  # a blank line, or a row of empty cells
            if len(values) > len(names):
                raise CsvUnreadable(
                    f"line {reader.line_num}: {len(values)} values for {len(names)} columns"
                )
            yield CsvRow(reader.line_num, dict(zip(names, values, strict=False)))
    except csv.Error as error:
        raise CsvUnreadable(f"line {reader.line_num}: {error}") from error
