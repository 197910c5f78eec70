"""Whole-org exports and backups: every table as Parquet plus a manifest, and the way back.

`export_all` writes one Parquet file per table and `manifest.json` into a directory; `backup`
writes the same files into one zip archive (members stored, not deflated: Parquet is already
compressed, and stored members can be read in place); `restore` loads such an archive into an
empty SQLite or PostgreSQL database. Tables are read in chunks ordered by primary key inside one
read-only transaction — a consistent snapshot — and written a row group at a time, so memory
stays bounded whatever the size of the org. docs/backups.md describes the format.
"""

from __future__ import annotations

import hashlib
import zipfile
from collections.abc import Callable, Iterator, Sequence
from contextlib import AbstractContextManager, contextmanager
from datetime import datetime
from pathlib import Path
from typing import IO, Any, BinaryIO
from typing import cast as typing_cast

import pyarrow as pa
import pyarrow.csv as pa_csv
from sqlalchemy import (
    Connection,
    DateTime,
    Engine,
    String,
    Text,
    cast,
    inspect,
    literal,
    select,
    type_coerce,
)
from sqlalchemy import Enum as SqlEnum
from sqlalchemy.exc import IntegrityError
from sqlalchemy.sql.elements import ColumnElement
from sqlalchemy.sql.schema import Column, Table

from topline import __version__
from topline.demo.loader import BulkLoader, bulk_load
from topline.errors import Conflict
from topline.exporters.archive import BackupArchive
from topline.exporters.errors import BackupDamaged, DatabaseNotEmpty, ExportTargetExists
from topline.exporters.manifest import (
    MANIFEST_NAME,
    Manifest,
    TableFile,
    backup_columns,
    backup_tables,
    check_compatible,
    column_type,
)
from topline.exporters.tables import ColumnType, ExportColumn, ParquetTableWriter, arrow_type
from topline.storage.migrate import current_revision, head_revision, upgrade_database

CHUNK_ROWS = 50_000
_CSV_OPTIONS = pa_csv.WriteOptions(include_header=False, quoting_style="needed")

Progress = Callable[[str, int], None]
"""Called with a table's name and how many of its rows are done so far."""


def export_all(
    engine: Engine, directory: Path, *, at: datetime | None = None, progress: Progress | None = None
) -> Manifest:
    """Write every table as `<table>.parquet` plus `manifest.json` into a new or empty directory.

    The manifest is written last, so a directory without one is an interrupted export.
    """
    if directory.exists() and (not directory.is_dir() or any(directory.iterdir())):
        raise ExportTargetExists(f"{directory} is not an empty directory; export into a new one")
    directory.mkdir(parents=True, exist_ok=True)
    manifest = _dump_tables(engine, lambda name: (directory / name).open("wb"), at, progress)
    (directory / MANIFEST_NAME).write_text(manifest.to_text(), encoding="utf-8")
    return manifest


def backup(
    engine: Engine, file: Path, *, at: datetime | None = None, progress: Progress | None = None
) -> Manifest:
    """Write the whole org into one backup archive at `file`, which must not exist yet.

    The archive is built beside `file` and renamed into place only when complete, so `file`
    is either a whole backup or absent.
    """
    if file.exists():
        raise ExportTargetExists(f"{file} already exists; choose a new name or delete it first")
    file.parent.mkdir(parents=True, exist_ok=True)
    partial = file.with_name(f".{file.name}.partial")
    try:
        with zipfile.ZipFile(partial, "w", compression=zipfile.ZIP_STORED) as archive:
            manifest = _dump_tables(
                engine, lambda name: archive.open(name, "w", force_zip64=True), at, progress
            )
            archive.writestr(MANIFEST_NAME, manifest.to_text(), zipfile.ZIP_DEFLATED)
        partial.replace(file)
    finally:
        partial.unlink(missing_ok=True)
    return manifest


def read_manifest(file: Path) -> Manifest:
    """The manifest of the backup at `file`, without checking its tables."""
    with BackupArchive(file) as archive:
        return archive.manifest


def restore(engine: Engine, file: Path, *, progress: Progress | None = None) -> Manifest:
    """Load the backup at `file` into the empty database behind `engine`, ids and all.

    Everything is checked before anything is written: the archive is whole, its schema revision
    is this Topline's, every file matches its SHA-256, and the database holds no data. Then the
    schema is created and all tables are loaded in one transaction, so a failure leaves no rows
    behind. Returns the backup's manifest.
    """
    with BackupArchive(file) as archive:
        check_compatible(archive.manifest, archive.origin)
        _require_empty(engine)
        archive.verify()
        upgrade_database(engine)
        _load(engine, archive, progress or _quiet)
    return archive.manifest


def _quiet(table: str, rows: int) -> None:
    """The progress callback that reports nothing."""


def _describe(engine: Engine) -> str:
    return engine.url.render_as_string(hide_password=True)


def _dump_tables(
    engine: Engine,
    open_file: Callable[[str], AbstractContextManager[IO[bytes]]],
    at: datetime | None,
    progress: Progress | None,
) -> Manifest:
    revision = current_revision(engine)
    if revision is None or revision != head_revision():
        state = "has no Topline schema" if revision is None else f"is at revision {revision}"
        raise Conflict(
            f"{_describe(engine)} {state}; run `topline db upgrade --db {_describe(engine)}` first"
        )
    files = []
    with _snapshot(engine) as connection:
        for table in backup_tables():
            with open_file(f"{table.name}.parquet") as target:
                files.append(_dump_table(connection, table, target, progress or _quiet))
    return Manifest(__version__, revision, engine.dialect.name, at, tuple(files))


@contextmanager
def _snapshot(engine: Engine) -> Iterator[Connection]:
    """One read-only transaction, so that every table is read as of the same moment."""
    with engine.connect() as connection:
        if connection.dialect.name == "postgresql":
            connection.execution_options(
                isolation_level="REPEATABLE READ", postgresql_readonly=True
            )
        with connection.begin():
            driver = connection.connection.driver_connection
            if connection.dialect.name == "sqlite" and not getattr(driver, "in_transaction", True):
                # An engine not made by `make_engine` leaves pysqlite to run each SELECT outside
                # any transaction, each at its own moment.
                connection.exec_driver_sql("BEGIN")
            yield connection


def _dump_table(
    connection: Connection, table: Table, target: IO[bytes], progress: Progress
) -> TableFile:
    columns = backup_columns(table)
    stream = _HashingStream(target)
    writer = ParquetTableWriter(
        typing_cast(BinaryIO, stream), [ExportColumn(c.name, c.type) for c in columns]
    )
    statement = select(*(_readable(column) for column in table.columns)).order_by(
        *table.primary_key.columns
    )
    result = connection.execute(statement.execution_options(yield_per=CHUNK_ROWS))
    for rows in result.partitions():
        writer.write_rows(rows)
        progress(table.name, writer.rows_written)
    writer.close()
    file = f"{table.name}.parquet"
    sha256 = stream.digest.hexdigest()
    return TableFile(table.name, file, writer.rows_written, stream.size, sha256, columns)


def _readable(column: Column[Any]) -> ColumnElement[Any]:
    """The column as the backup stores it: JSON as the exact text the database holds (so SQL
    NULL and JSON `null` stay apart), enums as their plain string values, datetimes as the
    driver reads them (SQLite's naive UTC; Arrow takes naive times as UTC)."""
    kind = column_type(column)
    if kind is ColumnType.JSON:
        return cast(column, Text).label(column.name)
    if isinstance(column.type, SqlEnum):
        return type_coerce(column, String()).label(column.name)
    if kind is ColumnType.DATETIME:
        # Skips UTCDateTime's per-value conversion, a third of the time of a backup.
        return type_coerce(column, DateTime(timezone=True)).label(column.name)
    return column


class _HashingStream:
    """A write-only stream that passes bytes on, counting them and keeping their SHA-256."""

    def __init__(self, target: IO[bytes]) -> None:
        self._target = target
        self.digest = hashlib.sha256()
        self.size = 0
        self.closed = False

    def write(self, data: bytes) -> int:
        view = memoryview(data)
        self._target.write(view)
        self.digest.update(view)
        self.size += view.nbytes
        return view.nbytes

    def tell(self) -> int:
        return self.size

    def writable(self) -> bool:
        return True

    def readable(self) -> bool:
        return False

    def seekable(self) -> bool:
        return False

    def flush(self) -> None:
        self._target.flush()

    def close(self) -> None:
        self.closed = True  # the target belongs to the caller


def _require_empty(engine: Engine) -> None:
    """Refuse a database that holds any data, or tables that are not Topline's."""
    present = set(inspect(engine).get_table_names())
    where = _describe(engine)
    foreign = present - {table.name for table in backup_tables()} - {"alembic_version"}
    if foreign:
        raise DatabaseNotEmpty(
            f"{where} holds tables Topline does not know ({', '.join(sorted(foreign))}); "
            "restore only into a new, empty database — nothing was changed"
        )
    with engine.connect() as connection:
        for table in backup_tables():
            if (
                table.name in present
                and connection.execute(select(literal(1)).select_from(table).limit(1)).first()
            ):
                raise DatabaseNotEmpty(
                    f"{where} already holds data (table {table.name} has rows); restore only "
                    "into a new, empty database — nothing was changed"
                )
    revision = current_revision(engine)
    if revision not in (None, head_revision()):
        raise Conflict(
            f"{where} has an empty Topline schema at revision {revision}; run "
            f"`topline db upgrade --db {where}` on it first, or restore into a new database"
        )


def _load(engine: Engine, archive: BackupArchive, progress: Progress) -> None:
    """Insert every table, parents first, through the drivers' bulk paths in one transaction.

    Foreign keys are checked once, at the end: `bulk_load` adds PostgreSQL's back (which checks
    every row), and SQLite's `foreign_key_check` runs here.
    """
    entries = {table.name: table for table in archive.manifest.tables}
    tables = backup_tables()
    try:
        with bulk_load(engine, [table.name for table in tables]) as loader:
            for table in tables:
                entry = entries[table.name]
                loaded = _insert_table(loader, table, archive.parquet(entry), progress)
                if loaded != entry.rows:
                    raise BackupDamaged(
                        f"{archive.origin}: {entry.file} holds {loaded} rows but the manifest "
                        f"says {entry.rows}; nothing was restored"
                    )
            if not loader.is_postgres:
                _check_sqlite_foreign_keys(loader.connection, archive.origin)
    except IntegrityError as exc:
        reason = str(exc.orig).strip().splitlines()[0]
        raise BackupDamaged(
            f"{archive.origin}: its rows break a rule of the schema ({reason}); nothing was "
            "restored"
        ) from exc
    except pa.ArrowException as exc:
        raise BackupDamaged(
            f"{archive.origin}: a table's file cannot be read ({exc}); nothing was restored"
        ) from exc


def _insert_table(loader: BulkLoader, table: Table, parquet: Any, progress: Progress) -> int:
    """Insert one table's rows from its Parquet file, a row group at a time."""
    expected = {c.name: arrow_type(column_type(c)) for c in table.columns}
    stored = {field.name: field.type for field in parquet.schema_arrow}
    if set(stored) != set(expected) or any(not stored[n].equals(t) for n, t in expected.items()):
        raise BackupDamaged(f"the file of table {table.name} does not have its columns and types")
    names = list(expected)
    quoted = ", ".join(f'"{name}"' for name in names)
    batches = parquet.iter_batches(batch_size=CHUNK_ROWS, columns=names)
    done = 0
    try:
        if loader.is_postgres:
            # Arrow writes each row group as CSV in C++; COPY's CSV format tells NULL (an
            # unquoted empty field) from an empty string (always quoted by Arrow) apart.
            statement = f'COPY "{table.name}" ({quoted}) FROM STDIN WITH (FORMAT csv)'
            with loader.driver.cursor() as cursor, cursor.copy(statement) as copy:
                for batch in batches:
                    copy.write(memoryview(_csv(batch)))
                    done += batch.num_rows
                    progress(table.name, done)
        else:
            placeholders = ", ".join("?" for _ in names)
            statement = f'INSERT INTO "{table.name}" ({quoted}) VALUES ({placeholders})'
            for batch in batches:
                rows = zip(*(_sqlite_values(c) for c in batch.columns), strict=True)
                loader.driver.executemany(statement, rows)
                done += batch.num_rows
                progress(table.name, done)
    except loader.connection.dialect.loaded_dbapi.Error as exc:
        reason = (str(exc).strip() or type(exc).__name__).splitlines()[0]
        raise BackupDamaged(
            f"cannot restore table {table.name}: {reason}; nothing was restored"
        ) from exc
    return done


def _csv(batch: Any) -> Any:
    """A batch of rows as CSV without a header: timestamps as `… 12:00:00.000000Z`, dates as
    ISO, booleans as `true`/`false`, floats in their shortest exact form, JSON as its text."""
    columns = [_storage(column) for column in batch.columns]
    plain = pa.RecordBatch.from_arrays(columns, names=batch.schema.names)
    sink = pa.BufferOutputStream()
    pa_csv.write_csv(plain, sink, _CSV_OPTIONS)
    return sink.getvalue()


def _storage(array: Any) -> Any:
    """JSON columns as the plain text Arrow stores them in."""
    return array.storage if isinstance(array.type, pa.BaseExtensionType) else array


def _python_values(array: Any) -> list[Any]:
    values: list[Any] = _storage(array).to_pylist()
    return values


def _sqlite_values(array: Any) -> Sequence[Any]:
    """Values as SQLAlchemy's SQLite dialect stores them (see `storage.types.UTCDateTime`):
    datetimes as naive UTC text `YYYY-MM-DD HH:MM:SS.ffffff`, dates as ISO text."""
    if pa.types.is_timestamp(array.type):
        # Arrow's cast of a microsecond timestamp to text is that very format.
        naive_utc = array.cast(pa.timestamp("us", tz="UTC")).cast(pa.timestamp("us"))
        return _python_values(naive_utc.cast(pa.string()))
    if pa.types.is_date32(array.type):
        return _python_values(array.cast(pa.string()))
    return _python_values(array)


def _check_sqlite_foreign_keys(connection: Connection, origin: str) -> None:
    violations = connection.exec_driver_sql("PRAGMA foreign_key_check").all()
    if violations:
        table, rowid, parent, _ = violations[0]
        raise BackupDamaged(
            f"{origin}: {len(violations)} row(s) refer to records that are not in the backup "
            f"(the first: {table} row {rowid}, pointing into {parent}); nothing was restored"
        )
