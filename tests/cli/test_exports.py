"""`topline export --all`, `topline backup` and `topline restore` as a user meets them."""

from __future__ import annotations

import json
import os
import sqlite3
from contextlib import closing
from pathlib import Path

import pyarrow.parquet as pq
import pytest

from tests.cli.test_main import assert_one_line_error, run
from tests.databases import backends, fresh_postgres_url
from topline.exporters.manifest import backup_tables

TABLES = [table.name for table in backup_tables()]


@pytest.fixture(scope="module")
def template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A SQLite database with a schema and two people, made once through the CLI."""
    path = tmp_path_factory.mktemp("template") / "org.sqlite"
    url = f"sqlite:///{path}"
    assert run("db", "upgrade", "--db", url).exit_code == 0
    for email, role in (("ada@example.com", "admin"), ("rob@example.com", "rep")):
        result = run("user", "create", "--db", url, "--email", email, "--name", "Zoë =1+1",
                     "--role", role, "--password", "long-enough")  # fmt: skip
        assert result.exit_code == 0, result.output
    return path


@pytest.fixture
def org(template: Path, tmp_path: Path) -> str:
    """A copy of the template for one test (SQLite's backup API also copies the WAL's pages)."""
    path = tmp_path / "org.sqlite"
    with closing(sqlite3.connect(template)) as source, closing(sqlite3.connect(path)) as copy:
        source.backup(copy)
    return f"sqlite:///{path}"


def target_url(backend: str, tmp_path: Path) -> str:
    if backend == "sqlite":
        return f"sqlite:///{tmp_path / 'restored.sqlite'}"
    return fresh_postgres_url(f"cli_restore_{os.environ.get('PYTEST_XDIST_WORKER', 'main')}")


@pytest.mark.parametrize("backend", backends())
def test_backup_then_restore(org: str, tmp_path: Path, backend: str) -> None:
    file = tmp_path / "backups" / "org.zip"
    made = run("backup", str(file), "--db", org)
    assert made.exit_code == 0, made.output
    assert f"Backed up 2 rows of {len(TABLES)} tables from sqlite:///" in made.output
    assert file.is_file()

    restored = run("restore", str(file), "--db", target_url(backend, tmp_path), "--format", "json")

    assert restored.exit_code == 0, restored.output
    document = json.loads(restored.stdout)
    assert document["rows"] == 2
    assert document["tables"] == dict.fromkeys(TABLES, 0) | {"users": 2}
    assert list(document["tables"]) == TABLES
    assert document["file"] == str(file)


def test_restore_prints_rows_per_table(org: str, tmp_path: Path) -> None:
    file = tmp_path / "org.zip"
    assert run("backup", str(file), "--db", org).exit_code == 0

    result = run("restore", str(file), "--db", f"sqlite:///{tmp_path / 'copy.sqlite'}")

    assert result.exit_code == 0, result.output
    assert "Restored" in result.output
    lines = [" ".join(line.replace("│", " ").split()) for line in result.output.splitlines()]
    assert "users 2" in lines
    assert "deals 0" in lines
    assert "Restored 2 rows into sqlite:///" in result.output


def test_restore_refuses_a_database_with_data_in_one_line(org: str, tmp_path: Path) -> None:
    file = tmp_path / "org.zip"
    assert run("backup", str(file), "--db", org).exit_code == 0
    assert_one_line_error(run("restore", str(file), "--db", org), "already holds data")


def test_restore_refuses_a_truncated_file_in_one_line(org: str, tmp_path: Path) -> None:
    file = tmp_path / "org.zip"
    assert run("backup", str(file), "--db", org).exit_code == 0
    file.write_bytes(file.read_bytes()[:-100])
    target = tmp_path / "copy.sqlite"
    result = run("restore", str(file), "--db", f"sqlite:///{target}")
    assert_one_line_error(result, "not a complete zip archive (truncated or damaged?)")


def test_backup_refuses_to_overwrite_in_one_line(org: str, tmp_path: Path) -> None:
    file = tmp_path / "org.zip"
    file.write_text("keep me")
    assert_one_line_error(run("backup", str(file), "--db", org), "already exists")
    assert file.read_text() == "keep me"


def test_backup_needs_a_migrated_database(tmp_path: Path) -> None:
    result = run("backup", str(tmp_path / "x.zip"), "--db", f"sqlite:///{tmp_path / 'new.sqlite'}")
    assert_one_line_error(result, "run `topline db upgrade")


def test_export_all_writes_parquet_and_a_manifest(org: str, tmp_path: Path) -> None:
    directory = tmp_path / "export"

    result = run("export", "--all", str(directory), "--db", org, "--format", "json")

    assert result.exit_code == 0, result.output
    document = json.loads(result.stdout)
    assert document["directory"] == str(directory)
    assert document["tables"]["users"] == 2
    manifest = json.loads((directory / "manifest.json").read_text())
    assert [entry["name"] for entry in manifest["tables"]] == TABLES
    users = pq.read_table(directory / "users.parquet")
    assert users.column("name").to_pylist() == ["Zoë =1+1"] * 2  # Parquet keeps exact text

    again = run("export", "--all", str(directory), "--db", org)
    assert_one_line_error(again, "is not an empty directory")


def test_export_without_all_says_what_to_do(org: str) -> None:
    assert_one_line_error(run("export", "--db", org), "`--all DIR` writes every table")


def test_export_into_a_path_that_cannot_be_made(org: str, tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("")
    result = run("export", "--all", str(blocker / "sub"), "--db", org)
    assert_one_line_error(result, f"cannot use {blocker / 'sub'}")
