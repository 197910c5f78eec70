"""Bulk writes for imports through each driver's fast path: `executemany` on sqlite3 and
`COPY … FROM STDIN` on PostgreSQL (plain SQLAlchemy executemany measured 3–6× slower).

New rows get their ids here, counting up from the table's largest id: the import holds the
database's write lock (SQLite) or locks the tables it writes (PostgreSQL) for its whole
transaction, so nobody else takes those ids meanwhile; PostgreSQL's sequences are moved past
them at the end.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import UTC, date, datetime
from enum import Enum
from functools import lru_cache
from typing import Any

from sqlalchemy import Connection, func, select
from sqlalchemy.sql.schema import Table

CHUNK_ROWS = 20_000


class BulkWriter:
    """Buffers rows per table and writes them in chunks on one connection.

    (Writing chunks from a second thread while the first reads on was measured slower: the
    driver gives up the interpreter lock for each row it steps and waits to get it back.)
    """

    def __init__(self, connection: Connection, tables: Sequence[Table]) -> None:
        self.connection = connection
        self.postgres = connection.dialect.name == "postgresql"
        self.driver: Any = connection.connection.driver_connection
        self._next_id: dict[str, int] = {}
        self._buffers: dict[str, list[tuple[Any, ...]]] = {}
        self._columns: dict[str, tuple[str, ...]] = {}
        self._converters: dict[str, list[Callable[[Any], Any] | None]] = {}
        self.tables = {table.name: table for table in tables}
        if self.postgres:
            names = ", ".join(table.name for table in tables)
            connection.exec_driver_sql(f"LOCK TABLE {names} IN SHARE ROW EXCLUSIVE MODE")
        for table in tables:
            largest = connection.scalar(select(func.max(table.c.id)))
            self._next_id[table.name] = (largest or 0) + 1
        self.rows_written = 0

    def new_id(self, table: str) -> int:
        """The id the next row of `table` gets."""
        value = self._next_id[table]
        self._next_id[table] = value + 1
        return value

    def add(self, table: str, row: dict[str, Any]) -> None:
        """Queue one row (with its `id`); rows of one table must name the same columns."""
        columns = self._columns.get(table)
        if columns is None:
            columns = self._columns[table] = tuple(row)
            self._converters[table] = [
                _converter(self.tables[table].c[name].type.python_type, self.postgres)
                for name in columns
            ]
        buffer = self._buffers.setdefault(table, [])
        buffer.append(tuple(row.values()) if tuple(row) == columns else
                      tuple(row[name] for name in columns))  # fmt: skip
        if len(buffer) >= CHUNK_ROWS:
            self.flush()  # every table, parents first: rows may point at queued rows

    def flush(self) -> None:
        """Write everything buffered, tables in the order given (parents before the rows that
        point at them)."""
        for table in self.tables:
            rows = self._buffers.pop(table, None)
            if rows:
                self._write(table, rows)

    def finish(self) -> None:
        """Write everything, then (PostgreSQL) move each written table's id sequence past its
        rows."""
        self.flush()
        if not self.postgres:
            return
        for name in self._columns:
            self.connection.exec_driver_sql(
                f"SELECT setval(pg_get_serial_sequence('{name}', 'id'), "
                f"COALESCE((SELECT max(id) FROM {name}), 0) + 1, false)"
            )

    def _write(self, table: str, rows: list[tuple[Any, ...]]) -> None:
        columns = self._columns[table]
        names = ", ".join(f'"{name}"' for name in columns)
        conversions = [(i, c) for i, c in enumerate(self._converters[table]) if c is not None]
        if conversions:
            converted = []
            for row in rows:
                values = list(row)
                for index, convert in conversions:
                    value = values[index]
                    if value is not None:
                        values[index] = convert(value)
                converted.append(values)
            rows = converted  # type: ignore[assignment]
        if self.postgres:
            with (
                self.driver.cursor() as cursor,
                cursor.copy(f"COPY {table} ({names}) FROM STDIN") as copy,
            ):
                for row in rows:
                    copy.write_row(row)
        else:
            placeholders = ", ".join("?" for _ in columns)
            self.driver.executemany(f"INSERT INTO {table} ({names}) VALUES ({placeholders})", rows)
        self.rows_written += len(rows)


def _converter(python_type: type, postgres: bool) -> Callable[[Any], Any] | None:
    """How a column's Python values become what the driver binds, None when as they are."""
    if issubclass(python_type, Enum):
        return _plain_text  # StrEnum members as their values
    if postgres:
        return None
    # As SQLAlchemy's SQLite dialect stores them (see topline.storage.types.UTCDateTime).
    if python_type is datetime:
        return _sqlite_moment
    if python_type is date:
        return date.isoformat
    if python_type is bool:
        return int
    return None


def _plain_text(value: Any) -> Any:
    return value.value if isinstance(value, Enum) else value


@lru_cache(maxsize=65_536)
def _sqlite_moment(value: datetime) -> str:
    return value.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S.%f")
