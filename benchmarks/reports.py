"""How fast the reports answer, against a naive pandas baseline, on SQLite and PostgreSQL.

Builds the demo org once per database (the large one, ~1M deals, by default; `--reuse` keeps
and reuses it), then times every registered report for the whole org and for one team (the
manager with the largest reporting subtree), for the last full fiscal quarter as of the build.
Each report is timed as the API answers it by default (its summary and the first page of its
rows, `topline.analytics.paging.DEFAULT_LIMIT`); a report with more rows than that is timed
again with all of them (`all_rows_median_seconds`), as the export and the CLI make them.
In the same run it times a naive baseline: load every deal, stage and history row into pandas
and compute the same headline figures there (for the rep comparison: how many people it
compares and the medians of its metrics but attainment and the stage conversions, which the
attainment and funnel baselines check). The baseline also checks
the figures: `matches` says whether Topline's summary equals the baseline's. Prints one JSON
document; progress goes to stderr.

    .venv/bin/python benchmarks/reports.py --size medium --backends sqlite
    .venv/bin/python benchmarks/reports.py --reuse            # large, both databases
    .venv/bin/python benchmarks/reports.py --reuse --reports funnel,reps --no-baseline
"""

from __future__ import annotations

import argparse
import gc
import json
import statistics
import sys
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pandas as pd
from sqlalchemy import Engine, create_engine, func, select, text
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session

from topline.analytics.catalog import REPORTS
from topline.analytics.paging import ALL_ROWS, DEFAULT_LIMIT, RowPage
from topline.analytics.periods import PeriodKind, period_containing
from topline.analytics.reports import fiscal_start_month
from topline.analytics.scope import Scope, org_scope, team_scope
from topline.auth.enums import Role
from topline.auth.models import User
from topline.crm.models import DealHistory
from topline.demo import build_demo
from topline.storage.db import make_engine, normalize_database_url

BENCH_DATABASE = "topline_bench_reports"
FIRST_PAGE = RowPage(0, DEFAULT_LIMIT)  # what the API hands back when no page is asked for
CACHE = Path.home() / ".cache" / "topline-bench"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", default="large", help="demo org size")
    parser.add_argument("--backends", default="sqlite,postgresql")
    parser.add_argument("--pg-url", default="postgresql://postgres@127.0.0.1:5432/postgres")
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--runs", type=int, default=5, help="timed runs per measurement")
    parser.add_argument("--reuse", action="store_true", help="keep and reuse the built orgs")
    parser.add_argument(
        "--reports", default="", help="comma-separated report names to time (default: all)"
    )
    parser.add_argument("--no-baseline", action="store_true", help="skip the naive pandas baseline")
    args = parser.parse_args()
    names = [name.strip() for name in args.reports.split(",") if name.strip()]
    unknown = sorted(set(names) - set(REPORTS))
    if unknown:
        parser.error(f"unknown reports: {', '.join(unknown)}; known: {', '.join(REPORTS)}")
    results = {}
    for backend in (name.strip() for name in args.backends.split(",")):
        engine = _database(backend, args)
        try:
            results[backend] = _measure(
                engine, args.runs, names or list(REPORTS), baseline=not args.no_baseline
            )
        finally:
            engine.dispose()
            if backend == "postgresql" and not args.reuse:
                _drop(args.pg_url)
    json.dump({"size": args.size, "seed": args.seed, "results": results}, sys.stdout, indent=2)
    sys.stdout.write("\n")


def _log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def _database(backend: str, args: argparse.Namespace) -> Engine:
    """The demo org on `backend`, built now or (with --reuse) found from an earlier run."""
    if backend == "sqlite":
        CACHE.mkdir(parents=True, exist_ok=True)
        path = CACHE / f"reports-{args.size}-{args.seed}.sqlite"
        if not (args.reuse and path.exists()):
            for stale in path.parent.glob(path.name + "*"):
                stale.unlink()
            _build(make_engine(f"sqlite:///{path}"), args)
        return make_engine(f"sqlite:///{path}")
    admin = create_engine(normalize_database_url(args.pg_url), isolation_level="AUTOCOMMIT")
    url = make_url(normalize_database_url(args.pg_url)).set(database=BENCH_DATABASE)
    with admin.connect() as connection:
        exists = connection.scalar(
            text("SELECT 1 FROM pg_database WHERE datname = :name"), {"name": BENCH_DATABASE}
        )
        if not (args.reuse and exists):
            connection.execute(text(f'DROP DATABASE IF EXISTS "{BENCH_DATABASE}" WITH (FORCE)'))
            connection.execute(text(f'CREATE DATABASE "{BENCH_DATABASE}"'))
            exists = False
    admin.dispose()
    engine = make_engine(url.render_as_string(hide_password=False))
    if not exists:
        _build(engine, args)
    return engine


def _build(engine: Engine, args: argparse.Namespace) -> None:
    started = time.perf_counter()

    def progress(phase: str, done: int, total: int) -> None:
        _log(f"build: {phase} {done}/{total}")

    build_demo(engine, size=args.size, seed=args.seed, progress=progress)
    _log(f"built {args.size} in {time.perf_counter() - started:.0f} s")


def _drop(pg_url: str) -> None:
    admin = create_engine(normalize_database_url(pg_url), isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.execute(text(f'DROP DATABASE IF EXISTS "{BENCH_DATABASE}" WITH (FORCE)'))
    admin.dispose()


def _timed(work: Callable[[], Any], runs: int) -> tuple[float, Any]:
    seconds = []
    result = None
    for _ in range(runs):
        started = time.perf_counter()
        result = work()
        seconds.append(time.perf_counter() - started)
    return statistics.median(seconds), result


def _measure(
    engine: Engine, runs: int, names: list[str], *, baseline: bool = True
) -> dict[str, Any]:
    with Session(engine) as session:
        latest = session.scalar(select(func.max(DealHistory.valid_from)))
        as_of = _aware(latest) + timedelta(seconds=1)
        month = fiscal_start_month(session)
        quarter = period_containing(as_of.date(), PeriodKind.QUARTER, month).previous()
        managers = session.execute(
            select(User.manager_id, func.count()).where(User.manager_id.is_not(None))
            .group_by(User.manager_id).order_by(func.count().desc()).limit(1)
        ).first()  # fmt: skip
        manager = session.get(User, managers[0]) if managers else None
        scopes: dict[str, Scope] = {"org": org_scope()}
        if manager is not None and manager.role == Role.MANAGER:
            scopes["team"] = team_scope(manager)
        out: dict[str, Any] = {"as_of": as_of.isoformat(), "period": quarter.label, "reports": {}}
        baseline_seconds = 0.0
        for scope_name, scope in scopes.items():
            # The reports first, then the baseline: with its frames in memory (gigabytes on the
            # large org) the same reports took up to half as long again.
            timed: dict[str, tuple[float, Any]] = {}
            all_rows: dict[str, float] = {}
            for name in names:
                spec = REPORTS[name]
                _log(f"{engine.dialect.name}: {name} for {scope_name}")
                for page in (FIRST_PAGE, ALL_ROWS):
                    seconds, report = _timed(
                        lambda spec=spec, scope=scope, page=page: spec.run(
                            session, scope, quarter, as_of, {}, page
                        ),
                        runs,
                    )
                    if page is FIRST_PAGE:
                        timed[name] = seconds, report
                        if len(report.rows) == report.total_rows:
                            break
                    else:
                        all_rows[name] = seconds
            frames = None
            if baseline and any(name in BASELINES for name in names):
                _log(f"{engine.dialect.name}: naive baseline for {scope_name}")
                baseline_seconds, frames = _timed(lambda: _load(engine), 1)
            owners = _owners(session, scope)
            for name, (seconds, report) in timed.items():
                entry: dict[str, Any] = {
                    "median_seconds": round(seconds, 4),
                    "total_rows": report.total_rows,
                    "all_rows_median_seconds": round(all_rows.get(name, seconds), 4),
                }
                naive = BASELINES.get(name) if frames is not None else None
                if naive is not None:
                    # Once: the baseline takes seconds where the reports take a fraction.
                    compute_seconds, expected = _timed(
                        lambda naive=naive, frames=frames, owners=owners: naive(
                            frames, owners, quarter, as_of
                        ),
                        1,
                    )
                    total = baseline_seconds + compute_seconds
                    entry.update(
                        baseline_seconds=round(total, 4),
                        ratio=round(seconds / total, 4),
                        matches=_matches(_figures(report.summary.model_dump()), expected),
                    )
                else:
                    entry.update(baseline_seconds=None, ratio=None, matches=None)
                out["reports"].setdefault(name, {})[scope_name] = entry
            del frames
            gc.collect()
        out["baseline_load_seconds"] = round(baseline_seconds, 3) if baseline else None
    return out


def _aware(value: Any) -> datetime:
    moment = datetime.fromisoformat(value) if isinstance(value, str) else value
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment


def _owners(session: Session, scope: Scope) -> set[int] | None:
    return None if scope.owners is None else set(session.scalars(scope.owners))


# --- The naive baseline: everything in pandas ------------------------------------------------


def _load(engine: Engine) -> dict[str, pd.DataFrame]:
    with engine.connect() as connection:
        history = pd.read_sql(
            text("SELECT id, deal_id, valid_from, valid_to, stage_id, amount_cents, close_date, "
                 "owner_id FROM deal_history"), connection)  # fmt: skip
        stages = pd.read_sql(text("SELECT id, type, probability FROM stages"), connection)
        users = pd.read_sql(
            text("SELECT id, role, hired_at, left_at FROM users"), connection
        )  # fmt: skip
        deals = pd.read_sql(
            text("SELECT id, created_at, account_id, type AS deal_type, recurring_amount_cents "
                 "FROM deals"), connection)  # fmt: skip
        activities = pd.read_sql(text("SELECT user_id, occurred_at FROM activities"), connection)
    for column in ("valid_from", "valid_to"):
        history[column] = pd.to_datetime(history[column], utc=True, format="ISO8601")
    deals["created_at"] = pd.to_datetime(deals["created_at"], utc=True, format="ISO8601")
    history["close_date"] = pd.to_datetime(history["close_date"]).dt.date
    history = history.merge(stages.rename(columns={"id": "stage_id"}), on="stage_id")
    for column in ("hired_at", "left_at"):
        users[column] = pd.to_datetime(users[column], utc=True, format="ISO8601")
    activities["occurred_at"] = pd.to_datetime(
        activities["occurred_at"], utc=True, format="ISO8601"
    )
    return {"history": history, "deals": deals, "users": users, "activities": activities}


def _state(frames: dict[str, pd.DataFrame], owners: set[int] | None, at: datetime) -> pd.DataFrame:
    h = frames["history"]
    moment = pd.Timestamp(at)
    state = h[(h["valid_from"] <= moment) & (h["valid_to"].isna() | (h["valid_to"] > moment))]
    return state if owners is None else state[state["owner_id"].isin(owners)]


def _closes(frames: dict[str, pd.DataFrame], at: datetime) -> pd.Series:
    h = frames["history"]
    h = h[h["valid_from"] <= pd.Timestamp(at)].sort_values(["deal_id", "valid_from", "id"])
    previous = h.groupby("deal_id")["type"].shift()
    closing = h[(h["type"] != "open") & (previous.isna() | (previous == "open"))]
    return closing.groupby("deal_id")["valid_from"].max()


def _closed(frames: dict[str, pd.DataFrame], owners: set[int] | None, period: Any,
            at: datetime) -> pd.DataFrame:  # fmt: skip
    state = _state(frames, owners, at)
    state = state[state["type"] != "open"].set_index("deal_id")
    closes = _closes(frames, at)
    state = state.join(closes.rename("closed_at"), how="inner")
    start, end = pd.Timestamp(period.start_at), pd.Timestamp(period.end_at)
    return state[(state["closed_at"] >= start) & (state["closed_at"] < end)]


def _pipeline(frames: dict[str, pd.DataFrame], owners: set[int] | None, period: Any,
              at: datetime) -> dict[str, Any]:  # fmt: skip
    state = _state(frames, owners, at)
    open_ = state[(state["type"] == "open") & _in(state["close_date"], period)]
    return {"deals": len(open_), "amount_cents": int(open_["amount_cents"].sum())}


def _win_rate(frames: dict[str, pd.DataFrame], owners: set[int] | None, period: Any,
              at: datetime) -> dict[str, Any]:  # fmt: skip
    closes = _won_lost(frames, owners, period, at)
    return {"won": closes["deals_won"], "lost": closes["deals_lost"],
            "won_amount_cents": closes["won_cents"]}  # fmt: skip


def _won_days(frames: dict[str, pd.DataFrame], closed: pd.DataFrame) -> pd.Series:
    """The UTC calendar days from creation to close of the won deals among `closed` (a close
    recorded before the creation counts as the same day)."""
    won = closed[closed["type"] == "won"]
    created = frames["deals"]["created_at"].set_axis(frames["deals"]["id"]).reindex(won.index)
    return (won["closed_at"].dt.normalize() - created.dt.normalize()).dt.days.clip(lower=0)


def _cycle(frames: dict[str, pd.DataFrame], owners: set[int] | None, period: Any,
           at: datetime) -> dict[str, Any]:  # fmt: skip
    won_days = _won_days(frames, _closed(frames, owners, period, at))
    return {"won": len(won_days),
            "median_days": float(won_days.median()) if len(won_days) else None}  # fmt: skip


def _owned(owner_ids: pd.Series, owners: set[int] | None) -> pd.Series:
    return owner_ids.notna() if owners is None else owner_ids.isin(owners)


def _in(close_dates: pd.Series, period: Any) -> pd.Series:
    return close_dates.notna() & (close_dates >= period.start) & (close_dates < period.end)


def _slippage(frames: dict[str, pd.DataFrame], owners: set[int] | None, period: Any,
              at: datetime) -> dict[str, Any]:  # fmt: skip
    """Every row of every deal beside the row before it: the pushes are the rows in the window
    that keep an open deal open and move its close date later, past the period, from a date in
    the period or after it."""
    since = min(period.start_at, at)
    h = frames["history"].sort_values(["deal_id", "valid_from", "id"])
    before = h.groupby("deal_id")[["type", "close_date", "owner_id", "amount_cents"]].shift()
    is_push = (
        (h["valid_from"] > pd.Timestamp(since)) & (h["valid_from"] <= pd.Timestamp(at))
        & (before["type"] == "open") & (h["type"] == "open")
        & (h["close_date"] > before["close_date"]) & (before["close_date"] >= period.start)
        & (h["close_date"] >= period.end)
    )  # fmt: skip
    pushes = h.loc[is_push, ["deal_id"]].join(before.loc[is_push])
    per_deal = pushes.groupby("deal_id").size()
    first_out = pushes[pushes["close_date"] < period.end].groupby("deal_id").head(1)
    listed = first_out[_owned(first_out["owner_id"], owners)]
    at_since = _state(frames, owners, since)
    at_since = at_since[(at_since["type"] == "open") & _in(at_since["close_date"], period)]
    slipped = at_since[at_since["deal_id"].isin(first_out["deal_id"])]
    return {
        "deals_pushed": len(listed),
        "pushes": int(per_deal.loc[listed["deal_id"]].sum()),
        "amount_pushed_cents": int(listed["amount_cents"].sum()),
        "pipeline_at_since_cents": int(at_since["amount_cents"].sum()),
        "slipped_at_since_cents": int(slipped["amount_cents"].sum()),
    }


def _waterfall(frames: dict[str, pd.DataFrame], owners: set[int] | None, period: Any,
               at: datetime) -> dict[str, Any]:  # fmt: skip
    """Every deal's state at A and at B side by side, classified as the report documents."""
    since = min(period.start_at, at)
    a = _state(frames, None, since).set_index("deal_id")
    b = _state(frames, None, at).set_index("deal_id")
    b = b.join(_closes(frames, at).rename("closed_at"))
    a = a.reindex(b.index)  # every deal at A still exists at B
    owned_a, owned_b = _owned(a["owner_id"], owners), _owned(b["owner_id"], owners)
    in_a = (a["type"] == "open") & _in(a["close_date"], period) & owned_a
    in_b = (b["type"] == "open") & _in(b["close_date"], period) & owned_b
    closed_in_window = (
        (b["type"] != "open") & _in(b["close_date"], period)
        & (b["closed_at"] > pd.Timestamp(since)) & owned_b
    )  # fmt: skip
    amount_a, amount_b = a["amount_cents"].fillna(0), b["amount_cents"]
    came = ~in_a & (in_b | closed_in_window)
    left = (in_a | closed_in_window) & ~in_b
    created = came & a["type"].isna()
    handed_in = came & a["type"].notna() & ~owned_a
    pulled_in = came & a["type"].notna() & owned_a
    handed_out = left & ~owned_b
    won = left & owned_b & (b["type"] == "won")
    lost = left & owned_b & (b["type"] == "lost")
    pushed_out = left & owned_b & (b["type"] == "open") & (b["close_date"] >= period.end)
    moved_earlier = left & owned_b & (b["type"] == "open") & (b["close_date"] < period.start)
    change = (amount_b - amount_a).where(in_a, 0)

    def cents(flags: pd.Series, amounts: pd.Series = amount_b) -> int:
        return int(amounts[flags].sum())

    return {
        "open_at_since_deals": int(in_a.sum()),
        "open_at_since_cents": cents(in_a, amount_a),
        "created_cents": cents(created),
        "pulled_in_cents": cents(pulled_in),
        "increased_cents": int(change[change > 0].sum()),
        "decreased_cents": int(-change[change < 0].sum()),
        "pushed_out_cents": cents(pushed_out),
        "won_cents": cents(won),
        "lost_cents": cents(lost),
        "other_cents": cents(handed_out) + cents(moved_earlier) - cents(handed_in),
        "open_at_as_of_deals": int(in_b.sum()),
        "open_at_as_of_cents": cents(in_b),
        "reconciles": True,
    }


def _concentration(frames: dict[str, pd.DataFrame], owners: set[int] | None, period: Any,
                   at: datetime) -> dict[str, Any]:  # fmt: skip
    closed = _closed(frames, owners, period, at)
    won = closed[closed["type"] == "won"].join(frames["deals"].set_index("id")["account_id"])

    def top(by: pd.Series) -> tuple[int, int]:
        amounts = won.groupby(by)["amount_cents"].sum()
        amounts = amounts[amounts > 0].sort_values(ascending=False)
        top_count = -(-len(amounts) // 5)  # ceil(20%)
        return len(amounts), int(amounts.iloc[:top_count].sum())

    accounts, top_accounts_cents = top(won["account_id"])  # groupby leaves out no account
    reps, top_reps_cents = top(won["owner_id"])
    return {
        "won_deals": len(won),
        "won_cents": int(won["amount_cents"].sum()),
        "accounts": accounts,
        "top_accounts_cents": top_accounts_cents,
        "no_account_cents": int(won.loc[won["account_id"].isna(), "amount_cents"].sum()),
        "reps": reps,
        "top_reps_cents": top_reps_cents,
    }


def _won_lost(frames: dict[str, pd.DataFrame], owners: set[int] | None, period: Any,
              at: datetime) -> dict[str, Any]:  # fmt: skip
    """The closes of the leaderboard, attainment and coverage: won and lost deals and the won
    amount (their quotas are not worked out again here)."""
    return _tally(_closed(frames, owners, period, at))


def _tally(closed: pd.DataFrame) -> dict[str, Any]:
    won = closed[closed["type"] == "won"]
    return {
        "deals_won": len(won),
        "deals_lost": len(closed) - len(won),
        "won_cents": int(won["amount_cents"].sum()),
        "win_rate": len(won) / len(closed) if len(closed) else None,
    }


def _attainment(frames: dict[str, pd.DataFrame], owners: set[int] | None, period: Any,
                at: datetime) -> dict[str, Any]:  # fmt: skip
    return {"won_cents": _won_lost(frames, owners, period, at)["won_cents"]}


def _coverage(frames: dict[str, pd.DataFrame], owners: set[int] | None, period: Any,
              at: datetime) -> dict[str, Any]:  # fmt: skip
    return {
        "won_cents": _won_lost(frames, owners, period, at)["won_cents"],
        "open_pipeline_cents": _pipeline(frames, owners, period, at)["amount_cents"],
    }


class _Window:
    """The velocity report's trailing 90 UTC days, ending with the day of `as_of`."""

    def __init__(self, at: datetime) -> None:
        last = datetime.combine(at.astimezone(UTC).date(), datetime.min.time(), tzinfo=UTC)
        self.start_at, self.end_at = last - timedelta(days=89), last + timedelta(days=1)


def _velocity(frames: dict[str, pd.DataFrame], owners: set[int] | None, _period: Any,
              at: datetime) -> dict[str, Any]:  # fmt: skip
    closed = _closed(frames, owners, _Window(at), at)
    closes, days = _tally(closed), _won_days(frames, closed)
    state = _state(frames, owners, at)
    return {
        "open_deals": int((state["type"] == "open").sum()),
        "won": closes["deals_won"],
        "lost": closes["deals_lost"],
        "won_amount_cents": closes["won_cents"],
        "win_rate": closes["win_rate"],
        "average_cycle_days": float(days.sum()) / len(days) if len(days) else None,
    }


def _entered(frames: dict[str, pd.DataFrame], period: Any, at: datetime) -> pd.Series:
    """The deals that entered an open stage in the period, by `as_of`: a row in another stage
    than the row before it, or the first row."""
    h = frames["history"].sort_values(["deal_id", "valid_from", "id"])
    before = h.groupby("deal_id")["stage_id"].shift()
    starts = h["valid_from"]
    return h.loc[
        (h["type"] == "open") & (h["stage_id"] != before)
        & (starts >= pd.Timestamp(period.start_at)) & (starts < pd.Timestamp(period.end_at))
        & (starts <= pd.Timestamp(at)),
        "deal_id",
    ]  # fmt: skip


def _funnel(frames: dict[str, pd.DataFrame], owners: set[int] | None, period: Any,
            at: datetime) -> dict[str, Any]:  # fmt: skip
    """The deals that entered an open stage in the period (`_entered`), owned in the scope at
    `as_of`, and how many of them were won and lost then."""
    state = _state(frames, owners, at)
    cohort = state[state["deal_id"].isin(_entered(frames, period, at))]
    won, lost = int((cohort["type"] == "won").sum()), int((cohort["type"] == "lost").sum())
    return {
        "deals": len(cohort),
        "won": won,
        "lost": lost,
        "conversion_to_won": won / len(cohort) if len(cohort) else None,
    }


def _mrr(frames: dict[str, pd.DataFrame], owners: set[int] | None, period: Any,
         at: datetime) -> dict[str, Any]:  # fmt: skip
    """MRR at `as_of` and 12 months before, replayed deal by deal from the subscription deals
    as known at `as_of` (won with a recurring amount, or renewals lost, at their latest close),
    and the period's bookings by deal type."""
    deals = frames["deals"].set_index("id")
    state = _state(frames, owners, at).set_index("deal_id").join(deals)
    state = state.join(_closes(frames, at).rename("closed_at"), how="inner")
    subscriptions = state[
        ((state["type"] == "won") & state["recurring_amount_cents"].notna())
        | ((state["type"] == "lost") & (state["deal_type"] == "renewal"))
    ]
    subscriptions = subscriptions.rename_axis("deal_id").reset_index()
    subscriptions = subscriptions.sort_values(["closed_at", "deal_id"])

    def mrr_at(moment: pd.Timestamp) -> int:
        mrr: dict[Any, int] = {}
        events = subscriptions[subscriptions["closed_at"] <= moment]
        for deal_id, account_id, stage_type, deal_type, recurring in zip(
            events["deal_id"], events["account_id"], events["type"], events["deal_type"],
            events["recurring_amount_cents"], strict=True,
        ):  # fmt: skip
            account = -deal_id if pd.isna(account_id) else account_id
            if deal_type == "renewal":
                mrr[account] = int(recurring) if stage_type == "won" else 0
            elif stage_type == "won":
                mrr[account] = mrr.get(account, 0) + int(recurring)
        return sum(mrr.values())

    closed = _closed(frames, owners, period, at).join(deals["deal_type"])
    won = closed[closed["type"] == "won"].groupby("deal_type")["amount_cents"].sum()
    return {
        "mrr_cents": mrr_at(pd.Timestamp(at)),
        "mrr_12_months_ago_cents": mrr_at(pd.Timestamp(at) - pd.DateOffset(months=12)),
        "new_business_cents": int(won.get("new_business", 0)),
        "expansion_cents": int(won.get("expansion", 0)),
        "renewal_cents": int(won.get("renewal", 0)),
    }


def _ramp(frames: dict[str, pd.DataFrame], owners: set[int] | None, _period: Any,
          at: datetime) -> dict[str, Any]:  # fmt: skip
    """New reps (hired in the 12 months up to `as_of`) and how many days each took until the
    won amount of 90 consecutive days, day by day, reached the median of the tenured reps'
    last 90 days (reps hired over a year before and still employed)."""
    today = pd.Timestamp(at.astimezone(UTC).date(), tz=UTC)
    now = pd.Timestamp(at)
    users = frames["users"]
    reps = users[(users["role"] == "rep") & _owned(users["id"], owners)]
    year_ago = today - pd.DateOffset(months=12)
    tenured = reps[(reps["hired_at"] < year_ago)
                   & (reps["left_at"].isna() | (reps["left_at"] > now))]  # fmt: skip
    new = reps[(reps["hired_at"] >= year_ago) & (reps["hired_at"] <= now)]
    state = _state(frames, None, at)
    won = state[state["type"] == "won"].set_index("deal_id")
    won = won.join(_closes(frames, at).rename("closed_at"), how="inner")
    recent = won[won["closed_at"] >= today - pd.Timedelta(days=89)]
    last_year = won[won["closed_at"] >= year_ago + pd.Timedelta(days=1)]

    def median(values: list[float]) -> int | None:
        return round(statistics.median(values)) if values else None

    def booked(closes: pd.DataFrame, rep_id: int) -> int:
        return int(closes.loc[closes["owner_id"] == rep_id, "amount_cents"].sum())

    bar = median([booked(recent, rep_id) for rep_id in tenured["id"]])
    monthly = median([booked(last_year, rep_id) / 12 for rep_id in tenured["id"]])
    ramp_days = []
    for rep_id, hired_at in zip(new["id"], new["hired_at"], strict=True):
        mine = won[won["owner_id"] == rep_id]
        days = (mine["closed_at"].dt.normalize() - hired_at.normalize()).dt.days
        by_day = mine["amount_cents"].groupby(days[days >= 0]).sum().sort_index()
        for day in by_day.index if bar is not None else []:
            if by_day[(by_day.index > day - 90) & (by_day.index <= day)].sum() >= bar:
                ramp_days.append(int(day))
                break
    return {
        "new_reps": len(new),
        "ramped_reps": len(ramp_days),
        "tenured_reps": len(tenured),
        "bar_cents": bar,
        "tenured_monthly_median_cents": monthly,
        "median_ramp_days": statistics.median(ramp_days) if ramp_days else None,
    }


def _reps(frames: dict[str, pd.DataFrame], owners: set[int] | None, period: Any,
          at: datetime) -> dict[str, Any]:  # fmt: skip
    """How many people the rep comparison compares and the medians of its metrics other than
    attainment and the stage conversions (whose figures the attainment and funnel baselines
    check): each person's figure worked out from the frames, then the median over the people
    with one.

    The people: the scope's reps employed during some of the period, and whoever in the scope
    owns a deal counted (created in the period, open closing in it at `as_of`, closed in it,
    or entered an open stage in it, by owner at `as_of`)."""
    start, end, now = pd.Timestamp(period.start_at), pd.Timestamp(period.end_at), pd.Timestamp(at)
    h = frames["history"].sort_values(["deal_id", "valid_from", "id"])
    first = h.groupby("deal_id").head(1)
    created = first[(first["valid_from"] >= start) & (first["valid_from"] < end)
                    & (first["valid_from"] <= now) & _owned(first["owner_id"], owners)]  # fmt: skip
    state = _state(frames, owners, at)
    open_ = state[(state["type"] == "open") & _in(state["close_date"], period)]
    closed = _closed(frames, owners, period, at)
    won = closed[closed["type"] == "won"]
    cycle_days = _won_days(frames, closed)
    entered_owners = state.loc[state["deal_id"].isin(_entered(frames, period, at)), "owner_id"]
    activities = frames["activities"]
    done = activities[(activities["occurred_at"] >= start) & (activities["occurred_at"] < end)
                      & (activities["occurred_at"] <= now)]  # fmt: skip
    users = frames["users"]
    employed = users[(users["role"] == "rep") & (users["hired_at"] < end)
                     & (users["left_at"].isna() | (users["left_at"] > start))]  # fmt: skip
    people = set(employed["id"]) | set(created["owner_id"]) | set(open_["owner_id"])
    people |= set(closed["owner_id"]) | set(entered_owners)
    people = {person for person in people if owners is None or person in owners}

    def counts(by: pd.Series) -> dict[int, int]:
        return {int(key): int(value) for key, value in by.items()}

    created_deals = counts(created.groupby("owner_id").size())
    created_cents = counts(created.groupby("owner_id")["amount_cents"].sum())
    open_cents = counts(open_.groupby("owner_id")["amount_cents"].sum())
    won_deals = counts(won.groupby("owner_id").size())
    closed_deals = counts(closed.groupby("owner_id").size())
    won_cents = counts(won.groupby("owner_id")["amount_cents"].sum())
    cycles = cycle_days.groupby(won["owner_id"]).median()
    done_count = counts(done.groupby("user_id").size())

    def median(values: list[Any], *, cents: bool = False) -> float | int | None:
        known = [value for value in values if value is not None]
        if not known:
            return None
        found = statistics.median(known)
        return round(found) if cents else float(found)

    def of(found: dict[int, int]) -> list[int]:
        return [found.get(person, 0) for person in people]

    rates = [won_deals.get(p, 0) / closed_deals[p] for p in people if closed_deals.get(p)]
    averages = [round(won_cents[p] / won_deals[p]) for p in people if won_deals.get(p)]
    return {
        "reps": len(people),
        "deals_created": median(of(created_deals)),
        "pipeline_created_cents": median(of(created_cents), cents=True),
        "open_pipeline_cents": median(of(open_cents), cents=True),
        "win_rate": median(rates),
        "won_cents": median(of(won_cents), cents=True),
        "average_won_cents": median(averages, cents=True),
        "median_cycle_days": median([float(cycles[p]) for p in people if p in cycles.index]),
        "activities": median(of(done_count)),
    }


BASELINES: dict[str, Callable[..., dict[str, Any]]] = {
    "reps": _reps,
    "ramp": _ramp,
    "mrr": _mrr,
    "funnel": _funnel,
    "pipeline": _pipeline,
    "win-rate": _win_rate,
    "cycle": _cycle,
    "velocity": _velocity,
    "leaderboard": _won_lost,
    "attainment": _attainment,
    "coverage": _coverage,
    "slippage": _slippage,
    "waterfall": _waterfall,
    "concentration": _concentration,
}


def _figures(summary: dict[str, Any]) -> dict[str, Any]:
    """A summary's figures by name: the rep comparison's medians by their metric's name."""
    medians = {row["metric"]: row["median"] for row in summary.get("medians", ())}
    return {**summary, **medians}


def _matches(summary: dict[str, Any], expected: dict[str, Any]) -> bool:
    return all(
        summary.get(key) == value
        or (
            isinstance(value, float)
            and summary.get(key) is not None
            and abs(summary[key] - value) < 1e-9
        )
        for key, value in expected.items()
    )


if __name__ == "__main__":
    main()
