"""CSV exports as charities' files really are: a byte order mark, Windows line endings,
Latin-1 bytes, quoted commas and line breaks, blank lines; and the files we cannot read."""

import pytest

from services.organisation.adapters.csv_rows import CsvRow, CsvUnreadable, csv_rows

HEADER = "Type, Client ID ,First name,Surname,Date of birth\r\n"


def test_a_bom_windows_line_endings_quoted_commas_and_blank_lines_are_read_as_meant() -> None:
    data = (
        "\ufeff" + HEADER
        + 'client,C-1,"Jo, Jr",Bloggs,03/04/1990\r\n'
        + "\r\n"
        + ",,,,\r\n"
        + 'case,C-1,"two\r\nlines",,\r\n'
    ).encode("utf-8")  # fmt: skip
    assert list(csv_rows(data)) == [
        CsvRow(2, {"Type": "client", "Client ID": "C-1", "First name": "Jo, Jr",
                   "Surname": "Bloggs", "Date of birth": "03/04/1990"}),
        CsvRow(6, {"Type": "case", "Client ID": "C-1", "First name": "two\r\nlines",
                   "Surname": "", "Date of birth": ""}),
    ]  # fmt: skip


def test_latin_1_bytes_are_read_as_windows_writes_them() -> None:
    data = (HEADER + "client,C-2,Zoë,Ó Briain,01/02/1985\r\n").encode("cp1252")
    [row] = csv_rows(data)
    assert (row.values["First name"], row.values["Surname"]) == ("Zoë", "Ó Briain")


def test_a_short_row_leaves_the_missing_columns_out() -> None:
    [row] = csv_rows((HEADER + "client,C-3\n").encode())
    assert row.values == {"Type": "client", "Client ID": "C-3"}


@pytest.mark.parametrize(
    ("data", "says"),
    [
        (b"", "no header row"),
        (b"\r\n\r\n", "no header row"),
        (b"a,b\n1,2,3\n", "3 values for 2 columns"),
        (b'a,b\n"unclosed,2\n', "line"),
    ],
)
def test_a_file_we_cannot_read_says_why_and_where(data: bytes, says: str) -> None:
    with pytest.raises(CsvUnreadable) as refused:
        list(csv_rows(data))
    assert says in str(refused.value)
