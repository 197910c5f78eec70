"""Lists as files: a list's query, in the caller's scope, streamed as CSV, XLSX or Parquet.

Every `/export` endpoint answers through `export_response`, so every export reads plain table
rows (never ORM objects), holds at most one chunk of them in memory, spills a big file to disk
and neutralizes spreadsheet formulas the same way (see `topline.exporters.tables`).
"""

from __future__ import annotations

import tempfile
import types
import typing
from collections.abc import Iterable, Iterator, Sequence
from datetime import date, datetime
from enum import Enum
from typing import IO, Any

from fastapi.responses import StreamingResponse
from pydantic import BaseModel
from sqlalchemy import Select
from sqlalchemy.orm import Session

from topline.exporters.tables import ColumnType, ExportColumn, ExportFormat, write_table
from topline.web.api.common import errors

# A file of up to 16 MB is built in memory, a bigger one in a temporary file.
SPOOL_MAX_MEMORY = 16 << 20
# Rows fetched from the database at a time.
FETCH_ROWS = 5_000
_READ_CHUNK = 1 << 16


def export_columns(model: type[BaseModel]) -> list[ExportColumn]:
    """The columns of an export of `model` (a `…Read` schema): its fields, typed by annotation.

    Integers (ids, cents, counts) stay integers, dates and datetimes keep their type, enums and
    strings are text; so a list's export shows exactly the fields the list shows.
    """
    return [
        ExportColumn(name, _column_type(field.annotation))
        for name, field in model.model_fields.items()
    ]


def _column_type(annotation: Any) -> ColumnType:
    """The export type of a field annotated `annotation` (optional or not)."""
    if isinstance(annotation, types.UnionType) or typing.get_origin(annotation) is typing.Union:
        kinds = [arg for arg in typing.get_args(annotation) if arg is not types.NoneType]
        if len(kinds) != 1:
            return ColumnType.TEXT  # a value of several kinds is written as its text
        annotation = kinds[0]
    if not isinstance(annotation, type):
        return ColumnType.JSON if typing.get_origin(annotation) in (dict, list) else ColumnType.TEXT
    # Order matters: bool is an int, datetime a date, and str enums are both str and Enum.
    for python_type, column_type in (
        (bool, ColumnType.BOOLEAN),
        (Enum, ColumnType.TEXT),
        (int, ColumnType.INTEGER),
        (float, ColumnType.FLOAT),
        (datetime, ColumnType.DATETIME),
        (date, ColumnType.DATE),
        (dict, ColumnType.JSON),
        (list, ColumnType.JSON),
    ):
        if issubclass(annotation, python_type):
            return column_type
    return ColumnType.TEXT


def export_responses(noun: str) -> dict[int | str, dict[str, Any]]:
    """The OpenAPI responses of an export of `noun`: the file in each format, or an error."""
    return {
        200: {
            "description": f"The {noun} as a file in the requested format.",
            "content": {fmt.media_type.split(";")[0]: {} for fmt in ExportFormat},
        },
        **errors(404),
    }


def export_response(
    session: Session,
    stmt: Select[Any],
    columns: list[ExportColumn],
    format: ExportFormat,
    name: str,
) -> StreamingResponse:
    """`stmt`'s rows in id order as a `name.<format>` attachment with the given columns.

    `stmt` selects a table's columns (`select(Model.__table__)`, filtered and scoped); each
    export column names one of them. The file is written whole before the answer starts, so a
    failure is an error status, never a truncated file.
    """
    names = [column.name for column in columns]
    ordered = stmt.order_by(None).order_by(stmt.selected_columns.id)
    rows = (
        [row[column] for column in names]
        for row in session.execute(ordered.execution_options(yield_per=FETCH_ROWS)).mappings()
    )
    return rows_response(columns, rows, format, name)


def rows_response(
    columns: list[ExportColumn], rows: Iterable[Sequence[Any]], format: ExportFormat, name: str
) -> StreamingResponse:
    """`rows` (values in the columns' order) as a `name.<format>` attachment."""
    spool = tempfile.SpooledTemporaryFile(max_size=SPOOL_MAX_MEMORY)  # noqa: SIM115  (closed by _chunks)
    try:
        write_table(spool, columns, rows, format=format, sheet_title=name.capitalize())  # type: ignore[arg-type]
    except BaseException:
        spool.close()
        raise
    spool.seek(0)
    return StreamingResponse(
        _chunks(spool),
        media_type=format.media_type,
        headers={"Content-Disposition": f'attachment; filename="{name}.{format.value}"'},
    )


def _chunks(spool: IO[bytes]) -> Iterator[bytes]:
    """The spooled file piece by piece, closed (and deleted) once sent or abandoned."""
    try:
        while chunk := spool.read(_READ_CHUNK):
            yield chunk
    finally:
        spool.close()
