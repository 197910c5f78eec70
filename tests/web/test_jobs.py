"""The server's daily forecast: due once a day after its time, kept once, caught up on restart."""

from __future__ import annotations

import threading
from datetime import UTC, date, datetime, time
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from tests.databases import fresh_engine
from tests.factories import make_deal, make_user
from tests.web.conftest import settings_for_tests
from topline.auth.enums import Role
from topline.forecasting.models import ForecastSnapshot
from topline.storage.migrate import upgrade_database
from topline.web.app import create_app
from topline.web.jobs import DailyForecast, snapshot_due

AT = time(5, 30)


@pytest.mark.parametrize(
    ("now", "last", "due"),
    [
        (datetime(2026, 3, 2, 5, 29, tzinfo=UTC), None, False),  # before the time
        (datetime(2026, 3, 2, 5, 30, tzinfo=UTC), None, True),
        (datetime(2026, 3, 2, 23, 0, tzinfo=UTC), date(2026, 3, 1), True),  # a late start
        (datetime(2026, 3, 2, 23, 0, tzinfo=UTC), date(2026, 3, 2), False),  # kept today
    ],
)
def test_the_snapshot_is_due_once_a_day_after_its_time(
    now: datetime, last: date | None, due: bool
) -> None:
    assert snapshot_due(now, AT, last) is due


def test_the_job_keeps_the_days_forecast_once(tmp_path: Path) -> None:
    engine = fresh_engine("sqlite", tmp_path, "daily_forecast")
    upgrade_database(engine)
    with Session(engine) as session:
        manager = make_user(session, role=Role.MANAGER)
        rep = make_user(session, manager=manager)
        make_deal(session, owner=rep, close_date=date(2026, 3, 20))
        session.commit()
    job = DailyForecast(engine, AT)

    def kept() -> list[tuple[date, int]]:
        with Session(engine) as session:
            stmt = select(ForecastSnapshot.taken_on, func.count()).group_by(
                ForecastSnapshot.taken_on
            )
            return [(day, count) for day, count in session.execute(stmt)]

    try:
        assert job.run_if_due(datetime(2026, 3, 2, 5, 0, tzinfo=UTC)) is None
        rows = job.run_if_due(datetime(2026, 3, 2, 6, 0, tzinfo=UTC))
        # Too little history to learn from: the org, the manager's team and the rep each get
        # the stage-weighted baseline.
        assert rows == 3
        assert job.run_if_due(datetime(2026, 3, 2, 18, 0, tzinfo=UTC)) is None
        assert job.run_if_due(datetime(2026, 3, 3, 5, 45, tzinfo=UTC)) == 3
        assert kept() == [(date(2026, 3, 2), 3), (date(2026, 3, 3), 3)]
    finally:
        engine.dispose()


def test_the_server_runs_the_job_only_when_its_time_is_set(tmp_path: Path) -> None:
    engine = fresh_engine("sqlite", tmp_path, "daily_forecast_app")
    upgrade_database(engine)

    def running() -> bool:
        return any(thread.name == "daily-forecast" for thread in threading.enumerate())

    try:
        with TestClient(create_app(settings_for_tests(), engine=engine)):
            assert not running()
        app = create_app(settings_for_tests(forecast_snapshot_at=AT), engine=engine)
        with TestClient(app):
            assert running()
        assert not running()
    finally:
        engine.dispose()
