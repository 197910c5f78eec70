"""SQLite transactions: readers see one snapshot, writers queue for the write lock, across
threads and processes, instead of failing with "database is locked"."""

from __future__ import annotations

import multiprocessing
import threading
from pathlib import Path

from sqlalchemy import Engine, text
from sqlalchemy.orm import Session

from topline.storage.db import make_engine, write_transaction

WRITES_EACH = 40


def _counter_engine(path: Path) -> Engine:
    engine = make_engine(f"sqlite:///{path}")
    with engine.begin() as connection:
        connection.exec_driver_sql("CREATE TABLE IF NOT EXISTS counter (n INTEGER NOT NULL)")
        if connection.scalar(text("SELECT count(*) FROM counter")) == 0:
            connection.exec_driver_sql("INSERT INTO counter VALUES (0)")
    return engine


def _increment(engine: Engine, times: int) -> None:
    """Read, then write what was read plus one: a lost update or a failed upgrade from reader
    to writer would show in the final count or as an exception."""
    for _ in range(times):
        with Session(engine) as session, write_transaction(session):
            n = session.scalar(text("SELECT n FROM counter"))
            session.execute(text("UPDATE counter SET n = :n"), {"n": n + 1})
            session.commit()


def _increment_in_process(path: str, times: int) -> None:
    engine = make_engine(f"sqlite:///{path}")
    _increment(engine, times)
    engine.dispose()


def test_concurrent_writers_in_threads_all_land(tmp_path: Path) -> None:
    engine = _counter_engine(tmp_path / "threads.sqlite")
    errors: list[BaseException] = []

    def work() -> None:
        try:
            _increment(engine, WRITES_EACH)
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=work) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert errors == []
    with engine.connect() as connection:
        assert connection.scalar(text("SELECT n FROM counter")) == 8 * WRITES_EACH
    engine.dispose()


def test_concurrent_writers_in_processes_all_land(tmp_path: Path) -> None:
    path = tmp_path / "processes.sqlite"
    _counter_engine(path).dispose()
    context = multiprocessing.get_context("spawn")
    workers = [
        context.Process(target=_increment_in_process, args=(str(path), WRITES_EACH))
        for _ in range(3)
    ]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join(timeout=120)

    assert [worker.exitcode for worker in workers] == [0, 0, 0]
    engine = make_engine(f"sqlite:///{path}")
    with engine.connect() as connection:
        assert connection.scalar(text("SELECT n FROM counter")) == 3 * WRITES_EACH
    engine.dispose()


def test_a_read_transaction_sees_one_snapshot(tmp_path: Path) -> None:
    engine = _counter_engine(tmp_path / "snapshot.sqlite")
    with Session(engine) as reader:
        before = reader.scalar(text("SELECT n FROM counter"))
        _increment(engine, 1)  # another connection commits meanwhile

        assert reader.scalar(text("SELECT n FROM counter")) == before
        reader.rollback()
        assert reader.scalar(text("SELECT n FROM counter")) == before + 1
    engine.dispose()
