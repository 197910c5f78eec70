"""The rolling-origin backtest and the kept daily snapshots on a small demo org: which quarters
and horizons are measured, the documented JSON, accuracy recomputed here from the points, and
snapshots that replace a day's numbers, keep other days' and are measured once their quarter
has ended."""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import numpy as np
import pytest
from sqlalchemy import Engine, select, update
from sqlalchemy.orm import Session

from tests.helpers import rolled_back
from topline.analytics.periods import quarter_period
from topline.auth.enums import Role
from topline.auth.models import User
from topline.demo import build_demo
from topline.forecasting.backtest import Backtest, backtest
from topline.forecasting.models import ForecastSnapshot
from topline.forecasting.moments import won_by_owner
from topline.forecasting.projection import METHODS, PEOPLE, PROJECTION
from topline.forecasting.snapshots import (
    ForecastScope,
    all_scopes,
    latest_snapshots,
    scope_of,
    snapshot_json,
    take_snapshots,
    tracked_accuracy,
)
from topline.storage.db import make_engine

# Builds a demo org.
pytestmark = pytest.mark.slow

# The demo's history starts in late 2024 (2024Q4). By 5 Jan 2026 five quarters have ended:
# 2024Q4 and 2025Q1 have fewer than two ended quarters before them; 2025Q2–Q4 are measured.
AS_OF = datetime(2026, 1, 5, tzinfo=UTC)
Q2 = quarter_period(2025, 2)
HORIZONS = (0, 4, 8, 12)


@pytest.fixture(scope="module")
def demo_engine(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Engine]:
    """The small demo org (two years of selling) in a SQLite file, built once."""
    engine = make_engine(f"sqlite:///{tmp_path_factory.mktemp('backtest') / 'org.sqlite'}")
    build_demo(engine, size="small", seed=5)
    yield engine
    engine.dispose()


@pytest.fixture
def demo(demo_engine: Engine) -> Iterator[Session]:
    """A session on the demo org whose writes are rolled back after the test."""
    with rolled_back(demo_engine) as session:
        yield session


@pytest.fixture(scope="module")
def report(demo_engine: Engine) -> Backtest:
    with Session(demo_engine) as session:
        return backtest(session, AS_OF)


class TestBacktest:
    def test_quarters_with_two_ended_quarters_before_them_at_every_horizon(
        self, report: Backtest
    ) -> None:
        assert report.skipped == [
            "2024Q4: 0 ended quarter(s) before it",
            "2025Q1: 1 ended quarter(s) before it",
        ]
        quarters = [quarter_period(2025, n) for n in (2, 3, 4)]
        expected = [(q.label, weeks, q.start_at + timedelta(weeks=weeks))
                    for q in quarters for weeks in HORIZONS]  # fmt: skip
        assert [(p.period.label, p.horizon_weeks, p.as_of) for p in report.points] == expected

    def test_every_point_has_every_method_and_the_quarters_actual(
        self, demo_engine: Engine, report: Backtest
    ) -> None:
        with Session(demo_engine) as session:
            for point in report.points:
                period = point.period
                won = won_by_owner(session, period.start_at, period.end_at, period.end_at)
                assert point.actual_cents == int(won.sum()) > 0
                assert set(METHODS) <= set(point.forecasts)
                assert point.p10 is not None and point.p90 is not None
                assert 0 < point.p10 < point.p90
        # The people's call is there once someone has called the quarter.
        assert any(PEOPLE in point.forecasts for point in report.points)

    def test_the_json_is_methods_horizons_and_coverage_for_the_projection_only(
        self, report: Backtest
    ) -> None:
        document = json.loads(json.dumps(report.to_json()))
        assert document["horizons_weeks"] == list(HORIZONS)
        assert document["periods"] == ["2025Q2", "2025Q3", "2025Q4"]
        assert len(document["points"]) == 12
        assert set(METHODS) | {PEOPLE} <= set(document["methods"])
        for name, method in document["methods"].items():
            assert list(method) == ["horizons"]
            assert list(method["horizons"]) == ["0", "4", "8", "12"]
            for accuracy in method["horizons"].values():
                keys = {"mape", "bias", "n"}
                if name == PROJECTION:
                    keys.add("coverage_p10_p90")
                assert set(accuracy) == keys, name
        assert document["methods"][PROJECTION]["horizons"]["0"]["n"] == 3

    def test_accuracy_is_what_the_points_say(self, report: Backtest) -> None:
        for name, by_horizon in report.methods.items():
            for weeks, accuracy in by_horizon.items():
                chosen = [p for p in report.points
                          if p.horizon_weeks == weeks and name in p.forecasts]  # fmt: skip
                assert accuracy.n == len(chosen), (name, weeks)
                if not chosen:
                    assert accuracy.mape is None
                    continue
                actual = np.array([p.actual_cents for p in chosen], dtype=float)
                forecast = np.array([p.forecasts[name] for p in chosen])
                error = forecast / actual - 1
                assert accuracy.mape == pytest.approx(np.mean(np.abs(error)))
                assert accuracy.bias == pytest.approx(np.mean(error))
                if name == PROJECTION:
                    inside = [p.p10 <= p.actual_cents <= p.p90 for p in chosen]  # type: ignore[operator]
                    assert accuracy.coverage_p10_p90 == pytest.approx(np.mean(inside))
                else:
                    assert accuracy.coverage_p10_p90 is None

    def test_one_reps_deals_only(self, demo: Session) -> None:
        rep = demo.scalars(select(User).where(User.role == Role.REP).order_by(User.id)).first()
        assert rep is not None
        # By 1 Jul 2025 only 2025Q2 can be measured; at 4 weeks in.
        result = backtest(demo, datetime(2025, 7, 1, tzinfo=UTC), horizons=(4,), owners=[rep.id])
        [point] = result.points
        won = won_by_owner(demo, Q2.start_at, Q2.end_at, Q2.end_at)
        assert point.actual_cents == int(won.get(rep.id, 0))
        # The people's call is the org's number: not compared with one rep's deals.
        assert set(point.forecasts) == set(METHODS)


def numbers(rows: list[ForecastSnapshot]) -> list[tuple[object, ...]]:
    return sorted(
        (r.scope_key, r.method, r.taken_on, r.expected_cents, r.p10_cents, r.p50_cents,
         r.p90_cents, r.won_cents, r.open_deals)
        for r in rows
    )  # fmt: skip


def stored(session: Session, **where: object) -> list[ForecastSnapshot]:
    query = select(ForecastSnapshot).filter_by(**where).order_by(ForecastSnapshot.id)
    return list(session.scalars(query))


@dataclass(frozen=True)
class Kept:
    """Snapshots of 2025Q2 for the org and its best-selling rep, taken at noon on the days 0,
    4, 8 and 12 weeks in (learned from 2024Q4 and 2025Q1); `team` is the top manager's."""

    org: ForecastScope
    rep: ForecastScope
    team: ForecastScope
    days: list[datetime]


@pytest.fixture(scope="module")
def kept(demo_engine: Engine) -> Kept:
    with Session(demo_engine) as session:
        won = won_by_owner(session, Q2.start_at, Q2.end_at, Q2.end_at)
        rep = session.get(User, int(won.idxmax()))
        top = session.scalar(
            select(User).where(User.role == Role.MANAGER, User.manager_id.is_(None))
        )
        assert rep is not None and rep.role == Role.REP and top is not None
        scopes = Kept(
            scope_of(session, None),
            scope_of(session, rep),
            scope_of(session, top),
            [Q2.start_at + timedelta(weeks=weeks, hours=12) for weeks in HORIZONS],
        )
        for day in scopes.days:
            run = take_snapshots(session, day, scopes=[scopes.org, scopes.rep])
            assert (run.period, run.scopes, run.shortage) == (Q2, 2, None)
        session.commit()
    return scopes


class TestScopes:
    def test_the_org_every_managers_subtree_and_every_rep(self, demo: Session) -> None:
        people = demo.execute(select(User.id, User.role, User.manager_id)).all()
        chain = {p.id: p.manager_id for p in people}
        scopes = {scope.key: scope for scope in all_scopes(demo)}
        managers = [p.id for p in people if p.role == Role.MANAGER]
        reps = [p.id for p in people if p.role == Role.REP]
        assert len(scopes) == 1 + len(managers) + len(reps)
        assert scopes["org"].owners is None

        def reaches(person: int | None, manager: int) -> bool:
            while person is not None:
                if person == manager:
                    return True
                person = chain[person]
            return False

        for manager in managers:
            # Everyone whose chain of managers reaches this one, and the manager.
            expected = frozenset(p.id for p in people if reaches(p.id, manager))
            assert scopes[f"team:{manager}"].owners == expected
        top = next(p.id for p in people if p.role == Role.MANAGER and p.manager_id is None)
        everyone = frozenset(p.id for p in people if p.role != Role.ADMIN)
        assert scopes[f"team:{top}"].owners == everyone
        assert all(scopes[f"rep:{rep}"].owners == frozenset([rep]) for rep in reps)


class TestSnapshots:
    def test_every_scope_has_every_method(self, demo: Session, kept: Kept) -> None:
        rows = stored(demo, taken_on=kept.days[1].date())
        for scope in (kept.org, kept.rep):
            methods = {r.method for r in rows if r.scope_key == scope.key}
            assert set(METHODS) <= methods <= {*METHODS, PEOPLE}
        # The org's people's call is the top of the reporting line's.
        assert PEOPLE in {r.method for r in rows if r.scope_key == "org"}
        assert {r.taken_at for r in rows} == {kept.days[1]}

    def test_again_on_the_same_day_replaces_that_days_numbers_of_those_scopes(
        self, demo: Session, kept: Kept
    ) -> None:
        day = kept.days[1]
        before = numbers(stored(demo))
        demo.execute(
            update(ForecastSnapshot)
            .where(ForecastSnapshot.taken_on == day.date())
            .values(expected_cents=-1)
        )
        again = take_snapshots(demo, day, scopes=[kept.org])
        # The same moment again: the org's numbers of the day are back in place of the
        # altered ones, and no row is added.
        assert again.rows == len(stored(demo, scope_key="org", taken_on=day.date()))
        after = numbers(stored(demo))
        assert len(after) == len(before)
        assert [n for n in after if n[0] == "org"] == [n for n in before if n[0] == "org"]
        # The rep's numbers of that day were not taken again: left as they were.
        rep_rows = stored(demo, scope_key=kept.rep.key, taken_on=day.date())
        assert rep_rows and {row.expected_cents for row in rep_rows} == {-1}

    def test_the_next_day_adds_its_own(self, demo: Session, kept: Kept) -> None:
        before = numbers(stored(demo))
        next_day = kept.days[1] + timedelta(days=1)
        run = take_snapshots(demo, next_day, scopes=[kept.org])
        assert run.taken_on == next_day.date()
        assert len(stored(demo)) == len(before) + run.rows
        assert len(stored(demo, scope_key="org", taken_on=next_day.date())) == run.rows
        assert [n for n in numbers(stored(demo)) if n[2] != next_day.date()] == before

    def test_latest_snapshots_as_of_a_day(self, demo: Session, kept: Kept) -> None:
        in_order = [PROJECTION, PEOPLE, "stage_weighted", "historical_conversion",
                    "category_rollup"]  # fmt: skip
        first, second = kept.days[0], kept.days[1]
        for as_of, day in (
            (first.replace(hour=23), first.date()),
            (first + timedelta(days=10), first.date()),  # between two days: the earlier
            (second.replace(hour=1), second.date()),  # that day's, taken later in the day
        ):
            rows = latest_snapshots(demo, kept.org, as_of)
            assert {row.taken_on for row in rows} == {day}
            methods = [row.method for row in rows]
            assert methods == [name for name in in_order if name in methods]
            assert set(METHODS) <= set(methods)
        # Four weeks in the top of the reporting line had called the quarter; not on its
        # first day.
        assert PEOPLE in [row.method for row in latest_snapshots(demo, kept.org, second)]
        assert latest_snapshots(demo, kept.org, Q2.start_at - timedelta(days=1)) == []
        assert latest_snapshots(demo, kept.team, second) == []
        # The next quarter has nothing kept yet.
        assert latest_snapshots(demo, kept.org, datetime(2025, 7, 2, tzinfo=UTC)) == []

        document = snapshot_json(latest_snapshots(demo, kept.org, second)[0])
        assert document["method"] == PROJECTION and document["scope"] == "org"
        assert (document["period_start"], document["period_end"]) == ("2025-04-01", "2025-07-01")
        assert (document["taken_on"], document["taken_at"]) == (
            "2025-04-29",
            "2025-04-29T12:00:00+00:00",
        )
        assert document["p10_cents"] <= document["p50_cents"] <= document["p90_cents"]
        assert set(document["details"]["drivers"][0]) == {
            "deal_id", "amount_cents", "probability", "expected_cents", "factors",
        }  # fmt: skip
        assert json.loads(json.dumps(document)) == document


class TestTrackedAccuracy:
    def test_the_kept_numbers_against_what_the_quarter_won(self, demo: Session, kept: Kept) -> None:
        # A later snapshot inside a horizon's window does not count: the first day's does.
        for row in stored(demo, taken_on=kept.days[1].date()):
            copy = {c.name: getattr(row, c.name) for c in ForecastSnapshot.__table__.columns}
            copy.update(id=None, taken_on=row.taken_on + timedelta(days=2),
                        expected_cents=row.expected_cents + 123_456_789)  # fmt: skip
            demo.add(ForecastSnapshot(**copy))
        demo.flush()

        # Before the quarter has ended there is nothing to measure.
        assert tracked_accuracy(demo, kept.org, datetime(2025, 6, 30, tzinfo=UTC)).points == []

        won = won_by_owner(demo, Q2.start_at, Q2.end_at, Q2.end_at)
        for scope, actual in ((kept.org, int(won.sum())), (kept.rep, int(won.max()))):
            tracked = tracked_accuracy(demo, scope, datetime(2025, 8, 1, tzinfo=UTC))
            assert tracked.periods == ["2025-04-01..2025-07-01"]
            assert [p.horizon_weeks for p in tracked.points] == list(HORIZONS)
            assert all(p.actual_cents == actual for p in tracked.points)
            for weeks, day in zip(HORIZONS, kept.days, strict=True):
                rows = stored(demo, scope_key=scope.key, taken_on=day.date())
                measured = {name for name, by in tracked.methods.items() if by[weeks].n}
                assert measured == {row.method for row in rows}
                for row in rows:
                    accuracy = tracked.methods[row.method][weeks]
                    error = (row.expected_cents - actual) / actual
                    assert accuracy.n == 1
                    assert accuracy.mape == pytest.approx(abs(error))
                    assert accuracy.bias == pytest.approx(error)
                    if row.method == PROJECTION:
                        inside = row.p10_cents <= actual <= row.p90_cents  # type: ignore[operator]
                        assert accuracy.coverage_p10_p90 == float(inside)
                    else:
                        assert accuracy.coverage_p10_p90 is None
            document = tracked.to_json()
            assert document["scope"] == scope.key
            assert list(document["methods"][PROJECTION]["horizons"]) == ["0", "4", "8", "12"]
