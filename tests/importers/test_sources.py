"""Reading files to import: encodings, delimiters, quoting, XLSX, and every way a file can be
unreadable, each refused with a message that names the file and what is wrong."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from pathlib import Path

import pytest
from openpyxl import Workbook

from topline.importers.sources import MAX_CELL_CHARS, SourceError, open_table


def rows(path: Path) -> list[tuple[int, list[object]]]:
    with open_table(path) as table:
        return list(table.rows())


@pytest.mark.parametrize(
    ("encoding", "text"),
    [
        ("utf-8", "name,city\nZoë,Zürich\n"),
        ("utf-8-sig", "name,city\nZoë,Zürich\n"),
        ("utf-16", "name,city\nZoë,Zürich\n"),
        ("cp1252", "name,city\nZoë,Zürich\nRené,Besançon\nFrançois,Gießen\n"),
    ],
)
def test_text_encodings_are_detected(tmp_path: Path, encoding: str, text: str) -> None:
    path = tmp_path / "accounts.csv"
    path.write_bytes(text.encode(encoding))

    with open_table(path) as table:
        assert table.header == ["name", "city"]
        assert next(iter(table.rows())) == (2, ["Zoë", "Zürich"])


@pytest.mark.parametrize("delimiter", [",", ";", "\t", "|"])
def test_the_delimiter_is_sniffed(tmp_path: Path, delimiter: str) -> None:
    path = tmp_path / "deals.csv"
    lines = [["name", "amount", "close date"], ["Acme, Inc.", "1.000,50", "2025-03-31"]]
    quoted = [[f'"{cell}"' if delimiter in cell else cell for cell in row] for row in lines]
    path.write_text("\n".join(delimiter.join(row) for row in quoted) + "\n")

    with open_table(path) as table:
        assert table.delimiter == delimiter
        assert table.header == ["name", "amount", "close date"]
        assert list(table.rows()) == [(2, ["Acme, Inc.", "1.000,50", "2025-03-31"])]


def test_quotes_and_line_breaks_inside_cells_stay_in_one_row(tmp_path: Path) -> None:
    path = tmp_path / "notes.csv"
    path.write_text('name,note\n"Acme","said ""no""\nthen yes"\nGlobex,plain\n')

    assert rows(path) == [(2, ["Acme", 'said "no"\nthen yes']), (3, ["Globex", "plain"])]


def test_blank_rows_are_skipped_and_rows_keep_their_numbers(tmp_path: Path) -> None:
    path = tmp_path / "accounts.csv"
    path.write_text("name\nAcme\n\n , \nGlobex\n")

    assert rows(path) == [(2, ["Acme"]), (5, ["Globex"])]


def test_a_hundred_columns(tmp_path: Path) -> None:
    path = tmp_path / "wide.csv"
    header = [f"c{i}" for i in range(100)]
    path.write_text(",".join(header) + "\n" + ",".join(str(i) for i in range(100)) + "\n")

    with open_table(path) as table:
        assert table.header == header
        assert next(iter(table.rows()))[1][99] == "99"


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b"", "the file is empty"),
        (b"\n\n  \n", "the file is empty"),
        (b"name,,amount\nx,1,2\n", "column 2 has no name"),
        (b"name,Amount,amount\nx,1,2\n", "names 'amount' twice (columns 2 and 3)"),
        (b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR", "binary file"),
    ],
)
def test_unreadable_files_are_refused_naming_the_file(
    tmp_path: Path, content: bytes, message: str
) -> None:
    path = tmp_path / "deals.csv"
    path.write_bytes(content)

    with pytest.raises(SourceError, match=r"deals\.csv") as refused:
        open_table(path)
    assert message in str(refused.value)


def test_a_huge_cell_is_refused_with_its_row(tmp_path: Path) -> None:
    path = tmp_path / "notes.csv"
    path.write_text("name,note\nok,short\nbig," + "x" * (MAX_CELL_CHARS + 1) + "\n")

    with open_table(path) as table, pytest.raises(SourceError, match="row 3: a cell longer"):
        list(table.rows())


def test_text_that_breaks_the_encoding_later_is_refused_with_its_row(tmp_path: Path) -> None:
    path = tmp_path / "accounts.csv"
    # The first megabyte is plain ASCII, so it looks like UTF-8; row 3 is not.
    path.write_bytes(b"name\n" + b"a" * (1 << 20) + b"\n\xff\xfe bad\n")

    with open_table(path) as table, pytest.raises(SourceError, match="not valid text"):
        list(table.rows())


def test_a_missing_file_and_old_excel_files_are_named(tmp_path: Path) -> None:
    with pytest.raises(SourceError, match="no such file"):
        open_table(tmp_path / "nope.csv")
    old = tmp_path / "deals.xls"
    old.write_bytes(b"\xd0\xcf\x11\xe0")
    with pytest.raises(SourceError, match=r"save it as \.xlsx"):
        open_table(old)


def test_xlsx_sheets_stream_typed_cells(tmp_path: Path) -> None:
    workbook = Workbook()
    sheet = workbook.active
    assert sheet is not None
    sheet.append([None])  # a blank first row: the header is the first non-empty row
    sheet.append(["name", "amount", "created"])
    sheet.append(["Acme", 1200.5, datetime(2025, 3, 31, 9, 30)])
    sheet.append([None, None, None])
    sheet.append(["Globex", 7, None])
    path = tmp_path / "deals.xlsx"
    workbook.save(path)

    with open_table(path) as table:
        assert table.kind == "xlsx"
        assert table.header == ["name", "amount", "created"]
        assert list(table.rows()) == [
            (3, ["Acme", 1200.5, datetime(2025, 3, 31, 9, 30)]),
            (5, ["Globex", 7, None]),
        ]


def test_a_broken_xlsx_is_refused(tmp_path: Path, write_bytes: Callable[..., Path]) -> None:
    path = write_bytes("deals.xlsx", b"PK\x03\x04 not really a zip")

    with pytest.raises(SourceError, match=r"not a readable \.xlsx"):
        open_table(path)


@pytest.fixture
def write_bytes(tmp_path: Path) -> Callable[[str, bytes], Path]:
    def make(name: str, content: bytes) -> Path:
        path = tmp_path / name
        path.write_bytes(content)
        return path

    return make
