"""Tabular files to import, read row by row: CSV in any delimiter and text encoding a sniffer can
tell, and XLSX (the first sheet). Nothing here holds a whole file in memory.

Rows are numbered as a spreadsheet shows them: the header is row 1, the first record row 2 (a
CSV record with line breaks inside quotes is still one row). Completely empty rows are skipped.
"""

from __future__ import annotations

import codecs
import csv
import io
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal
from pathlib import Path

from charset_normalizer import from_bytes

from topline.errors import InvalidInput

Cell = str | int | float | bool | date | datetime | None

SAMPLE_BYTES = 1 << 20
DELIMITERS = (",", ";", "\t", "|")
# A CRM cell is a name, an amount or at most a long note; anything bigger is not data.
MAX_CELL_CHARS = 1 << 20
SNIFF_ROWS = 200

_BOMS = (
    (codecs.BOM_UTF8, "utf-8-sig"),
    (codecs.BOM_UTF32_LE, "utf-32"),
    (codecs.BOM_UTF32_BE, "utf-32"),
    (codecs.BOM_UTF16_LE, "utf-16"),
    (codecs.BOM_UTF16_BE, "utf-16"),
)


class SourceError(InvalidInput):
    """A file that cannot be read as a table; the message names the file and the place."""

    code = "unreadable_file"


@dataclass
class Table:
    """One tabular file: its header and a stream of its rows."""

    path: Path
    header: list[str]
    kind: str  # "csv" or "xlsx"
    encoding: str | None = None
    delimiter: str | None = None
    _rows: Iterator[tuple[int, list[Cell]]] = field(default_factory=lambda: iter(()), repr=False)
    _close: Callable[[], None] | None = field(default=None, repr=False)

    @property
    def name(self) -> str:
        return self.path.name

    def rows(self) -> Iterator[tuple[int, list[Cell]]]:
        """(row number, cells) for each non-empty row after the header, padded or cut to
        nothing: a row with a different number of cells than the header comes as it is."""
        return self._rows

    def close(self) -> None:
        if self._close is not None:
            self._close()
            self._close = None

    def __enter__(self) -> Table:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()


def open_table(path: Path | str) -> Table:
    """Open `path` as a table by its extension (.xlsx, else CSV), checking its header."""
    path = Path(path)
    if not path.is_file():
        raise SourceError(f"{path}: no such file")
    if path.suffix.lower() in {".xlsx", ".xlsm"}:
        return _open_xlsx(path)
    if path.suffix.lower() == ".xls":
        raise SourceError(f"{path.name}: the old .xls format is not supported; save it as .xlsx")
    return _open_csv(path)


# --- CSV -------------------------------------------------------------------------------------


def detect_encoding(sample: bytes, name: str) -> str:
    """The text encoding of a file from its first bytes: a byte-order mark, else UTF-8 when the
    sample decodes as UTF-8, else what charset-normalizer finds; `SourceError` when none fits."""
    for bom, encoding in _BOMS:
        if sample.startswith(bom):
            return encoding
    if b"\x00" in sample:
        raise SourceError(
            f"{name}: this looks like a binary file, not CSV text (it contains NUL bytes)"
        )
    try:
        # A multi-byte character may be cut at the end of the sample.
        codecs.getincrementaldecoder("utf-8")().decode(sample, final=False)
        return "utf-8"
    except UnicodeDecodeError:
        pass
    best = from_bytes(sample).best()
    if best is None:
        raise SourceError(
            f"{name}: cannot tell the text encoding; save the file as UTF-8 and try again"
        )
    return str(best.encoding)


def sniff_delimiter(text: str) -> str:
    """The delimiter among , ; tab | that splits the sample's header into the most columns
    while the rows agree with the header; a comma when nothing splits it."""
    best, best_score = ",", (0.0, 1)
    lines = text.splitlines(keepends=True)
    if len(lines) > 1 and not text.endswith(("\n", "\r")):
        lines = lines[:-1]  # the sample may end inside a row
    sample = "".join(lines)
    for delimiter in DELIMITERS:
        try:
            rows = list(_limited(csv.reader(io.StringIO(sample), delimiter=delimiter)))
        except csv.Error:
            continue
        rows = [row for row in rows if any(cell.strip() for cell in row)]
        if not rows or len(rows[0]) < 2:
            continue
        width = len(rows[0])
        agreeing = sum(1 for row in rows[1:] if len(row) == width)
        share = agreeing / (len(rows) - 1) if len(rows) > 1 else 1.0
        score = (share, width)
        if score > best_score:
            best, best_score = delimiter, score
    return best


def _limited(reader: Iterator[list[str]]) -> Iterator[list[str]]:
    for count, row in enumerate(reader):
        if count >= SNIFF_ROWS:
            return
        yield row


def _open_csv(path: Path) -> Table:
    with path.open("rb") as raw:
        sample = raw.read(SAMPLE_BYTES)
    if not sample.strip():
        raise SourceError(f"{path.name}: the file is empty")
    encoding = detect_encoding(sample, path.name)
    sample_text = sample.decode(encoding, errors="ignore")
    delimiter = sniff_delimiter(sample_text)
    handle = path.open(encoding=encoding, newline="")
    try:
        csv.field_size_limit(MAX_CELL_CHARS)
        reader = csv.reader(handle, delimiter=delimiter, strict=False)
        records = _csv_records(reader, path.name)
        try:
            _, header_cells = next(records)
        except StopIteration:
            raise SourceError(f"{path.name}: the file is empty") from None
        header = check_header([str(cell) for cell in header_cells], path.name)
    except BaseException:
        handle.close()
        raise
    return Table(
        path=path,
        header=header,
        kind="csv",
        encoding=encoding,
        delimiter=delimiter,
        _rows=records,
        _close=handle.close,
    )


def _csv_records(reader: Iterator[list[str]], name: str) -> Iterator[tuple[int, list[Cell]]]:
    number = 0
    try:
        for row in reader:  # a new list each time: the caller may change it
            number += 1
            if (row and row[0].strip()) or any(cell.strip() for cell in row):
                yield number, row  # type: ignore[misc]
    except UnicodeDecodeError as exc:
        raise SourceError(
            f"{name}: row {number + 1} is not valid text in the file's encoding ({exc.reason})"
        ) from None
    except csv.Error as exc:
        limit = f"{MAX_CELL_CHARS:,}"
        reason = f"a cell longer than {limit} characters" if "limit" in str(exc) else exc
        raise SourceError(f"{name}: row {number + 1}: {reason}") from None


def check_header(cells: list[str], name: str) -> list[str]:
    """The header with whitespace and byte-order marks stripped; refuses blank or repeated
    names, which no mapping could tell apart."""
    header = [cell.replace("\ufeff", "").strip() for cell in cells]
    while header and not header[-1]:
        header.pop()  # trailing delimiters
    if not header:
        raise SourceError(f"{name}: the first row must name the columns; it is empty")
    seen: dict[str, int] = {}
    for position, column in enumerate(header, start=1):
        if not column:
            raise SourceError(f"{name}: column {position} has no name in the header row")
        key = column.casefold()
        if key in seen:
            raise SourceError(
                f"{name}: the header names {column!r} twice (columns {seen[key]} and "
                f"{position}); rename one"
            )
        seen[key] = position
    return header


# --- XLSX ------------------------------------------------------------------------------------


def _open_xlsx(path: Path) -> Table:
    from openpyxl import load_workbook  # imported on use: only XLSX imports need it

    try:
        workbook = load_workbook(path, read_only=True, data_only=True)
    except Exception as exc:  # openpyxl raises zipfile, KeyError and its own errors
        raise SourceError(f"{path.name}: not a readable .xlsx workbook ({exc})") from None
    sheet = workbook.worksheets[0]
    values = sheet.iter_rows(values_only=True)
    number = 0
    header_cells: list[Cell] | None = None
    for row in values:
        number += 1
        if any(cell not in (None, "") for cell in row):
            header_cells = [_xlsx_cell(cell) for cell in row]
            break
    if header_cells is None:
        workbook.close()
        raise SourceError(f"{path.name}: the first sheet is empty")
    header = check_header(["" if c is None else str(c) for c in header_cells], path.name)

    def rows() -> Iterator[tuple[int, list[Cell]]]:
        index = number
        try:
            for row in values:
                index += 1
                cells = [_xlsx_cell(cell) for cell in row]
                if all(c is None or (isinstance(c, str) and not c.strip()) for c in cells):
                    continue
                while len(cells) > len(header) and cells[-1] is None:
                    cells.pop()
                yield index, cells
        finally:
            workbook.close()

    return Table(path=path, header=header, kind="xlsx", _rows=rows(), _close=workbook.close)


def _xlsx_cell(value: object) -> Cell:
    """A sheet's value as a cell: numbers, text, dates and yes/no as they are, the rest (times,
    durations, rich text) as text."""
    if value is None or isinstance(value, str | int | float | bool | date | datetime):
        return value
    if isinstance(value, Decimal):
        return float(value)
    return str(value)
