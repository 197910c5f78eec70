"""`topline import` as a user meets it: a summary, problems by row, exit 1 when nothing landed."""

from __future__ import annotations

import json
from pathlib import Path

from typer.testing import CliRunner

from topline.cli.main import app

runner = CliRunner()
ACCOUNTS = "name,domain,employees\nAcme,acme.example,120\nGlobex,globex.example,4500\n"


def run(*args: str):
    return runner.invoke(app, list(args), catch_exceptions=False)


def test_import_creates_the_schema_and_reports_what_it_did(tmp_path: Path) -> None:
    db = f"sqlite:///{tmp_path / 'new.sqlite'}"
    (tmp_path / "accounts.csv").write_text(ACCOUNTS)

    result = run("import", str(tmp_path / "accounts.csv"), "--db", db, "--format", "json")

    assert result.exit_code == 0, result.output
    report = json.loads(result.output)
    assert report["committed"] is True
    assert report["files"] == [
        {"file": "accounts.csv", "entity": "accounts", "rows": 2, "created": 2, "updated": 0,
         "unchanged": 0, "merged": 0, "rejected": 0}
    ]  # fmt: skip


def test_problems_are_listed_by_row_and_nothing_is_written(tmp_path: Path) -> None:
    db = f"sqlite:///{tmp_path / 'new.sqlite'}"
    path = tmp_path / "accounts.csv"
    path.write_text(ACCOUNTS + "Initech,initech.example,lots\n")

    result = run("import", str(path), "--db", db)

    assert result.exit_code == 1
    assert "accounts.csv, row 4, column 'employees': employees: 'lots'" in result.output
    assert "Nothing imported" in result.output
    dry = run("import", str(tmp_path / "accounts.csv"), "--db", db, "--dry-run", "--format", "json")
    assert json.loads(dry.output)["files"][0]["created"] == 2  # the failed run left nothing


def test_keep_valid_writes_the_rejected_rows(tmp_path: Path) -> None:
    db = f"sqlite:///{tmp_path / 'new.sqlite'}"
    path = tmp_path / "accounts.csv"
    path.write_text(ACCOUNTS + "Initech,initech.example,lots\n")
    errors = tmp_path / "rejected.csv"

    result = run("import", str(path), "--db", db, "--keep-valid", "--errors", str(errors))

    assert result.exit_code == 0, result.output
    assert f"rejected rows are in {errors}" in result.output.replace("\n", "")
    assert "Initech" in errors.read_text()


def test_bad_mappings_and_files_are_one_line_errors(tmp_path: Path) -> None:
    db = f"sqlite:///{tmp_path / 'new.sqlite'}"
    (tmp_path / "accounts.csv").write_text(ACCOUNTS)
    cases = [
        (["--mapping", "nosuchpreset"], "no mapping preset 'nosuchpreset'"),
        (["--mapping", str(tmp_path / "missing.yaml")], "missing.yaml not found"),
        (["--errors", str(tmp_path / "e.csv")], "--errors goes with --keep-valid"),
    ]
    for extra, fragment in cases:
        result = run("import", str(tmp_path / "accounts.csv"), "--db", db, *extra)
        assert result.exit_code == 1, result.output
        assert "Traceback" not in result.output
        assert fragment in result.output.replace("\n", " "), result.output
    empty = tmp_path / "deals.csv"
    empty.write_text("")
    result = run("import", str(empty), "--db", db)
    assert result.exit_code == 1 and "deals.csv: the file is empty" in result.output
