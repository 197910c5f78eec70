"""The CLI as a user meets it: one clear line and a non-zero exit for every mistake."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

import pytest
from typer.testing import CliRunner

from topline.cli.main import app

runner = CliRunner()


def run(*args: str):
    return runner.invoke(app, list(args), catch_exceptions=False)


@pytest.fixture
def db_url(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'cli.sqlite'}"


@pytest.fixture
def migrated(db_url: str) -> str:
    result = run("db", "upgrade", "--db", db_url)
    assert result.exit_code == 0, result.output
    assert "is up to date" in result.output
    return db_url


def assert_one_line_error(result, fragment: str) -> None:
    assert result.exit_code == 1, result.output
    assert "Traceback" not in result.output
    lines = [line for line in result.output.splitlines() if line.strip()]
    errors = [line for line in lines if line.startswith("error:")]
    assert len(errors) == 1, result.output
    assert fragment in errors[0], result.output


@pytest.mark.parametrize(
    ("url", "fragment"),
    [
        ("not a url", "invalid database URL"),
        ("mysql://root@localhost/x", "unsupported database 'mysql'"),
        ("postgresql://postgres@127.0.0.1:1/none", "cannot use the database"),
    ],
)
def test_db_upgrade_bad_url_is_one_line(url: str, fragment: str) -> None:
    assert_one_line_error(run("db", "upgrade", "--db", url), fragment)


def test_db_analyze_refreshes_the_planner_statistics(db_url: str, migrated: str) -> None:
    empty = f"{db_url}-empty"
    assert_one_line_error(run("db", "analyze", "--db", empty), "run `topline db upgrade")
    with sqlite3.connect(migrated.removeprefix("sqlite:///")) as connection:
        connection.execute("INSERT INTO pipelines (name, is_default) VALUES ('Sales', 1)")

    result = run("db", "analyze", "--db", migrated)

    assert result.exit_code == 0, result.output
    assert "Planner statistics of" in result.output and "refreshed in" in result.output
    with sqlite3.connect(migrated.removeprefix("sqlite:///")) as connection:
        stats = connection.execute("SELECT stat FROM sqlite_stat1 WHERE tbl = 'pipelines'")
        assert {row[0].split()[0] for row in stats} == {"1"}


def test_user_create_needs_a_migrated_database(db_url: str) -> None:
    result = run(
        "user",
        "create",
        "--db",
        db_url,
        "--email",
        "a@example.com",
        "--name",
        "A",
        "--role",
        "admin",
        "--password",
        "long-enough",
    )
    assert_one_line_error(result, "run `topline db upgrade")


def test_user_create_then_duplicate_and_bad_role(migrated: str) -> None:
    args = [
        "user",
        "create",
        "--db",
        migrated,
        "--name",
        "Mia Manager",
        "--password",
        "long-enough",
    ]
    created = run(*args, "--email", "mia@example.com", "--role", "manager", "--format", "json")
    assert created.exit_code == 0, created.output
    document = json.loads(created.output)
    assert document["email"] == "mia@example.com"
    assert document["role"] == "manager"

    rep = run(*args, "--email", "rob@example.com", "--role", "rep", "--manager", "MIA@example.com")
    assert rep.exit_code == 0, rep.output
    assert "Created rep rob@example.com" in rep.output

    assert_one_line_error(
        run(*args, "--email", "mia@example.com", "--role", "manager"), "already exists"
    )
    assert_one_line_error(run(*args, "--email", "x@example.com", "--role", "boss"), "unknown role")
    assert_one_line_error(
        run(*args, "--email", "y@example.com", "--role", "rep", "--manager", "nobody@example.com"),
        "no user with email nobody@example.com",
    )


def test_user_create_prompts_for_password_when_not_given(migrated: str) -> None:
    result = runner.invoke(
        app,
        [
            "user",
            "create",
            "--db",
            migrated,
            "--email",
            "p@example.com",
            "--name",
            "P",
            "--role",
            "rep",
        ],
        input="short\nshort\n",
    )
    assert_one_line_error(result, "at least 8 characters")


def test_serve_refuses_a_database_without_schema(db_url: str) -> None:
    assert_one_line_error(run("serve", "--db", db_url), "has no Topline schema")


def test_demo_refuses_a_database_with_real_data(migrated: str) -> None:
    run(
        "user",
        "create",
        "--db",
        migrated,
        "--email",
        "real@corp.example",
        "--name",
        "Real",
        "--role",
        "admin",
        "--password",
        "long-enough",
    )
    result = run("demo", "--db", migrated, "--no-serve", "--rebuild")
    assert_one_line_error(result, "not a demo org")


def test_unknown_demo_size_is_a_usage_error(db_url: str) -> None:
    result = run("demo", "--db", db_url, "--size", "huge", "--no-serve")
    assert result.exit_code == 2
    assert "Traceback" not in result.output


@pytest.mark.slow
def test_demo_builds_reuses_and_rebuilds(db_url: str) -> None:
    first = run("demo", "--db", db_url, "--no-serve", "--format", "json", "--seed", "7")
    assert first.exit_code == 0, first.output
    built = json.loads(first.output)
    assert built["built"]["deals"] > 1000
    assert built["built"]["forecast_numbers"] > 100  # today's forecast of every team and rep
    assert built["built"]["scored_deals"] > 50  # every open deal has a win probability
    assert any(login["role"] == "manager" for login in built["logins"])

    again = run("demo", "--db", db_url, "--no-serve", "--format", "json")
    assert again.exit_code == 0, again.output
    reused = json.loads(again.output[again.output.index("{") :])
    assert "built" not in reused
    assert reused["logins"] == built["logins"]

    rebuilt = run(
        "demo", "--db", db_url, "--no-serve", "--format", "json", "--rebuild", "--seed", "7"
    )
    assert rebuilt.exit_code == 0, rebuilt.output
    assert json.loads(rebuilt.output)["built"]["deals"] == built["built"]["deals"]


def test_token_create_prints_a_working_token_once(migrated: str) -> None:
    from sqlalchemy.orm import Session

    from topline.auth.tokens import authenticate_token
    from topline.storage.db import make_engine

    run("user", "create", "--db", migrated, "--email", "ana@example.com", "--name", "Ana",
        "--role", "manager", "--password", "long-enough")  # fmt: skip
    result = run(
        "token", "create", "--db", migrated, "--email", "ANA@example.com", "--format", "json"
    )
    assert result.exit_code == 0, result.output
    token = json.loads(result.output)["token"]
    engine = make_engine(migrated)
    with Session(engine) as session:
        assert authenticate_token(session, token).email == "ana@example.com"
    engine.dispose()
    assert_one_line_error(
        run("token", "create", "--db", migrated, "--email", "nobody@example.com"),
        "no user with email nobody@example.com",
    )
