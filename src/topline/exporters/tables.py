"""Streaming writers for tabular exports: CSV, XLSX and Parquet, one chunk of rows at a time.

Any list or report goes through these writers, so every export is safe against formula
injection the same way: text cells that a spreadsheet would run as a formula (starting with
`=`, `+`, `-`, `@`, tab or carriage return, unless they are plain numbers such as `-12.5`) get a
leading apostrophe — the OWASP "CSV injection" guidance — and XLSX text cells are always
written as text, never as formulas. Parquet is for programs, not spreadsheets: it keeps values
exact.

Values keep their meaning across formats: money stays integer cents (the column name says so,
e.g. `amount_cents`), dates and datetimes are ISO 8601 text in CSV, native cells in XLSX (times
in UTC, as Excel has no time zones) and native `date32` / `timestamp[us, UTC]` in Parquet.
"""

from __future__ import annotations

import csv
import io
import json
import math
import re
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, date, datetime
from decimal import Decimal
from enum import Enum, StrEnum
from itertools import islice
from pathlib import Path
from typing import TYPE_CHECKING, Any, BinaryIO

import pyarrow as pa
import pyarrow.parquet as pq
from openpyxl import Workbook
from openpyxl.cell import WriteOnlyCell

if TYPE_CHECKING:
    from openpyxl.cell.cell import Cell
    from openpyxl.worksheet._write_only import WriteOnlyWorksheet

CHUNK_ROWS = 10_000
# Excel's limits: rows per sheet (the header takes one) and characters per cell.
XLSX_MAX_ROWS = 1_048_576
XLSX_MAX_CELL_CHARS = 32_767
XLSX_TRUNCATED = "… [truncated: Excel cells hold at most 32,767 characters]"
# Excel stores numbers as doubles; integers past 2**53 would silently change, so they are text.
XLSX_MAX_EXACT_INTEGER = 2**53
_FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")
_PLAIN_NUMBER = re.compile(r"[+-]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d+)?")
# Control characters that XLSX (XML 1.0) cannot hold; tab, newline and carriage return can.
_XLSX_ILLEGAL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f]")

Row = Sequence[Any]


class ExportFormat(StrEnum):
    """A file format that lists, reports and tables export to."""

    CSV = "csv"
    XLSX = "xlsx"
    PARQUET = "parquet"

    @property
    def media_type(self) -> str:
        """The MIME type to serve a file of this format with."""
        return _MEDIA_TYPES[self]


_MEDIA_TYPES = {
    ExportFormat.CSV: "text/csv; charset=utf-8",
    ExportFormat.XLSX: "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
    ExportFormat.PARQUET: "application/vnd.apache.parquet",
}


class ColumnType(StrEnum):
    """What an exported column holds; decides the Parquet type and how cells are written.

    `JSON` values are either JSON text (a `str`, written as it is) or Python objects, which are
    encoded; a JSON document that is a bare string must therefore be passed already encoded.
    """

    INTEGER = "integer"
    FLOAT = "float"
    BOOLEAN = "boolean"
    TEXT = "text"
    DATE = "date"
    DATETIME = "datetime"
    JSON = "json"


_ARROW_TYPES: dict[ColumnType, Any] = {
    ColumnType.INTEGER: pa.int64(),
    ColumnType.FLOAT: pa.float64(),
    ColumnType.BOOLEAN: pa.bool_(),
    ColumnType.TEXT: pa.string(),
    ColumnType.DATE: pa.date32(),
    ColumnType.DATETIME: pa.timestamp("us", tz="UTC"),
    ColumnType.JSON: pa.json_(pa.string()),
}


def arrow_type(column_type: ColumnType) -> Any:
    """The Arrow (and so Parquet) type a column of `column_type` is written as."""
    return _ARROW_TYPES[column_type]


@dataclass(frozen=True)
class ExportColumn:
    """One column of an export: its header and, where known, its type.

    Without a type, CSV and XLSX write each value by its Python type and Parquet infers the
    column's type from the first chunk of rows.
    """

    name: str
    type: ColumnType | None = None


def neutralize(text: str) -> str:
    """Text that a spreadsheet shows as text instead of running it as a formula.

    OWASP's CSV-injection rule: a cell starting with `=`, `+`, `-`, `@`, tab or carriage return
    gets a leading apostrophe, unless it is a plain number (`-12.5` stays a number).
    """
    if text.startswith(_FORMULA_STARTS) and not _PLAIN_NUMBER.fullmatch(text):
        return "'" + text
    return text


class TableWriter:
    """Writes rows to one destination, a chunk at a time; `close()` finishes the file."""

    def __init__(self, columns: Sequence[ExportColumn]) -> None:
        self.columns = tuple(columns)
        self.rows_written = 0

    def write_rows(self, rows: Sequence[Row]) -> None:
        """Append `rows` (each a sequence of values in column order)."""
        for row in rows:
            if len(row) != len(self.columns):
                raise ValueError(
                    f"a row has {len(row)} values for {len(self.columns)} columns: {row!r}"
                )
        self._write(rows)
        self.rows_written += len(rows)

    def _write(self, rows: Sequence[Row]) -> None:
        raise NotImplementedError

    def close(self) -> None:
        """Finish the file (write the header when there were no rows, the footer, …)."""

    def discard(self) -> None:
        """Give up on the file after an error, leaving the destination open to its owner."""


class CsvTableWriter(TableWriter):
    """UTF-8 CSV with a byte-order mark, so that Excel shows accents and other scripts right."""

    def __init__(self, destination: BinaryIO, columns: Sequence[ExportColumn]) -> None:
        super().__init__(columns)
        self._text = io.TextIOWrapper(destination, encoding="utf-8-sig", newline="")
        self._csv = csv.writer(self._text)
        self._csv.writerow([neutralize(column.name) for column in self.columns])

    def _write(self, rows: Sequence[Row]) -> None:
        self._csv.writerows([csv_cell(value) for value in row] for row in rows)

    def close(self) -> None:
        self._text.flush()
        self._text.detach()  # the caller owns the destination and closes it

    def discard(self) -> None:
        self._text.detach()  # else the wrapper would close the destination when collected


def csv_cell(value: Any) -> str:
    """One value as CSV text: ISO dates, `true`/`false`, JSON for structures, neutralized."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, Enum):
        value = value.value
    if isinstance(value, datetime) and value.tzinfo is not None:
        return value.astimezone(UTC).isoformat()
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, dict | list):
        return neutralize(json.dumps(value, ensure_ascii=False))
    return neutralize(str(value))


class XlsxTableWriter(TableWriter):
    """An XLSX workbook written with openpyxl's write-only (streaming) worksheets.

    A sheet holds at most 1,048,575 rows under its header; further rows continue on new sheets
    ("Export 2", …), each with the header again.
    """

    def __init__(
        self, destination: BinaryIO, columns: Sequence[ExportColumn], *, sheet_title: str
    ) -> None:
        super().__init__(columns)
        self._destination = destination
        self._title = sheet_title[:31]  # Excel's limit on sheet names
        self._workbook = Workbook(write_only=True)
        self._sheets = 0
        self._sheet = self._new_sheet()
        self._sheet_rows = 1

    def _new_sheet(self) -> WriteOnlyWorksheet:
        self._sheets += 1
        title = self._title if self._sheets == 1 else f"{self._title[:26]} {self._sheets}"
        sheet: WriteOnlyWorksheet = self._workbook.create_sheet(title)
        sheet.append([self._text_cell(sheet, neutralize(c.name)) for c in self.columns])
        return sheet

    def _write(self, rows: Sequence[Row]) -> None:
        for row in rows:
            if self._sheet_rows >= XLSX_MAX_ROWS:
                self._sheet = self._new_sheet()
                self._sheet_rows = 1
            self._sheet.append([self._cell(value) for value in row])
            self._sheet_rows += 1

    def _cell(self, value: Any) -> Any:
        if isinstance(value, float) and not math.isfinite(value):
            return self._text_cell(self._sheet, str(value))  # Excel has no NaN or infinity
        if value is None or isinstance(value, bool | float | Decimal):
            return value
        if isinstance(value, int):
            return value if abs(value) <= XLSX_MAX_EXACT_INTEGER else str(value)
        if isinstance(value, datetime):
            # Excel has no time zones: aware times are written as their UTC wall-clock time.
            return value.astimezone(UTC).replace(tzinfo=None) if value.tzinfo else value
        if isinstance(value, date):
            return value
        return self._text_cell(self._sheet, csv_cell(value))

    @staticmethod
    def _text_cell(sheet: WriteOnlyWorksheet, text: str) -> Cell:
        text = _XLSX_ILLEGAL.sub("\ufffd", text)
        if len(text) > XLSX_MAX_CELL_CHARS:
            text = text[: XLSX_MAX_CELL_CHARS - len(XLSX_TRUNCATED)] + XLSX_TRUNCATED
        cell = WriteOnlyCell(sheet, value=text)
        # openpyxl makes any text starting with "=" a formula and "#N/A" & co. error cells;
        # an exported value is always plain text.
        cell.data_type = "s"
        return cell

    def close(self) -> None:
        self._workbook.save(self._destination)


class ParquetTableWriter(TableWriter):
    """A Parquet file (zstd-compressed) with one row group per chunk of rows."""

    def __init__(self, destination: BinaryIO, columns: Sequence[ExportColumn]) -> None:
        super().__init__(columns)
        self._destination = destination
        self._writer: Any = None
        self._types: list[Any] = [
            None if column.type is None else _ARROW_TYPES[column.type] for column in self.columns
        ]

    def _write(self, rows: Sequence[Row]) -> None:
        if not rows:
            return
        by_column = list(zip(*rows, strict=True))
        arrays = [self._array(index, values) for index, values in enumerate(by_column)]
        self._open()
        self._writer.write_table(pa.Table.from_arrays(arrays, schema=self._schema()))

    def _array(self, index: int, values: Sequence[Any]) -> Any:
        column_type = self.columns[index].type
        arrow_type = self._types[index]
        if arrow_type is None:  # the first chunk decides an untyped column's type
            inferred = pa.array([_arrow_value(value, column_type) for value in values]).type
            arrow_type = pa.string() if pa.types.is_null(inferred) else inferred
            self._types[index] = arrow_type
        try:  # Arrow converts plain values (and str enums) in C, far faster than a Python loop
            return pa.array(values, type=arrow_type)
        except (pa.ArrowInvalid, pa.ArrowTypeError):
            return pa.array([_arrow_value(value, column_type) for value in values], type=arrow_type)

    def _schema(self) -> Any:
        return pa.schema(
            [
                pa.field(column.name, self._types[index] or pa.string())
                for index, column in enumerate(self.columns)
            ]
        )

    def _open(self) -> None:
        if self._writer is None:
            self._writer = pq.ParquetWriter(self._destination, self._schema(), compression="zstd")

    def close(self) -> None:
        self._open()  # no rows at all still makes a valid, empty file with the header
        self._writer.close()


def _arrow_value(value: Any, column_type: ColumnType | None) -> Any:
    """A value Arrow converts to the column's type: enums by value, JSON encoded."""
    if value is None:
        return None
    if isinstance(value, Enum):
        return value.value
    if column_type is ColumnType.JSON and not isinstance(value, str):
        return json.dumps(value, ensure_ascii=False)
    if column_type is ColumnType.TEXT and not isinstance(value, str):
        return str(value)
    return value


def open_table_writer(
    destination: BinaryIO,
    columns: Sequence[ExportColumn],
    *,
    format: ExportFormat,
    sheet_title: str = "Export",
) -> TableWriter:
    """A writer of `format` into the binary stream `destination` (which the caller closes)."""
    if format is ExportFormat.CSV:
        return CsvTableWriter(destination, columns)
    if format is ExportFormat.XLSX:
        return XlsxTableWriter(destination, columns, sheet_title=sheet_title)
    return ParquetTableWriter(destination, columns)


@contextmanager
def table_writer(
    destination: BinaryIO,
    columns: Sequence[ExportColumn],
    *,
    format: ExportFormat,
    sheet_title: str = "Export",
) -> Iterator[TableWriter]:
    """`open_table_writer` as a block; the file is finished when the block ends cleanly."""
    writer = open_table_writer(destination, columns, format=format, sheet_title=sheet_title)
    try:
        yield writer
    except BaseException:
        writer.discard()
        raise
    writer.close()


def write_table(
    destination: Path | BinaryIO,
    columns: Sequence[ExportColumn],
    rows: Iterable[Row],
    *,
    format: ExportFormat,
    chunk_rows: int = CHUNK_ROWS,
    sheet_title: str = "Export",
) -> int:
    """Write `rows` to a file or binary stream, `chunk_rows` at a time; return the row count.

    `rows` may be a generator (a database cursor, say): only one chunk is held in memory.
    """
    if isinstance(destination, Path):
        with destination.open("wb") as handle:
            return write_table(
                handle, columns, rows, format=format, chunk_rows=chunk_rows, sheet_title=sheet_title
            )
    with table_writer(destination, columns, format=format, sheet_title=sheet_title) as writer:
        for chunk in chunked(rows, chunk_rows):
            writer.write_rows(chunk)
    return writer.rows_written


def chunked(rows: Iterable[Row], size: int) -> Iterator[list[Row]]:
    """Consecutive lists of at most `size` rows."""
    iterator = iter(rows)
    while chunk := list(islice(iterator, size)):
        yield chunk
