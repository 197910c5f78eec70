"""Bulk loading of generated rows into SQLite or PostgreSQL, in one transaction.

Loading a million deals row by row through the ORM would take an hour; this streams whole
columns through the drivers' fastest paths instead: `executemany` on one SQLite connection,
COPY FROM STDIN on PostgreSQL. Secondary indexes (and on PostgreSQL foreign keys) of the big
tables are dropped before the load and rebuilt from their own stored definitions afterwards,
because building an index once is several times faster than updating it per row and checking
a foreign key in one join is far faster than per row. Everything happens in one transaction,
so a failed build leaves the database as it was.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from typing import Any

from sqlalchemy import Connection, Engine, insert

from topline.demo.frames import Frame, frame_length, pg_values, sqlite_values
from topline.storage.base import Base
from topline.storage.statistics import analyze

Progress = Callable[[str, int, int], None]
COPY_CHUNK_ROWS = 200_000


class BulkLoader:
    """Inserts generated frames and small row lists on one connection inside one transaction."""

    def __init__(self, connection: Connection) -> None:
        self.connection = connection
        self.driver: Any = connection.connection.driver_connection
        self.is_postgres = connection.dialect.name == "postgresql"
        self.rows_loaded = 0

    def insert_rows(self, model: type[Base], rows: Sequence[dict[str, Any]]) -> None:
        """Insert a few rows with SQLAlchemy Core (the small tables: users, quotas, ...)."""
        if rows:
            self.connection.execute(insert(model), list(rows))

    def insert_frame(self, table: str, frame: Frame) -> None:
        """Insert a frame of generated columns through the driver's bulk path."""
        if frame_length(frame) == 0:
            return
        names = ", ".join(column.name for column in frame)
        if self.is_postgres:
            self._copy(f"COPY {table} ({names}) FROM STDIN", frame)
        else:
            placeholders = ", ".join("?" for _ in frame)
            rows = zip(*(sqlite_values(column) for column in frame), strict=True)
            self.driver.executemany(f"INSERT INTO {table} ({names}) VALUES ({placeholders})", rows)
        self.rows_loaded += frame_length(frame)

    def _copy(self, statement: str, frame: Frame) -> None:
        """Stream a frame as COPY text lines, a chunk of rows at a time."""
        with self.driver.cursor() as cursor, cursor.copy(statement) as copy:
            for start in range(0, frame_length(frame), COPY_CHUNK_ROWS):
                stop = start + COPY_CHUNK_ROWS
                fields = [pg_values(column.rows(start, stop)) for column in frame]
                copy.write("\n".join(map("\t".join, zip(*fields, strict=True))) + "\n")


@contextmanager
def bulk_load(
    engine: Engine, big_tables: Sequence[str], progress: Progress | None = None
) -> Iterator[BulkLoader]:
    """A loader whose work is committed, with indexes rebuilt, when the block ends cleanly."""
    with engine.connect() as connection:
        postgres = connection.dialect.name == "postgresql"
        if not postgres:
            _tune_sqlite(connection, loading=True)
        try:
            with connection.begin():
                driver = connection.connection.driver_connection
                if not postgres and not getattr(driver, "in_transaction", True):
                    # An engine not made by `make_engine` leaves pysqlite to open transactions
                    # lazily; open it now so the DDL is part of it.
                    connection.exec_driver_sql("BEGIN")
                loader = BulkLoader(connection)
                rebuild = _drop_for_load(loader, big_tables)
                yield loader
                for step, statement in enumerate(rebuild, start=1):
                    connection.exec_driver_sql(statement)
                    if progress is not None:
                        progress("indexes", step, len(rebuild))
                if postgres:
                    _reset_sequences(connection)
            vacuum_analyze(connection, big_tables)
        finally:
            if not postgres:
                _tune_sqlite(connection, loading=False)


def _tune_sqlite(connection: Connection, *, loading: bool) -> None:
    """Trade durability for speed while loading; restore the engine's settings afterwards.

    `foreign_keys` can only change outside a transaction, so this runs before and after it.
    The loaded data is checked by the demo tests (`PRAGMA foreign_key_check`) instead.
    """
    driver = connection.connection.driver_connection
    assert driver is not None
    if loading:
        pragmas = ("foreign_keys=OFF", "synchronous=OFF", "cache_size=-262144", "temp_store=MEMORY")
    else:
        pragmas = (
            "foreign_keys=ON",
            "synchronous=NORMAL",
            "cache_size=-2000",
            "temp_store=DEFAULT",
        )
    for pragma in pragmas:
        driver.execute(f"PRAGMA {pragma}")


def _drop_for_load(loader: BulkLoader, tables: Sequence[str]) -> list[str]:
    """Drop secondary indexes (and PostgreSQL foreign keys) of `tables`; return the DDL that
    recreates them exactly as the database defined them."""
    connection = loader.connection
    rebuild: list[str] = []
    foreign_keys: list[str] = []
    if loader.is_postgres:
        # Index builds get more memory; the commit need not wait for the WAL flush.
        connection.exec_driver_sql("SET LOCAL maintenance_work_mem = '512MB'")
        connection.exec_driver_sql("SET LOCAL synchronous_commit = off")
    for table in tables:
        if loader.is_postgres:
            indexes = connection.exec_driver_sql(_PG_INDEXES, (table,)).all()
            for name, definition in connection.exec_driver_sql(_PG_FOREIGN_KEYS, (table,)).all():
                connection.exec_driver_sql(f'ALTER TABLE {table} DROP CONSTRAINT "{name}"')
                foreign_keys.append(f'ALTER TABLE {table} ADD CONSTRAINT "{name}" {definition}')
        else:
            indexes = connection.exec_driver_sql(_SQLITE_INDEXES, (table,)).all()
        for name, definition in indexes:
            connection.exec_driver_sql(f'DROP INDEX "{name}"')
            rebuild.append(definition)
    return rebuild + foreign_keys


_SQLITE_INDEXES = (
    "SELECT name, sql FROM sqlite_master WHERE type = 'index' AND tbl_name = ? "
    "AND sql IS NOT NULL ORDER BY name"
)
# Indexes that back a constraint (the primary key, unique constraints) stay in place.
_PG_INDEXES = (
    "SELECT c.relname, pg_get_indexdef(i.indexrelid) FROM pg_index i "
    "JOIN pg_class c ON c.oid = i.indexrelid WHERE i.indrelid = %s::regclass "
    "AND NOT EXISTS (SELECT 1 FROM pg_constraint k WHERE k.conindid = i.indexrelid) "
    "ORDER BY c.relname"
)
_PG_FOREIGN_KEYS = (
    "SELECT conname, pg_get_constraintdef(oid) FROM pg_constraint "
    "WHERE conrelid = %s::regclass AND contype = 'f' ORDER BY conname"
)


def _reset_sequences(connection: Connection) -> None:
    """Move every id sequence past the explicit ids the load used, so ORM inserts work."""
    tables = connection.exec_driver_sql(
        "SELECT table_name FROM information_schema.columns WHERE table_schema = "
        "current_schema() AND column_name = 'id' AND column_default LIKE 'nextval%%'"
    ).scalars()
    for table in sorted(tables):
        connection.exec_driver_sql(
            f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), "
            f"COALESCE((SELECT max(id) FROM {table}), 0) + 1, false)"
        )


def vacuum_analyze(connection: Connection, tables: Sequence[str]) -> None:
    """Refresh planner statistics of the loaded tables; on PostgreSQL also vacuum them, so
    index-only scans (the reports' covering indexes) need not visit the table until autovacuum
    would have come by; fold SQLite's WAL into the file."""
    driver = connection.connection.driver_connection
    assert driver is not None
    if connection.dialect.name == "postgresql":
        connection.commit()
        driver.autocommit = True  # VACUUM runs outside a transaction
        try:
            for table in tables:
                driver.execute(f"VACUUM (ANALYZE) {table}")
        finally:
            driver.autocommit = False
        return
    # In full: sampled statistics misled the planner (`topline.storage.statistics`).
    analyze(connection)
    connection.commit()
    driver.execute("PRAGMA wal_checkpoint(TRUNCATE)")
