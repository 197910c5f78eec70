"""Reads side by side: each job in its own session at the same time, results in order, and the
same figures as reading one after another."""

from __future__ import annotations

import os
import threading
from collections.abc import Iterator
from datetime import date, timedelta
from pathlib import Path

import pytest
from sqlalchemy import Engine, func, select
from sqlalchemy.orm import Session

from tests.databases import backends, fresh_engine
from tests.factories import T0, make_deal, make_pipeline, make_user
from topline.analytics.periods import custom_period
from topline.analytics.reports import pipeline_report
from topline.analytics.scope import org_scope
from topline.crm.models import Deal
from topline.crm.queries import deals_at_risk
from topline.storage.db import parallel_parts, read_in_parallel
from topline.storage.migrate import upgrade_database


@pytest.fixture(params=backends())
def committed(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Engine]:
    """A database whose rows are committed, so other connections see them."""
    engine = fresh_engine(request.param, tmp_path, "parallel")
    upgrade_database(engine)
    with Session(engine) as session:
        pipeline = make_pipeline(session)
        owner = make_user(session)
        for n in range(6):
            make_deal(session, pipeline=pipeline, owner=owner, amount_cents=(n + 1) * 1000_00,
                      close_date=date(2025, 3, 1) + timedelta(days=n))  # fmt: skip
        session.commit()
    yield engine
    engine.dispose()


def test_jobs_run_at_the_same_time_in_their_own_sessions(committed: Engine) -> None:
    # Two jobs meet at a barrier: one after another, the first would wait there forever.
    barrier = threading.Barrier(2, timeout=10)
    seen: list[tuple[int, int]] = []

    def job(session: Session) -> int:
        seen.append((threading.get_ident(), id(session)))
        barrier.wait()
        return session.scalar(select(func.count()).select_from(Deal)) or 0

    with Session(committed) as session:
        counts = read_in_parallel(session, job, job, lambda s: s is session)

    assert counts == [6, 6, False]
    (first_thread, first_session), (other_thread, other_session) = seen
    assert first_thread != other_thread and first_session != other_session


def test_figures_equal_reading_one_after_another(committed: Engine) -> None:
    moment = T0 + timedelta(days=30)
    period = custom_period(date(2025, 1, 1), date(2025, 4, 1))
    jobs = (
        lambda s: pipeline_report(s, org_scope(), period, moment).summary,
        lambda s: deals_at_risk(s, owner_ids=None, now=moment),
    )
    with Session(committed) as session:
        side_by_side = read_in_parallel(session, *jobs)
        in_turn = [job(session) for job in jobs]

    assert side_by_side == in_turn
    assert side_by_side[0].deals == 6 and side_by_side[1].total == 6


def test_a_session_on_one_connection_runs_the_jobs_in_it_in_turn(committed: Engine) -> None:
    with committed.connect() as connection, Session(bind=connection) as session:
        # Uncommitted: only this connection sees the rows.
        make_deal(session, owner=make_user(session), amount_cents=1)
        threads = read_in_parallel(
            session,
            *(
                lambda s: (
                    threading.get_ident(),
                    s is session,
                    s.scalar(select(func.count()).select_from(Deal)),
                ),
            )
            * 3,
        )

    assert {(thread, same, count) for thread, same, count in threads} == {
        (threading.get_ident(), True, 7)
    }


def test_an_error_in_a_job_reaches_the_caller(committed: Engine) -> None:
    def fails(session: Session) -> None:
        raise LookupError("no such figure")

    with Session(committed) as session, pytest.raises(LookupError, match="no such figure"):
        read_in_parallel(session, lambda s: 1, fails)


def test_jobs_that_read_in_parallel_themselves_finish(committed: Engine) -> None:
    """A report read side by side may split its own read (the funnel's cohort): jobs in reader
    threads run their jobs in turn instead of queueing them behind themselves. Here more jobs
    than readers each wait for two of their own; queued, they would wait for ever."""
    from topline.storage.db import PARALLEL_READS

    def count(session: Session) -> int:
        return session.scalar(select(func.count()).select_from(Deal)) or 0

    def nested(session: Session) -> list[int]:
        return read_in_parallel(session, count, count)

    outcome: list[list[list[int]]] = []
    with Session(committed) as session:
        runner = threading.Thread(
            target=lambda: outcome.append(
                read_in_parallel(session, *[nested] * (PARALLEL_READS + 2))
            ),
            daemon=True,
        )
        runner.start()
        runner.join(timeout=30)

    assert not runner.is_alive(), "the nested reads did not finish"
    assert outcome == [[[6, 6]] * (PARALLEL_READS + 2)]


def test_a_read_is_split_in_parts_only_where_the_parts_run_side_by_side(
    committed: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Parts read one after another would each scan the whole range again."""
    monkeypatch.setattr(os, "sched_getaffinity", lambda _pid: {0, 1}, raising=False)
    with Session(committed) as session:
        own_engine = parallel_parts(session)
        in_a_reader = read_in_parallel(session, parallel_parts, parallel_parts)
    with committed.connect() as connection, Session(bind=connection) as session:
        one_connection = parallel_parts(session)

    assert own_engine == 2
    assert in_a_reader == [2, 1]  # the first job runs in the caller's thread
    assert one_connection == 1
