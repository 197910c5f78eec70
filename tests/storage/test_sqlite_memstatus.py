"""SQLite's memory statistics are turned off before the first SQLite engine, and only when no
connection is open. Each case runs in a fresh Python process: the setting is the process's."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from topline.storage.sqlite_memstatus import counts_allocations

pytestmark = pytest.mark.skipif(
    counts_allocations() is None, reason="this Python's SQLite library cannot be reached"
)


def _run(code: str, tmp_path: Path) -> list[str]:
    done = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code)],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    return done.stdout.split()


def test_off_after_the_first_engine_and_the_database_works(tmp_path: Path) -> None:
    before, stopped, after, rows = _run(
        """
        from sqlalchemy import text
        from topline.storage.sqlite_memstatus import counts_allocations
        from topline.storage.db import make_engine
        before = counts_allocations()
        engine = make_engine("sqlite:///" + "memstatus.db")
        with engine.begin() as connection:
            connection.execute(text("create table t (a integer)"))
            connection.execute(text("insert into t values (1), (2), (3)"))
        with engine.connect() as connection:
            rows = connection.execute(text("select count(*) from t")).scalar()
        from topline.storage.sqlite_memstatus import stop_memory_statistics
        print(before, stop_memory_statistics(), counts_allocations(), rows)
        """,
        tmp_path,
    )
    # Whatever the library's default, they are off after the engine, and SQLite still works.
    assert before in {"True", "False"}
    assert (stopped, after, rows) == ("True", "False", "3")


def test_left_on_while_a_connection_is_open(tmp_path: Path) -> None:
    before, stopped, after, still_there = _run(
        """
        import sqlite3
        from topline.storage.sqlite_memstatus import counts_allocations, stop_memory_statistics
        before = counts_allocations()
        open_one = sqlite3.connect("open.db")
        open_one.execute("create table t (a integer)")
        open_one.execute("insert into t values (7)")
        stopped = stop_memory_statistics()
        # The open connection keeps working: the library was not shut down under it.
        (value,) = open_one.execute("select a from t").fetchone()
        print(before, stopped, counts_allocations(), value)
        """,
        tmp_path,
    )
    if before == "False":
        pytest.skip("this SQLite library does not count allocations")
    assert (stopped, after, still_there) == ("False", "True", "7")


def test_only_the_first_try_counts(tmp_path: Path) -> None:
    first, second, after = _run(
        """
        import sqlite3
        from topline.storage.sqlite_memstatus import counts_allocations, stop_memory_statistics
        if not counts_allocations():
            print("skip skip skip")
            raise SystemExit
        open_one = sqlite3.connect(":memory:")
        first = stop_memory_statistics()
        open_one.close()
        # No connection is open now, yet the library is left alone: other threads may be
        # opening connections by the time of a later call.
        print(first, stop_memory_statistics(), counts_allocations())
        """,
        tmp_path,
    )
    if first == "skip":
        pytest.skip("this SQLite library does not count allocations")
    assert (first, second, after) == ("False", "False", "True")
