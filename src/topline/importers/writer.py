"""Bulk writes for imports through each driver's fast path: `executemany` on sqlite3 and
`COPY … FROM STDIN` on PostgreSQL (plain SQLAlchemy executemany measured 3–6× slower).

New rows get their ids here, counting up from the table's largest id: the import holds the
database's write lock (SQLite) or locks the tables it writes (PostgreSQL) for its whole
transaction, so nobody else takes those ids meanwhile; PostgreSQL's sequences are moved past
them at the end.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from datetime import UTC, date, datetime
from enum import Enum, StrEnum
from typing import Any

from sqlalchemy import Connection, func, select
from sqlalchemy.sql.schema import Table

CHUNK_ROWS = 20_000
# Distinct values a column's converter remembers (dates and moments recur across rows).
MEMO_SIZE = 65_536


class BulkWriter:
    """Buffers rows per table and writes them in chunks on one connection.

    A table's buffer is one flat list of values, row after row, rather than a tuple per row:
    a million queued tuples would each be an object for the garbage collector to visit again
    and again, and the collector's passes were measured taking a tenth of a big import.

    (Writing chunks from a second thread while the first reads on was measured slower: the
    driver gives up the interpreter lock for each row it steps and waits to get it back.)
    """

    def __init__(self, connection: Connection, tables: Sequence[Table]) -> None:
        self.connection = connection
        self.postgres = connection.dialect.name == "postgresql"
        self.driver: Any = connection.connection.driver_connection
        self._next_id: dict[str, int] = {}
        self._buffers: dict[str, list[Any]] = {}  # per declared table, emptied when written
        self._columns: dict[str, tuple[str, ...]] = {}
        self._widths: dict[str, int] = {}
        self._limits: dict[str, int] = {}  # values in a chunk of the table's rows
        # Per table, the columns whose values the driver cannot bind as they are.
        self._converters: dict[str, list[tuple[int, _Memo]]] = {}
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

    def new_ids(self, table: str, count: int) -> int:
        """The first of `count` consecutive ids for the next rows of `table`."""
        value = self._next_id[table]
        self._next_id[table] = value + count
        return value

    def declare(self, table: str, columns: tuple[str, ...]) -> tuple[str, ...]:
        """Name the columns of `table`'s rows, in the order `add_row` takes their values; the
        same as earlier rows of the table named, if any."""
        known = self._columns.get(table)
        if known is not None:
            if known != columns:
                raise ValueError(f"{table}: rows name the columns {known}, not {columns}")
            return known
        self._columns[table] = columns
        self._buffers[table] = []
        self._widths[table] = len(columns)
        self._limits[table] = CHUNK_ROWS * len(columns)
        self._converters[table] = [
            (index, _Memo(convert))
            for index, name in enumerate(columns)
            if (convert := _converter(self.tables[table].c[name].type.python_type, self.postgres))
        ]
        return columns

    def add(self, table: str, row: dict[str, Any]) -> None:
        """Queue one row (with its `id`); rows of one table must name the same columns."""
        columns = self._columns.get(table)
        if columns is None:
            columns = self.declare(table, tuple(row))
        buffer = self._buffers[table]
        buffer.extend(row.values() if tuple(row) == columns else [row[c] for c in columns])
        if len(buffer) >= self._limits[table]:
            self.flush()  # every table, parents first: rows may point at queued rows

    def add_row(self, table: str, values: tuple[Any, ...]) -> None:
        """Queue one row given as its values in the order `declare` named (its `id` among
        them)."""
        if len(values) != self._widths[table]:
            raise ValueError(f"{table}: {len(values)} values for {self._columns[table]}")
        buffer = self._buffers[table]
        buffer.extend(values)
        if len(buffer) >= self._limits[table]:
            self.flush()

    def add_rows(self, table: str, rows: Iterable[tuple[Any, ...]]) -> None:
        """Queue rows given as `add_row` takes them."""
        width, buffer = self._widths[table], self._buffers[table]
        for values in rows:
            if len(values) != width:
                raise ValueError(f"{table}: {len(values)} values for {self._columns[table]}")
            buffer.extend(values)
        if len(buffer) >= self._limits[table]:
            self.flush()

    def flush(self) -> None:
        """Write everything buffered, tables in the order given (parents before the rows that
        point at them)."""
        for table in self.tables:
            values = self._buffers.get(table)
            if values:
                self._write(table, values)
                values.clear()

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

    def _write(self, table: str, values: list[Any]) -> None:
        """Write a buffer: its values, row after row."""
        columns = self._columns[table]
        names = ", ".join(f'"{name}"' for name in columns)
        width = self._widths[table]
        conversions = self._converters[table]
        rows: Iterable[tuple[Any, ...]]
        if conversions:
            # Column by column: the loops run in C, and a repeated value is looked up, not
            # converted again.
            by_column: list[Iterable[Any]] = [values[i::width] for i in range(width)]
            for index, memo in conversions:
                by_column[index] = map(memo.__getitem__, by_column[index])
            rows = zip(*by_column, strict=True)
        else:
            stream = iter(values)
            rows = zip(*([stream] * width), strict=True)  # the values taken width at a time
        if self.postgres:
            with (
                self.driver.cursor() as cursor,
                cursor.copy(f"COPY {table} ({names}) FROM STDIN") as copy,
            ):
                write = copy.write_row
                for row in rows:
                    write(row)
        else:
            placeholders = ", ".join("?" for _ in columns)
            self.driver.executemany(f"INSERT INTO {table} ({names}) VALUES ({placeholders})", rows)
        self.rows_written += len(values) // width


class _Memo(dict[Any, Any]):
    """A converter that remembers its answers (a dict, so that a known value is looked up in
    C); None stays None. Bounded: one this full starts over."""

    def __init__(self, convert: Callable[[Any], Any]) -> None:
        super().__init__({None: None})
        self.convert = convert

    def __missing__(self, value: Any) -> Any:
        if len(self) >= MEMO_SIZE:
            self.clear()
            self[None] = None
        converted = self[value] = self.convert(value)
        return converted


def _converter(python_type: type, postgres: bool) -> Callable[[Any], Any] | None:
    """How a column's Python values become what the driver binds, None when as they are."""
    if issubclass(python_type, Enum):
        # Both drivers bind a StrEnum member (a str) as its value, and a plain str as it is.
        return None if issubclass(python_type, StrEnum) else _plain_text
    if postgres:
        return None
    # As SQLAlchemy's SQLite dialect stores them (see topline.storage.types.UTCDateTime).
    if python_type is datetime:
        return _sqlite_moment
    if python_type is date:
        return date.isoformat
    return None  # bool is an int to sqlite3


def _plain_text(value: Any) -> Any:
    return value.value if isinstance(value, Enum) else value


def _sqlite_moment(value: datetime) -> str:
    return value.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S.%f")
