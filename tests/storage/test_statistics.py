"""Planner statistics: gathered in full, judged stale by the share of rows written, and
refreshed after a migration of a database that held data."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy import Engine, insert, text
from sqlalchemy.orm import Session

from tests.databases import backends, fresh_engine
from topline.crm.models import Account
from topline.storage import statistics
from topline.storage.migrate import upgrade_database

AT = datetime(2025, 1, 6, 9, tzinfo=UTC)


@pytest.fixture(params=backends())
def engine(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Engine]:
    engine = fresh_engine(request.param, tmp_path, "statistics")
    upgrade_database(engine)
    yield engine
    engine.dispose()


def add_accounts(engine: Engine, count: int) -> None:
    with engine.begin() as connection:
        rows = [
            {"name": f"Account {n}", "region": f"R{n % 7}", "created_at": AT} for n in range(count)
        ]
        connection.execute(insert(Account), rows)


def test_a_full_analysis_counts_every_row_where_a_sample_only_estimates(
    tmp_path: Path,
) -> None:
    engine = fresh_engine("sqlite", tmp_path, "sampled")
    upgrade_database(engine)
    add_accounts(engine, 3000)

    with engine.connect() as connection:
        connection.exec_driver_sql("PRAGMA analysis_limit = 100")
        connection.exec_driver_sql("ANALYZE")
        sampled = statistics.analyzed_rows(connection, "accounts")
        statistics.analyze(connection)
        full = statistics.analyzed_rows(connection, "accounts")
        connection.commit()

    assert sampled is not None and sampled != 3000  # what the demo builds used to gather
    assert full == 3000
    engine.dispose()


def test_statistics_are_stale_when_missing_or_a_tenth_of_the_rows_was_written(
    engine: Engine,
) -> None:
    add_accounts(engine, 200)
    with engine.connect() as connection:
        before = statistics.analyzed_rows(connection, "accounts")
        never = statistics.stale_tables(connection, {"accounts": 1, "contacts": 0})

    with Session(engine) as session:
        statistics.refresh(session, ["accounts"])
    with engine.connect() as connection:
        after = statistics.analyzed_rows(connection, "accounts")
        judged = {
            written: statistics.stale_tables(connection, {"accounts": written})
            for written in (0, 19, 20, 500)
        }

    assert before is None and never == ["accounts"]  # a table written to but never analyzed
    assert after == 200
    assert judged == {0: [], 19: [], 20: ["accounts"], 500: ["accounts"]}


def test_analyze_stale_refreshes_only_the_stale_tables(engine: Engine) -> None:
    add_accounts(engine, 100)
    with Session(engine) as session:
        statistics.refresh(session)
    add_accounts(engine, 50)

    with engine.begin() as connection:
        refreshed = statistics.analyze_stale(connection, {"accounts": 5, "users": 0})
        unchanged = statistics.analyzed_rows(connection, "accounts")
        refreshed_again = statistics.analyze_stale(connection, {"accounts": 50})
        grown = statistics.analyzed_rows(connection, "accounts")

    assert (refreshed, unchanged) == ([], 100)
    assert (refreshed_again, grown) == (["accounts"], 150)


@pytest.mark.parametrize("backend", backends())
def test_a_migration_of_a_database_with_data_refreshes_its_statistics(
    backend: str, tmp_path: Path
) -> None:
    engine = fresh_engine(backend, tmp_path, "migrated_statistics")
    upgrade_database(engine, "a6c3e9f2d4b8")
    with engine.begin() as connection:
        connection.execute(
            text("INSERT INTO accounts (name, created_at) VALUES ('Acme', :at)"), {"at": AT}
        )
        assert statistics.analyzed_rows(connection, "accounts") is None

    upgrade_database(engine)

    with engine.connect() as connection:
        assert statistics.analyzed_rows(connection, "accounts") == 1
        if backend == "postgresql":
            # Vacuumed too: a migration that rewrote rows leaves index-only scans visiting
            # the table until then.
            vacuumed = connection.execute(
                text(
                    "SELECT relname FROM pg_stat_user_tables "
                    "WHERE last_vacuum IS NOT NULL AND relname IN ('accounts', 'deal_history')"
                )
            ).scalars()
            assert sorted(vacuumed) == ["accounts", "deal_history"]
    engine.dispose()
