"""The report benchmark (`benchmarks/reports.py`) on a small demo org. Its naive baseline works
each headline figure out in pandas from every history row, with none of the reports' SQL: the
figures must equal the reports' own, for the whole org and a team, for a closed quarter, the
current one and a moment inside a quarter, on both databases."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from types import ModuleType
from typing import Any

import pytest
from sqlalchemy import Engine, func, select
from sqlalchemy.orm import Session

from tests.benchmarks.scripts import load_script
from tests.databases import backends, fresh_engine
from topline.analytics.catalog import REPORTS
from topline.analytics.periods import PeriodKind, period_containing
from topline.analytics.reports import fiscal_start_month
from topline.analytics.scope import org_scope, team_scope
from topline.auth.enums import Role
from topline.auth.models import User
from topline.crm.models import DealHistory
from topline.demo import build_demo

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def bench() -> ModuleType:
    """The benchmark script, imported as a module."""
    return load_script("reports")


@pytest.fixture(scope="module", params=backends())
def small_org(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Engine]:
    engine = fresh_engine(request.param, tmp_path_factory.mktemp("reports"), "reports_bench")
    build_demo(engine, size="small", seed=42)
    yield engine
    engine.dispose()


def test_the_baseline_figures_are_the_reports(bench: ModuleType, small_org: Engine) -> None:
    frames = bench._load(small_org)
    seen: dict[str, set[str]] = {name: set() for name in bench.BASELINES}
    with Session(small_org) as session:
        latest = bench._aware(session.scalar(select(func.max(DealHistory.valid_from))))
        month = fiscal_start_month(session)
        current = period_containing(latest.date(), PeriodKind.QUARTER, month)
        manager = session.scalars(
            select(User).where(User.role == Role.MANAGER).order_by(User.id)
        ).first()
        assert manager is not None
        moments = [
            (current.previous(), latest),
            (current, latest),
            (current.previous(), current.previous().start_at + timedelta(days=40)),
        ]
        for scope in (org_scope(), team_scope(manager)):
            owners = bench._owners(session, scope)
            for period, as_of in moments:
                for name, naive in bench.BASELINES.items():
                    expected = naive(frames, owners, period, as_of)
                    summary = REPORTS[name].run(session, scope, period, as_of, {}).summary
                    figures = bench._figures(summary.model_dump())
                    assert bench._matches(figures, expected), (name, scope.name, period, as_of)
                    seen[name] |= {key for key, value in expected.items() if value}
    # Every figure was something other than zero (or none) somewhere, except two the demo
    # never makes: the waterfall's `other` (handovers and moves before the period, none in
    # these windows) and won revenue without an account (every demo deal has one). The
    # hand-built fixtures of tests/analytics have both.
    never = {"other_cents", "no_account_cents"}
    for name, naive in bench.BASELINES.items():
        assert seen[name] == set(naive(frames, None, current, latest)) - never, name


def test_the_benchmark_times_and_checks_each_report(bench: ModuleType, small_org: Engine) -> None:
    names = list(bench.BASELINES)
    assert set(names) == set(REPORTS)  # every report has a baseline
    measured: dict[str, Any] = bench._measure(small_org, 1, names, baseline=True)
    entries = {
        (name, scope): entry
        for name, by_scope in measured["reports"].items()
        for scope, entry in by_scope.items()
    }
    assert set(entries) == {(name, scope) for name in names for scope in ("org", "team")}
    assert all(entry["median_seconds"] > 0 for entry in entries.values())
    checked = {key: entry["matches"] for key, entry in entries.items()}
    assert checked == dict.fromkeys(checked, True)
    assert all(entry["ratio"] > 0 for entry in entries.values())
