"""The table writers without a database: hostile cells, types and streaming."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta, timezone
from typing import Any

import openpyxl
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from topline.crm.enums import DealType
from topline.exporters.tables import (
    XLSX_MAX_CELL_CHARS,
    ColumnType,
    ExportColumn,
    ExportFormat,
    TableWriter,
    neutralize,
    write_table,
)

HUGE = "x" * 200_000
HOSTILE = [
    '=HYPERLINK("http://x","y")',
    "+1+1",
    "@SUM(A1)",
    "-2+3",
    "-12.5",
    "\t=1+1",
    "\r=1+1",
    "Zoë Ångström — 北京 😀",
    "line one\nline two\r\nline three",
    '"quoted", with comma',
    "#N/A",
    HUGE,
]
NEUTRALIZED = [
    '\'=HYPERLINK("http://x","y")',
    "'+1+1",
    "'@SUM(A1)",
    "'-2+3",
    "-12.5",
    "'\t=1+1",
    "'\r=1+1",
    "Zoë Ångström — 北京 😀",
    "line one\nline two\r\nline three",
    '"quoted", with comma',
    "#N/A",
    HUGE,
]
COLUMNS = [ExportColumn("id", ColumnType.INTEGER), ExportColumn("note", ColumnType.TEXT)]


def hostile_rows() -> list[tuple[int, str]]:
    return list(enumerate(HOSTILE, start=1))


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("=1+1", "'=1+1"),
        ("+49 30 1234", "'+49 30 1234"),
        ("-", "'-"),
        ("@here", "'@here"),
        ("\tx", "'\tx"),
        ("\rx", "'\rx"),
        ("-12.5", "-12.5"),
        ("+3", "+3"),
        ("-1e5", "-1e5"),
        ("-.5", "-.5"),
        ("-1_000", "'-1_000"),
        ("-inf", "'-inf"),
        ("", ""),
        ("a=b", "a=b"),
        (" =1", " =1"),
    ],
)
def test_neutralize(text: str, expected: str) -> None:
    assert neutralize(text) == expected


def read_csv(data: bytes) -> list[list[str]]:
    csv.field_size_limit(10_000_000)
    return list(csv.reader(io.StringIO(data.decode("utf-8-sig"), newline="")))


class TestCsv:
    def test_hostile_cells_come_back_as_neutralized_text(self) -> None:
        target = io.BytesIO()
        assert write_table(target, COLUMNS, hostile_rows(), format=ExportFormat.CSV) == 12

        header, *rows = read_csv(target.getvalue())
        assert header == ["id", "note"]
        assert [row[1] for row in rows] == NEUTRALIZED
        assert [row[0] for row in rows] == [str(n) for n in range(1, 13)]

    def test_starts_with_a_byte_order_mark_for_excel(self) -> None:
        target = io.BytesIO()
        write_table(target, COLUMNS, [(1, "ü")], format=ExportFormat.CSV)
        assert target.getvalue().startswith(b"\xef\xbb\xbfid,note\r\n1,\xc3\xbc")

    def test_values_are_iso_and_plain(self) -> None:
        columns = [ExportColumn(name) for name in ("at", "day", "won", "amount_cents", "type", "x")]
        moment = datetime(2025, 3, 1, 23, 30, 0, 5, tzinfo=timezone(timedelta(hours=-5)))
        target = io.BytesIO()
        row = (moment, date(2025, 3, 2), True, -250_00, DealType.RENEWAL, {"a": [1, None]})
        write_table(target, columns, [row, (None,) * 6], format=ExportFormat.CSV)

        assert read_csv(target.getvalue())[1:] == [
            ["2025-03-02T04:30:00.000005+00:00", "2025-03-02", "true", "-25000", "renewal",
             '{"a": [1, null]}'],
            ["", "", "", "", "", ""],
        ]  # fmt: skip

    def test_rows_of_the_wrong_width_are_refused(self) -> None:
        target = io.BytesIO()
        with pytest.raises(ValueError, match="a row has 1 values for 2 columns"):
            write_table(target, COLUMNS, [(1,)], format=ExportFormat.CSV)
        assert not target.closed  # the caller's stream stays the caller's to close


class TestXlsx:
    def test_hostile_cells_are_text_never_formulas(self) -> None:
        target = io.BytesIO()
        write_table(target, COLUMNS, hostile_rows(), format=ExportFormat.XLSX)

        sheet = openpyxl.load_workbook(io.BytesIO(target.getvalue())).active
        assert sheet is not None
        rows = list(sheet.iter_rows(min_row=2))
        assert [row[1].data_type for row in rows] == ["s"] * 12
        # XML turns carriage returns into line feeds; the apostrophe in front stays.
        as_xml = [text.replace("\r\n", "\n").replace("\r", "\n") for text in NEUTRALIZED]
        assert [row[1].value for row in rows[:-1]] == as_xml[:-1]
        assert [row[0].value for row in rows] == list(range(1, 13))

    def test_a_cell_past_excels_limit_is_cut_visibly(self) -> None:
        target = io.BytesIO()
        write_table(target, COLUMNS, [(1, HUGE)], format=ExportFormat.XLSX)

        sheet = openpyxl.load_workbook(io.BytesIO(target.getvalue())).active
        assert sheet is not None
        value = sheet["B2"].value
        assert isinstance(value, str)
        assert len(value) == XLSX_MAX_CELL_CHARS
        assert value.startswith("xxxx")
        assert value.endswith("[truncated: Excel cells hold at most 32,767 characters]")

    def test_native_types_in_utc(self) -> None:
        columns = [ExportColumn(n) for n in ("at", "day", "won", "big", "ctrl", "ratio", "nan")]
        moment = datetime(2025, 3, 1, 23, 30, tzinfo=timezone(timedelta(hours=-5)))
        target = io.BytesIO()
        row = (moment, date(2025, 3, 2), False, 2**62, "bell\x07", 0.25, float("nan"))
        write_table(target, columns, [row], format=ExportFormat.XLSX)

        sheet = openpyxl.load_workbook(io.BytesIO(target.getvalue())).active
        assert sheet is not None
        at, day, won, big, ctrl, ratio, nan = next(sheet.iter_rows(min_row=2))
        assert (ratio.value, ratio.data_type) == (0.25, "n")
        assert (nan.value, nan.data_type) == ("nan", "s")  # Excel has no NaN
        assert at.value == datetime(2025, 3, 2, 4, 30)
        assert at.is_date
        assert day.value == datetime(2025, 3, 2, 0, 0)
        assert day.is_date
        assert won.value is False
        assert big.value == str(2**62)  # past 2**53 a double would change it
        assert ctrl.value == "bell\ufffd"  # XML cannot hold most control characters


class TestParquet:
    def test_keeps_exact_values_and_types(self) -> None:
        columns = [
            ExportColumn("id", ColumnType.INTEGER),
            ExportColumn("note", ColumnType.TEXT),
            ExportColumn("amount_cents", ColumnType.INTEGER),
            ExportColumn("probability", ColumnType.FLOAT),
            ExportColumn("won", ColumnType.BOOLEAN),
            ExportColumn("close_date", ColumnType.DATE),
            ExportColumn("closed_at", ColumnType.DATETIME),
            ExportColumn("after", ColumnType.JSON),
            ExportColumn("type", ColumnType.TEXT),
        ]
        moment = datetime(2025, 3, 1, 23, 30, 0, 123456, tzinfo=timezone(timedelta(hours=-5)))
        rows: list[tuple[Any, ...]] = [
            (n, text, 2**62, 0.1 + 0.2, True, date(9999, 12, 31), moment, {"ü": [1, None]},
             DealType.RENEWAL)
            for n, text in hostile_rows()
        ]  # fmt: skip
        rows.append((13, None, None, None, None, None, None, None, None))
        target = io.BytesIO()
        write_table(target, columns, rows, format=ExportFormat.PARQUET, chunk_rows=5)

        parquet = pq.ParquetFile(io.BytesIO(target.getvalue()))
        assert parquet.metadata.num_row_groups == 3
        table = parquet.read()
        assert [str(field.type) for field in table.schema] == [
            "int64", "string", "int64", "double", "bool", "date32[day]",
            "timestamp[us, tz=UTC]", "extension<arrow.json>", "string",
        ]  # fmt: skip
        first = table.slice(0, 1).to_pylist()[0]
        assert first == {
            "id": 1,
            "note": '=HYPERLINK("http://x","y")',  # programs get the exact text
            "amount_cents": 2**62,
            "probability": 0.30000000000000004,
            "won": True,
            "close_date": date(9999, 12, 31),
            "closed_at": datetime(2025, 3, 2, 4, 30, 0, 123456, tzinfo=UTC),
            "after": '{"ü": [1, null]}',
            "type": "renewal",
        }
        assert table.column("note").to_pylist()[:12] == HOSTILE
        assert table.slice(12).to_pylist()[0] == dict.fromkeys(first) | {"id": 13}

    def test_an_export_without_rows_has_the_columns(self) -> None:
        target = io.BytesIO()
        assert write_table(target, COLUMNS, [], format=ExportFormat.PARQUET) == 0
        table = pq.read_table(io.BytesIO(target.getvalue()))
        assert table.num_rows == 0
        assert table.schema == pa.schema([("id", pa.int64()), ("note", pa.string())])

    def test_untyped_columns_take_the_type_of_the_first_chunk(self) -> None:
        target = io.BytesIO()
        columns = [ExportColumn("n"), ExportColumn("empty")]
        write_table(target, columns, [(1, None), (2, None)], format=ExportFormat.PARQUET)
        table = pq.read_table(io.BytesIO(target.getvalue()))
        assert table.schema == pa.schema([("n", pa.int64()), ("empty", pa.string())])


@pytest.mark.parametrize("file_format", list(ExportFormat))
def test_write_table_pulls_rows_one_chunk_at_a_time(
    monkeypatch: pytest.MonkeyPatch, file_format: ExportFormat
) -> None:
    produced = 0

    def rows() -> Iterator[tuple[int, str]]:
        nonlocal produced
        for n in range(25_000):
            produced += 1
            yield (n, f"row {n}")

    seen: list[tuple[int, int]] = []
    write_rows = TableWriter.write_rows

    def spy(self: TableWriter, chunk: list[tuple[int, str]]) -> None:
        seen.append((len(chunk), produced))
        write_rows(self, chunk)

    monkeypatch.setattr(TableWriter, "write_rows", spy)
    target = io.BytesIO()
    written = write_table(target, COLUMNS, rows(), format=file_format, chunk_rows=10_000)

    assert written == 25_000
    assert seen == [(10_000, 10_000), (10_000, 20_000), (5_000, 25_000)]
    assert target.getvalue()
