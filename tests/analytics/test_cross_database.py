"""SQLite and PostgreSQL give the same reports on the same data.

The tiny demo org is built once into a fresh SQLite file and once into a fresh PostgreSQL
database with the same seed. The data are first compared row for row (every table the build
fills, password hashes aside: each build salts its own), then every registered report is run
on both for the org, one team and one rep, two periods and two `as_of` moments, and the JSON of
each must be identical (floats within 1e-9). A difference is a portability bug in the report's
SQL, not something to tolerate here.

Needs PostgreSQL (`TOPLINE_TEST_DATABASE_URL`); skipped without it.
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from enum import Enum
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine, Table, select
from sqlalchemy.orm import Session

from tests.databases import PG_ENV, backends, fresh_engine
from topline.analytics.catalog import REPORTS
from topline.analytics.periods import Period, PeriodKind, period_containing
from topline.analytics.reports import fiscal_start_month
from topline.analytics.scope import Scope, org_scope, rep_scope, team_scope
from topline.auth.enums import Role
from topline.auth.models import User
from topline.crm.models import Deal
from topline.demo import build_demo
from topline.demo.builder import DEFAULT_AS_OF
from topline.storage.base import Base

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(
        "postgresql" not in backends(),
        reason=f"compares SQLite with PostgreSQL: set {PG_ENV} to a PostgreSQL server",
    ),
]

SEED = 11
TOLERANCE = 1e-9
# Options beyond the defaults that send a report down another query: every breakdown of the
# win rate, an explicit `since` for the change reports, another velocity window, the other
# rows of concentration and MRR.
EXTRA_OPTIONS: tuple[tuple[str, Mapping[str, str]], ...] = (
    ("win-rate", {"by": "segment"}),
    ("win-rate", {"by": "source"}),
    ("win-rate", {"by": "type"}),
    ("win-rate", {"by": "loss_reason"}),
    ("slippage", {"since": "2025-03-20T08:30:00"}),
    ("waterfall", {"since": "2025-03-20T08:30:00"}),
    ("velocity", {"window": "30"}),
    ("concentration", {"by": "reps"}),
    ("mrr", {"by": "account"}),
)
CASES: list[tuple[str, Mapping[str, str]]] = [(name, {}) for name in REPORTS] + [
    (name, options) for name, options in EXTRA_OPTIONS if name in REPORTS
]


@dataclass(frozen=True)
class Twins:
    """The same demo org on SQLite and on PostgreSQL."""

    sqlite: Engine
    postgresql: Engine


@pytest.fixture(scope="module")
def twins(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Twins]:
    directory: Path = tmp_path_factory.mktemp("cross")
    engines = {backend: fresh_engine(backend, directory, "cross") for backend in backends()}
    for engine in engines.values():
        build_demo(engine, size="tiny", seed=SEED)
    yield Twins(engines["sqlite"], engines["postgresql"])
    for engine in engines.values():
        engine.dispose()


# --- the data ----------------------------------------------------------------------------------


def _plain(value: Any) -> Any:
    """A value as both databases should hand it back: UTC moments, enum values, exact ints."""
    if isinstance(value, datetime):
        moment = value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)
        return moment.isoformat()
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, Enum):
        return value.value
    return value


def _rows(engine: Engine, table: Table) -> list[tuple[Any, ...]]:
    columns = [c for c in table.columns if "password" not in c.name]
    order = list(table.primary_key.columns) or columns
    with Session(engine) as session:
        result = session.execute(select(*columns).order_by(*order))
        return [tuple(_plain(value) for value in row) for row in result]


def test_the_demo_data_are_identical_on_both_databases(twins: Twins) -> None:
    """Every table row for row, so any report difference below comes from the reports."""
    checked = 0
    for table in Base.metadata.sorted_tables:
        sqlite_rows = _rows(twins.sqlite, table)
        postgresql_rows = _rows(twins.postgresql, table)
        assert len(sqlite_rows) == len(postgresql_rows), table.name
        for left, right in zip(sqlite_rows, postgresql_rows, strict=True):
            assert _same(left, right), f"{table.name}: {left} != {right}"
        checked += len(sqlite_rows)
    with Session(twins.sqlite) as session:
        assert session.query(Deal).count() == 300
    assert checked > 1_000


# --- the reports -------------------------------------------------------------------------------


def _same(left: Any, right: Any) -> bool:
    """Equal JSON values, floats within `TOLERANCE` (absolute or relative)."""
    return not _differences(left, right, "")


def _differences(left: Any, right: Any, path: str) -> list[str]:
    if isinstance(left, float) or isinstance(right, float):
        if (
            isinstance(left, int | float)
            and isinstance(right, int | float)
            and not isinstance(left, bool)
            and not isinstance(right, bool)
            and math.isclose(left, right, rel_tol=TOLERANCE, abs_tol=TOLERANCE)
        ):
            return []
        return [f"{path}: {left!r} != {right!r}"]
    if isinstance(left, dict) and isinstance(right, dict):
        if left.keys() != right.keys():
            return [f"{path}: keys {sorted(left)} != {sorted(right)}"]
        return [d for key in left for d in _differences(left[key], right[key], f"{path}.{key}")]
    if isinstance(left, list | tuple) and isinstance(right, list | tuple):
        if len(left) != len(right):
            return [f"{path}: {len(left)} items != {len(right)} items"]
        return [
            d
            for i, (a, b) in enumerate(zip(left, right, strict=True))
            for d in _differences(a, b, f"{path}[{i}]")
        ]
    return [] if left == right and type(left) is type(right) else [f"{path}: {left!r} != {right!r}"]


def _scopes(session: Session) -> list[Scope]:
    """The org, the team of the first manager with reports, and the rep owning most deals."""
    manager = session.scalars(
        select(User)
        .where(User.role == Role.MANAGER, User.id.in_(select(User.manager_id)))
        .order_by(User.id)
    ).first()
    owner_id = session.scalars(
        select(Deal.owner_id)
        .join(User, User.id == Deal.owner_id)
        .where(User.role == Role.REP)
        .group_by(Deal.owner_id)
        .order_by(Deal.owner_id)
    ).first()
    assert manager is not None and owner_id is not None
    return [org_scope(), team_scope(manager), rep_scope(session.get_one(User, owner_id))]


def _windows(session: Session, as_of: datetime) -> list[tuple[Period, datetime]]:
    """The fiscal quarter of the demo's `as_of` and the previous fiscal year, each as of the
    demo's `as_of` and as of a moment in the middle of that year."""
    month = fiscal_start_month(session)
    quarter = period_containing(as_of.date(), PeriodKind.QUARTER, month)
    year = period_containing(as_of.date(), PeriodKind.YEAR, month).previous()
    earlier = year.start_at + timedelta(days=200, hours=7, minutes=30)
    return [(period, moment) for period in (quarter, year) for moment in (as_of, earlier)]


def _run_all(engine: Engine, name: str, options: Mapping[str, str]) -> dict[str, dict[str, Any]]:
    spec = REPORTS[name]
    results = {}
    with Session(engine) as session:
        for scope in _scopes(session):
            for period, as_of in _windows(session, DEFAULT_AS_OF):
                report = spec.run(session, scope, period, as_of, options)
                key = f"{scope.kind.value} {scope.user_id} {period.label} as of {as_of}"
                results[key] = report.model_dump(mode="json")
    return results


@pytest.mark.parametrize(
    ("name", "options"),
    CASES,
    ids=[name + "".join(f" {k}={v}" for k, v in opts.items()) for name, opts in CASES],
)
def test_every_report_gives_the_same_json_on_both_databases(
    twins: Twins, name: str, options: Mapping[str, str]
) -> None:
    on_sqlite = _run_all(twins.sqlite, name, options)
    on_postgresql = _run_all(twins.postgresql, name, options)
    assert on_sqlite.keys() == on_postgresql.keys()
    differences = [
        f"{key}: {difference}"
        for key in on_sqlite
        for difference in _differences(on_sqlite[key], on_postgresql[key], "")
    ]
    assert not differences, "\n".join(differences[:20])
    # Not vacuous: the reports found something to count somewhere.
    assert any(report["rows"] for report in on_sqlite.values())
