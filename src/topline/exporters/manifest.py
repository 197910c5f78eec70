"""The manifest of a whole-org export or backup: what made it, and every table's file.

docs/backups.md describes the JSON; `Manifest.to_json` and `Manifest.from_json` are its only
writer and reader.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import JSON, Boolean, Date, DateTime, Float, Integer, String
from sqlalchemy import Enum as SqlEnum
from sqlalchemy.sql.schema import Column, Table
from sqlalchemy.types import TypeDecorator, TypeEngine

from topline import __version__
from topline.exporters.errors import BackupDamaged, BackupIncompatible
from topline.exporters.tables import ColumnType
from topline.storage.all_models import Base
from topline.storage.migrate import head_revision

FORMAT = "topline-backup"
FORMAT_VERSION = 1
MANIFEST_NAME = "manifest.json"


@dataclass(frozen=True)
class BackupColumn:
    """One column of a backed-up table, as the manifest describes it."""

    name: str
    type: ColumnType
    nullable: bool


@dataclass(frozen=True)
class TableFile:
    """One table's Parquet file in an export or backup, with what is needed to check it."""

    name: str
    file: str
    rows: int
    bytes: int
    sha256: str
    columns: tuple[BackupColumn, ...]


@dataclass(frozen=True)
class Manifest:
    """What a backup holds: which Topline and schema made it, and every table's file."""

    topline_version: str
    schema_revision: str
    source_database: str
    created_at: datetime | None
    tables: tuple[TableFile, ...]

    @property
    def rows(self) -> dict[str, int]:
        """Rows per table, in the order the tables are restored."""
        return {table.name: table.rows for table in self.tables}

    def to_json(self) -> dict[str, Any]:
        """The manifest as written to `manifest.json`."""
        return {
            "format": FORMAT,
            "format_version": FORMAT_VERSION,
            "topline_version": self.topline_version,
            "schema_revision": self.schema_revision,
            "source_database": self.source_database,
            "created_at": self.created_at.isoformat() if self.created_at else None,
            "tables": [
                {
                    "name": table.name,
                    "file": table.file,
                    "rows": table.rows,
                    "bytes": table.bytes,
                    "sha256": table.sha256,
                    "columns": [
                        {"name": c.name, "type": c.type.value, "nullable": c.nullable}
                        for c in table.columns
                    ],
                }
                for table in self.tables
            ],
        }

    def to_text(self) -> str:
        """The manifest as the text of `manifest.json`."""
        return json.dumps(self.to_json(), indent=2, ensure_ascii=False) + "\n"

    @classmethod
    def from_json(cls, document: Any, *, origin: str) -> Manifest:
        """Read a manifest; raise `BackupDamaged` or `BackupIncompatible` when it is unusable."""
        if not isinstance(document, dict) or document.get("format") != FORMAT:
            raise BackupDamaged(f"{origin} is not a Topline backup: its manifest is not one")
        if document.get("format_version") != FORMAT_VERSION:
            raise BackupIncompatible(
                f"{origin} is in backup format version {document.get('format_version')}; this "
                f"Topline ({__version__}) reads version {FORMAT_VERSION}"
            )
        try:
            created = document["created_at"]
            return cls(
                topline_version=str(document["topline_version"]),
                schema_revision=str(document["schema_revision"]),
                source_database=str(document["source_database"]),
                created_at=datetime.fromisoformat(created) if created else None,
                tables=tuple(_table_file(table) for table in document["tables"]),
            )
        except (KeyError, TypeError, ValueError) as exc:
            raise BackupDamaged(f"{origin} has an unreadable manifest ({exc!r})") from exc


def _table_file(entry: dict[str, Any]) -> TableFile:
    columns = tuple(
        BackupColumn(str(c["name"]), ColumnType(c["type"]), bool(c["nullable"]))
        for c in entry["columns"]
    )
    return TableFile(
        name=str(entry["name"]),
        file=str(entry["file"]),
        rows=int(entry["rows"]),
        bytes=int(entry["bytes"]),
        sha256=str(entry["sha256"]),
        columns=columns,
    )


def backup_tables() -> list[Table]:
    """Every Topline table, parents before children (the order a restore inserts them)."""
    return list(Base.metadata.sorted_tables)


def backup_columns(table: Table) -> tuple[BackupColumn, ...]:
    """The manifest's description of `table`'s columns."""
    return tuple(BackupColumn(c.name, column_type(c), bool(c.nullable)) for c in table.columns)


def column_type(column: Column[Any]) -> ColumnType:
    """How a database column is exported; a new kind of column must be given a rule here."""
    kind: TypeEngine[Any] = column.type
    if isinstance(kind, TypeDecorator):
        kind = kind.impl_instance
    if isinstance(kind, JSON):
        return ColumnType.JSON
    if isinstance(kind, SqlEnum | String):  # enums are stored as their string values
        return ColumnType.TEXT
    if isinstance(kind, Boolean):
        return ColumnType.BOOLEAN
    if isinstance(kind, DateTime):
        return ColumnType.DATETIME
    if isinstance(kind, Date):
        return ColumnType.DATE
    if isinstance(kind, Integer):
        return ColumnType.INTEGER
    if isinstance(kind, Float):
        return ColumnType.FLOAT
    raise TypeError(f"{column.table.name}.{column.name}: no export rule for {kind!r}")


def check_compatible(manifest: Manifest, origin: str) -> None:
    """Refuse a backup made at another schema revision, or whose tables do not match it."""
    head = head_revision()
    if manifest.schema_revision != head:
        raise BackupIncompatible(
            f"{origin} was made by Topline {manifest.topline_version} at schema revision "
            f"{manifest.schema_revision}, but this Topline ({__version__}) is at revision "
            f"{head}; restore it with Topline {manifest.topline_version}, then bring that "
            "database to this version with `topline db upgrade`"
        )
    expected = {table.name: table for table in backup_tables()}
    found = {table.name for table in manifest.tables}
    if found != set(expected):
        missing = ", ".join(sorted(set(expected) - found)) or "none"
        unknown = ", ".join(sorted(found - set(expected))) or "none"
        raise BackupDamaged(
            f"{origin} does not match its schema revision: missing tables {missing}, "
            f"unknown tables {unknown}"
        )
    for table in manifest.tables:
        wanted = backup_columns(expected[table.name])
        if sorted(table.columns, key=_name) != sorted(wanted, key=_name):
            raise BackupDamaged(f"{origin}: the columns of {table.name} do not match its schema")
        if table.file != f"{table.name}.parquet":
            raise BackupDamaged(f"{origin}: unexpected file name {table.file!r} in the manifest")


def _name(column: BackupColumn) -> str:
    return column.name
