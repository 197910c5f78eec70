"""Work the server does on a schedule, in a thread of its own: today, the daily forecast.

With `TOPLINE_FORECAST_SNAPSHOT_AT` set (a UTC time of day), the server checks once a minute
whether the day's forecast snapshot is due: past that time and not yet kept today. Restarts
and a late start catch up on the same day; a day the server was down is not filled in later
(a forecast can only be taken as of now). Two processes taking it at the same moment leave
one day's numbers: the snapshot replaces that day's in one transaction.
"""

from __future__ import annotations

import logging
import threading
from datetime import date, datetime, time

from sqlalchemy import Engine, func, inspect, select
from sqlalchemy.orm import Session

from topline.clock import utcnow
from topline.forecasting.models import ForecastSnapshot
from topline.forecasting.snapshots import take_snapshots
from topline.storage.db import write_transaction

logger = logging.getLogger(__name__)

CHECK_EVERY_SECONDS = 60.0


def snapshot_due(now: datetime, at: time, last_taken_on: date | None) -> bool:
    """Whether the day's snapshot is due at `now` (UTC): past `at` and none kept today."""
    return now.time() >= at and last_taken_on != now.date()


def last_taken_on(engine: Engine) -> date | None:
    """The latest day a forecast snapshot was kept, if any."""
    with Session(engine) as session:
        day: date | None = session.scalar(select(func.max(ForecastSnapshot.taken_on)))
        return day


def keep_forecast(engine: Engine, now: datetime) -> int:
    """Take the forecast snapshot as of `now`; the number of forecast numbers kept."""
    with Session(engine, expire_on_commit=False) as session, write_transaction(session):
        run = take_snapshots(session, now)
        session.commit()
    return run.rows


class DailyForecast:
    """A daemon thread that keeps the day's forecast snapshot once it is due."""

    def __init__(self, engine: Engine, at: time) -> None:
        self.engine = engine
        self.at = at
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="daily-forecast", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=5)

    def run_if_due(self, now: datetime) -> int | None:
        """Keep the snapshot when due at `now`; the numbers kept, or None when not due."""
        if not inspect(self.engine).has_table(ForecastSnapshot.__tablename__):
            return None
        if not snapshot_due(now, self.at, last_taken_on(self.engine)):
            return None
        rows = keep_forecast(self.engine, now)
        logger.info("kept the forecast of %s: %d numbers", now.date(), rows)
        return rows

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                self.run_if_due(utcnow())
            except Exception:  # a failed day is retried at the next check, never fatal
                logger.exception("the daily forecast snapshot failed; retrying later")
            self._stop.wait(CHECK_EVERY_SECONDS)
