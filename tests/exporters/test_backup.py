"""Whole-org exports, backups and restores on real databases, in both directions."""

from __future__ import annotations

import hashlib
import io
import json
import zipfile
from datetime import UTC, date, datetime
from pathlib import Path

import pyarrow.parquet as pq
import pytest
from sqlalchemy import Engine, func, inspect, select, text
from sqlalchemy.orm import Session

from tests.databases import backends, fresh_engine
from tests.exporters.conftest import AT, SourceOrg, stored_rows, table_rows
from tests.factories import make_deal
from topline.audit.models import AuditEntry
from topline.auth.models import User
from topline.crm.models import Deal, DealHistory, Stage
from topline.errors import Conflict, InvalidInput
from topline.exporters.backup import backup, export_all, read_manifest, restore
from topline.exporters.errors import (
    BackupDamaged,
    BackupIncompatible,
    DatabaseNotEmpty,
    ExportTargetExists,
)
from topline.exporters.manifest import backup_tables, column_type
from topline.storage.migrate import head_revision, upgrade_database

TABLES = [table.name for table in backup_tables()]


def other(backend: str) -> str:
    """The backend to restore into: the other one when both are tested."""
    return "postgresql" if backend == "sqlite" and "postgresql" in backends() else "sqlite"


def row_counts(engine: Engine) -> dict[str, int]:
    with engine.connect() as connection:
        return {
            table.name: connection.scalar(select(func.count()).select_from(table)) or 0
            for table in backup_tables()
        }


def test_every_column_has_an_export_rule() -> None:
    kinds = {column_type(column) for table in backup_tables() for column in table.columns}
    assert {kind.value for kind in kinds} == {
        "integer", "float", "boolean", "text", "date", "datetime", "json",
    }  # fmt: skip


def test_the_source_org_fills_every_table(source: SourceOrg) -> None:
    counts = row_counts(source.engine)
    assert all(counts[name] > 0 for name in TABLES), counts
    with source.engine.connect() as connection:
        before = connection.execute(
            select(text("CAST(before AS TEXT)")).select_from(AuditEntry).order_by(AuditEntry.id)
        ).scalars()
        assert list(before) == [None, "null"]  # SQL NULL and JSON null, to be kept apart


@pytest.mark.slow
def test_round_trip_through_the_other_database_is_identical(
    source: SourceOrg, tmp_path: Path
) -> None:
    there = fresh_engine(other(source.backend), tmp_path, "round_trip_there")
    back = fresh_engine(source.backend, tmp_path, "round_trip_back")
    original = table_rows(source.engine)

    first = backup(source.engine, tmp_path / "first.zip")
    assert restore(there, tmp_path / "first.zip") == first
    assert table_rows(there) == original
    second = backup(there, tmp_path / "second.zip")
    restore(back, tmp_path / "second.zip")

    assert table_rows(back) == original
    assert stored_rows(back) == stored_rows(source.engine)  # byte for byte on the same backend
    assert second.rows == first.rows == row_counts(source.engine)
    assert second.source_database == other(source.backend)
    # Identical rows make identical Parquet files, whichever database they were read from.
    assert [t.sha256 for t in second.tables] == [t.sha256 for t in first.tables]
    for engine in (there, back):
        assert_new_records_get_fresh_ids(engine)
        engine.dispose()


def assert_new_records_get_fresh_ids(engine: Engine) -> None:
    """The restored database takes new writes: PostgreSQL's id sequences were moved on."""
    with Session(engine) as session, session.begin():
        last_deal = session.scalar(select(func.max(Deal.id))) or 0
        last_history = session.scalar(select(func.max(DealHistory.id))) or 0
        owner = session.scalars(select(User).where(User.active).order_by(User.id)).first()
        stage = session.scalars(select(Stage).order_by(Stage.id)).first()
        deal = make_deal(session, owner=owner, stage=stage, at=AT, close_date=date(2030, 1, 1))
        history = session.scalars(select(DealHistory).where(DealHistory.deal_id == deal.id)).one()
        session.add(AuditEntry(action="deal.create", entity_type="deal", at=AT))
        session.flush()
        assert (deal.id, history.id) == (last_deal + 1, last_history + 1)


@pytest.mark.parametrize("target", backends())
def test_restore_counts_and_reads_back(source: SourceOrg, target: str, tmp_path: Path) -> None:
    file = tmp_path / "org.zip"
    made = backup(source.engine, file, at=datetime(2026, 1, 2, tzinfo=UTC))
    engine = fresh_engine(target, tmp_path, "restore_target")

    restored = restore(engine, file)

    assert restored == made == read_manifest(file)
    assert restored.created_at == datetime(2026, 1, 2, tzinfo=UTC)
    assert restored.schema_revision == head_revision()
    assert row_counts(engine) == made.rows
    with engine.connect() as connection:
        deal = connection.execute(select(Deal).where(Deal.amount_cents == 2**62)).one()
    assert deal.close_date == date(2999, 12, 31)
    assert deal.next_step == ""
    assert deal.source == "\\N"  # COPY's NULL marker, kept as text
    assert deal.created_at == AT
    engine.dispose()


def test_export_all_writes_a_parquet_file_per_table_and_a_manifest(
    source: SourceOrg, tmp_path: Path
) -> None:
    directory = tmp_path / "export"
    manifest = export_all(source.engine, directory)

    counts = row_counts(source.engine)
    assert sorted(path.name for path in directory.iterdir()) == sorted(
        [f"{name}.parquet" for name in TABLES] + ["manifest.json"]
    )
    document = json.loads((directory / "manifest.json").read_text(encoding="utf-8"))
    assert document["format"] == "topline-backup"
    assert document["schema_revision"] == head_revision()
    assert document["source_database"] == source.backend
    assert [entry["name"] for entry in document["tables"]] == TABLES
    for entry in document["tables"]:
        path = directory / entry["file"]
        assert entry["rows"] == counts[entry["name"]]
        assert pq.ParquetFile(path).metadata.num_rows == entry["rows"]
        assert hashlib.sha256(path.read_bytes()).hexdigest() == entry["sha256"]
        assert entry["bytes"] == path.stat().st_size
    deals = next(entry for entry in document["tables"] if entry["name"] == "deals")
    assert {"name": "amount_cents", "type": "integer", "nullable": False} in deals["columns"]
    assert {"name": "closed_at", "type": "datetime", "nullable": True} in deals["columns"]
    assert manifest.rows == counts

    with pytest.raises(ExportTargetExists, match="is not an empty directory"):
        export_all(source.engine, directory)


def test_backup_never_overwrites_and_needs_a_current_schema(
    source: SourceOrg, tmp_path: Path
) -> None:
    file = tmp_path / "org.zip"
    file.write_bytes(b"precious")
    with pytest.raises(ExportTargetExists, match="already exists"):
        backup(source.engine, file)
    assert file.read_bytes() == b"precious"

    empty = fresh_engine("sqlite", tmp_path, "no_schema")
    with pytest.raises(Conflict, match="has no Topline schema; run `topline db upgrade"):
        backup(empty, tmp_path / "new.zip")
    assert not (tmp_path / "new.zip").exists()
    assert [path.name for path in tmp_path.iterdir() if "partial" in path.name] == []


@pytest.fixture(scope="module")
def archive(source: SourceOrg, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One backup of the source org for the refusal tests (which only read it)."""
    file = tmp_path_factory.mktemp("archive") / "org.zip"
    backup(source.engine, file)
    return file


def rewrite(archive: Path, target: Path, **replace: bytes) -> Path:
    """A copy of `archive` with some members' bytes replaced (keys: member names, dots as _)."""
    replacements = {name.replace("_parquet", ".parquet").replace("_json", ".json"): data
                    for name, data in replace.items()}  # fmt: skip
    with zipfile.ZipFile(archive) as source, zipfile.ZipFile(target, "w") as copy:
        for info in source.infolist():
            copy.writestr(info, replacements.get(info.filename, source.read(info)))
    return target


def manifest_with(archive: Path, **changes: object) -> bytes:
    with zipfile.ZipFile(archive) as source:
        document = json.loads(source.read("manifest.json"))
    document.update(changes)
    return json.dumps(document).encode()


class TestRestoreRefuses:
    """Each refusal names the problem, and leaves the database as it was."""

    @pytest.fixture(params=backends())
    def empty(self, request: pytest.FixtureRequest, tmp_path: Path) -> Engine:
        return fresh_engine(request.param, tmp_path, "refused")

    def assert_untouched(self, engine: Engine) -> None:
        assert inspect(engine).get_table_names() == []

    def test_a_database_that_holds_data(self, archive: Path, empty: Engine) -> None:
        restore(empty, archive)
        before = stored_rows(empty)
        with pytest.raises(DatabaseNotEmpty, match=r"already holds data .* nothing was changed"):
            restore(empty, archive)
        assert stored_rows(empty) == before

    def test_a_database_with_foreign_tables(self, archive: Path, empty: Engine) -> None:
        with empty.begin() as connection:
            connection.exec_driver_sql("CREATE TABLE notes (id INTEGER PRIMARY KEY)")
        with pytest.raises(DatabaseNotEmpty, match=r"tables Topline does not know \(notes\)"):
            restore(empty, archive)
        assert inspect(empty).get_table_names() == ["notes"]

    def test_a_file_whose_table_does_not_match_its_checksum(
        self, archive: Path, empty: Engine, tmp_path: Path
    ) -> None:
        with zipfile.ZipFile(archive) as source:
            data = bytearray(source.read("deals.parquet"))
        data[len(data) // 2] ^= 0xFF
        damaged = rewrite(archive, tmp_path / "damaged.zip", deals_parquet=bytes(data))
        with pytest.raises(BackupDamaged, match=r"deals\.parquet does not match its checksum"):
            restore(empty, damaged)
        self.assert_untouched(empty)

    @pytest.mark.parametrize("keep", [0.5, 0.99])
    def test_a_truncated_file(
        self, archive: Path, empty: Engine, tmp_path: Path, keep: float
    ) -> None:
        data = archive.read_bytes()
        truncated = tmp_path / "truncated.zip"
        truncated.write_bytes(data[: int(len(data) * keep)])
        with pytest.raises(BackupDamaged, match="not a complete zip archive"):
            restore(empty, truncated)
        self.assert_untouched(empty)

    def test_a_backup_of_another_schema_revision(
        self, archive: Path, empty: Engine, tmp_path: Path
    ) -> None:
        manifest = manifest_with(archive, schema_revision="0123abcd4567", topline_version="0.0.9")
        older = rewrite(archive, tmp_path / "older.zip", manifest_json=manifest)
        with pytest.raises(BackupIncompatible) as raised:
            restore(empty, older)
        assert raised.value.message == (
            f"{older} was made by Topline 0.0.9 at schema revision 0123abcd4567, but this "
            f"Topline (0.1.0) is at revision {head_revision()}; restore it with Topline 0.0.9, "
            "then bring that database to this version with `topline db upgrade`"
        )
        self.assert_untouched(empty)

    @pytest.mark.parametrize(
        ("content", "message"),
        [
            (b"id,name\n1,x\n", "not a complete zip archive"),
            (None, "it has no manifest.json"),
            (b"{not json", "manifest.json is not JSON"),
            (b'{"format": "something else"}', "its manifest is not one"),
        ],
    )
    def test_files_that_are_not_backups(
        self, archive: Path, empty: Engine, tmp_path: Path, content: bytes | None, message: str
    ) -> None:
        file = tmp_path / "other.zip"
        if content is None:
            with zipfile.ZipFile(file, "w") as bare:
                bare.writestr("deals.parquet", b"")
        elif content.startswith(b"id"):
            file.write_bytes(content)
        else:
            rewrite(archive, file, manifest_json=content)
        with pytest.raises(BackupDamaged, match=message):
            restore(empty, file)
        self.assert_untouched(empty)

    def test_a_missing_file(self, empty: Engine, tmp_path: Path) -> None:
        with pytest.raises(InvalidInput, match="no backup file at"):
            restore(empty, tmp_path / "nowhere.zip")

    @pytest.mark.parametrize(
        ("edit", "message"),
        [
            ("orphan", "nothing was restored"),
            ("drop_column", "the file of table contacts does not have its columns and types"),
            ("miscount", "contacts.parquet holds {rows} rows but the manifest says {rows_plus_1}"),
        ],
    )
    def test_a_hand_edited_backup_leaves_no_rows(
        self, archive: Path, empty: Engine, tmp_path: Path, edit: str, message: str
    ) -> None:
        """The checksums can be right and the rows still wrong: the load runs in one
        transaction and checks foreign keys, so nothing stays behind."""
        with zipfile.ZipFile(archive) as source:
            contacts = pq.read_table(io.BytesIO(source.read("contacts.parquet")))
        index = contacts.schema.get_field_index("account_id")
        if edit == "orphan":
            orphans = [[999_999] * contacts.num_rows]
            contacts = contacts.set_column(index, contacts.schema.field(index), orphans)
        elif edit == "drop_column":
            contacts = contacts.remove_column(index)
        buffer = io.BytesIO()
        pq.write_table(contacts, buffer)
        data = buffer.getvalue()
        document = json.loads(manifest_with(archive))
        entry = next(e for e in document["tables"] if e["name"] == "contacts")
        entry.update(sha256=hashlib.sha256(data).hexdigest(), bytes=len(data))
        if edit == "miscount":
            entry["rows"] += 1
        edited = rewrite(
            archive,
            tmp_path / "edited.zip",
            contacts_parquet=data,
            manifest_json=json.dumps(document).encode(),
        )
        rows = contacts.num_rows
        with pytest.raises(BackupDamaged, match=message.format(rows=rows, rows_plus_1=rows + 1)):
            restore(empty, edited)
        assert row_counts(empty) == dict.fromkeys(TABLES, 0)


def test_restore_into_an_empty_schema_is_allowed(archive: Path, tmp_path: Path) -> None:
    engine = fresh_engine("sqlite", tmp_path, "empty_schema")
    upgrade_database(engine)
    manifest = restore(engine, archive)
    assert row_counts(engine) == manifest.rows
