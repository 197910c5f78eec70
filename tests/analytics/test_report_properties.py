"""Properties every registered report keeps on any deal history, on both databases.

Each example builds a random history through the deal services (create, edit amount and close
date, move stages, win, lose, reopen, hand over; every change of a deal later than the one
before) in a small org, then checks:

- every rate, conversion and share is None or a fraction in [0, 1], for every report in
  `REPORTS`, for the org and a team or a rep, for random periods and moments;
- as of the last change or later ("now"), the pipeline, win-rate and the other current-state
  figures agree with a direct reading of the `deals` table's current rows, reopened deals
  included;
- splitting a team into sub-teams sums back to the whole: with manager M over sub-managers A
  and B, the additive figures of team M equal team A + team B + M's own deals.

That the waterfall reconciles for random histories and moments is checked by
`test_waterfall_reconciles_for_any_history` in tests/analytics/test_change_reports.py.

The org: manager M, sub-managers A and B reporting to M, reps A1 and A2 reporting to A, rep B1
reporting to B, and rep O outside M's team. Every one of them may own deals.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any

from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from tests.factories import make_deal, make_pipeline, make_user, open_stages
from topline.analytics.catalog import REPORTS
from topline.analytics.periods import Period, custom_period, month_period, quarter_period
from topline.analytics.reports import pipeline_report, win_rate_report
from topline.analytics.scope import Scope, org_scope, rep_scope, team_scope
from topline.auth.enums import Role
from topline.auth.models import User
from topline.crm.deals import (
    change_deal_owner,
    close_deal_lost,
    close_deal_won,
    move_deal_to_stage,
    reopen_deal,
    update_deal,
)
from topline.crm.enums import StageType
from topline.crm.models import Deal, Pipeline, Stage
from topline.crm.schemas import DealUpdate

BASE = datetime(2025, 1, 1, tzinfo=UTC)
DAY0 = BASE.date()
RATE_WORDS = ("rate", "conversion", "share")
PROPERTY_SETTINGS = settings(
    max_examples=25,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
# Closing is listed twice so that more examples have won and lost deals to count.
OPERATIONS = st.sampled_from(
    ["amount", "close_date", "stage", "win", "lose", "reopen", "owner", "win", "lose"]
)


def _moment(hours: int) -> datetime:
    return BASE + timedelta(hours=hours)


# --- a random org and history ------------------------------------------------------------------


@dataclass
class History:
    """The org, the pipeline and, per deal, who owned it from when."""

    m: User
    a: User
    b: User
    a1: User
    a2: User
    b1: User
    o: User
    pipeline: Pipeline
    stages: list[Stage]
    owners: dict[int, list[tuple[datetime, int]]] = field(default_factory=dict)
    changes: list[datetime] = field(default_factory=list)  # creations included

    @property
    def last_change(self) -> datetime:
        return max(self.changes, default=BASE)

    @property
    def people(self) -> list[User]:
        return [self.m, self.a, self.b, self.a1, self.a2, self.b1, self.o]

    def part(self, user_id: int) -> str:
        """Which part of team M a person belongs to: M's own, team A, team B, or outside."""
        if user_id == self.m.id:
            return "M"
        if user_id in (self.a.id, self.a1.id, self.a2.id):
            return "A"
        if user_id in (self.b.id, self.b1.id):
            return "B"
        return "outside"

    def owner_at(self, deal_id: int, moment: datetime) -> int | None:
        """The deal's owner at `moment`, None before it was created."""
        owner = None
        for since, owner_id in self.owners[deal_id]:
            if since <= moment:
                owner = owner_id
        return owner


def _org(session: Session) -> History:
    m = make_user(session, role=Role.MANAGER, name="M")
    a = make_user(session, role=Role.MANAGER, manager=m, name="A")
    b = make_user(session, role=Role.MANAGER, manager=m, name="B")
    pipeline = make_pipeline(session)
    return History(
        m=m,
        a=a,
        b=b,
        a1=make_user(session, manager=a, name="A1"),
        a2=make_user(session, manager=a, name="A2"),
        b1=make_user(session, manager=b, name="B1"),
        o=make_user(session, name="O"),
        pipeline=pipeline,
        stages=open_stages(session, pipeline),
    )


def _random_history(session: Session, data: st.DataObject) -> History:
    """A few deals, each created at a random moment and changed a few times, later each time."""
    history = _org(session)
    stages = st.sampled_from(history.stages)
    people = st.sampled_from(history.people)
    amounts = st.integers(min_value=0, max_value=5_000)
    close_dates = st.integers(min_value=0, max_value=120).map(lambda d: DAY0 + timedelta(days=d))
    for _ in range(data.draw(st.integers(min_value=1, max_value=6), label="deals")):
        hours = data.draw(st.integers(min_value=0, max_value=24 * 60), label="created")
        owner = data.draw(people, label="owner")
        deal = make_deal(
            session,
            owner=owner,
            pipeline=history.pipeline,
            stage=data.draw(stages),
            amount_cents=data.draw(amounts),
            close_date=data.draw(close_dates),
            at=_moment(hours),
        )
        history.owners[deal.id] = [(_moment(hours), owner.id)]
        history.changes.append(_moment(hours))
        for operation in data.draw(
            st.lists(OPERATIONS, min_size=1, max_size=6), label="operations"
        ):
            hours += data.draw(st.integers(min_value=1, max_value=24 * 10))
            when = _moment(hours)
            closed = deal.closed_at is not None
            if operation == "amount" and not closed:
                changes = DealUpdate(amount_cents=data.draw(amounts))
                update_deal(session, deal, changes=changes, actor=None, at=when)
            elif operation == "close_date" and not closed:
                changes = DealUpdate(close_date=data.draw(close_dates))
                update_deal(session, deal, changes=changes, actor=None, at=when)
            elif operation == "stage" and not closed:
                move_deal_to_stage(session, deal, stage=data.draw(stages), actor=None, at=when)
            elif operation == "win" and not closed:
                amount = data.draw(st.none() | amounts)
                close_deal_won(session, deal, actor=None, at=when, amount_cents=amount)
            elif operation == "lose" and not closed:
                close_deal_lost(session, deal, loss_reason="Price", actor=None, at=when)
            elif operation == "reopen" and closed:
                reopen_deal(session, deal, stage=data.draw(stages),
                            close_date=data.draw(close_dates), actor=None, at=when)  # fmt: skip
            elif operation == "owner":
                new_owner = data.draw(people)
                change_deal_owner(session, deal, owner=new_owner, actor=None, at=when)
                history.owners[deal.id].append((when, new_owner.id))
            else:
                continue
            history.changes.append(when)
    session.flush()
    return history


def _period(data: st.DataObject, history: History) -> Period:
    """A calendar month or a quarter of 2025, or a custom range around one of the history's
    changes (so that it holds closes and moves more often than a range drawn blindly)."""
    kind = data.draw(st.sampled_from(["around", "month", "quarter"]), label="period kind")
    if kind == "month":
        return month_period(2025, data.draw(st.integers(min_value=1, max_value=5)))
    if kind == "quarter":
        return quarter_period(2025, data.draw(st.integers(min_value=1, max_value=2)))
    day = data.draw(st.sampled_from(history.changes), label="around").date()
    before, after = data.draw(st.integers(0, 45)), data.draw(st.integers(0, 45))
    return custom_period(day - timedelta(days=before), day + timedelta(days=after + 1))


def _as_of(data: st.DataObject, history: History) -> datetime:
    """Any moment from the start to a month after the last change, or a change's own moment."""
    if data.draw(st.booleans(), label="at a change"):
        return data.draw(st.sampled_from(history.changes))
    latest = history.last_change + timedelta(days=30)
    hours = int((latest - BASE).total_seconds()) // 3600
    return _moment(data.draw(st.integers(min_value=0, max_value=hours), label="as_of"))


def _in_savepoint(session: Session, check: Any, data: st.DataObject) -> None:
    savepoint = session.begin_nested()
    try:
        check(session, data)
    finally:
        savepoint.rollback()
        # SQLite hands the rolled-back ids out again: forget every object of this example.
        session.expunge_all()


# --- a. rates, conversions and shares are fractions --------------------------------------------


def _names_a_rate(name: str) -> bool:
    return any(word in name for word in RATE_WORDS)


def _rate_fields(value: Any, path: str = "") -> list[tuple[str, Any]]:
    """Every (path, value) of the JSON whose key names a rate, a conversion or a share, and
    the `value` and `median` of an item whose `metric` names one (a metric by name)."""
    found: list[tuple[str, Any]] = []
    if isinstance(value, dict):
        metric = value.get("metric")
        for key, item in value.items():
            where = f"{path}.{key}" if path else key
            if _names_a_rate(key) or (
                isinstance(metric, str) and _names_a_rate(metric) and key in ("value", "median")
            ):
                found.append((where, item))
            found.extend(_rate_fields(item, where))
    elif isinstance(value, list):
        for index, item in enumerate(value):
            found.extend(_rate_fields(item, f"{path}[{index}]"))
    return found


def test_rate_fields_are_found_in_the_reports_that_have_them() -> None:
    """The walk finds every rate, conversion and share at any depth, and nothing else."""
    paths = {path for path, _ in _rate_fields({"summary": {"win_rate": 0.5}, "rows": [{}]})}
    assert paths == {"summary.win_rate"}
    assert _rate_fields({"rows": [{"conversion": None, "slipped_share": 1.0}]}) == [
        ("rows[0].conversion", None),
        ("rows[0].slipped_share", 1.0),
    ]
    named = {"metric": "conversion:Proposal", "value": 0.5, "median": None, "difference": -0.2}
    assert _rate_fields({"rows": [{"metrics": [named]}]}) == [
        ("rows[0].metrics[0].value", 0.5),
        ("rows[0].metrics[0].median", None),
    ]


@PROPERTY_SETTINGS
@given(data=st.data())
def test_every_rate_conversion_and_share_is_a_fraction(
    session: Session, data: st.DataObject
) -> None:
    _in_savepoint(session, _check_fractions, data)


def _check_fractions(session: Session, data: st.DataObject) -> None:
    history = _random_history(session, data)
    period, as_of = _period(data, history), _as_of(data, history)
    # The org and one other scope per example keep the run short; the examples between them
    # cover every scope.
    others = [team_scope(history.m), team_scope(history.a), rep_scope(history.a1)]
    for scope in (org_scope(), data.draw(st.sampled_from(others), label="scope")):
        for name, spec in REPORTS.items():
            report = spec.run(session, scope, period, as_of, {}).model_dump(mode="json")
            for path, value in _rate_fields(report):
                assert value is None or (isinstance(value, int | float) and 0.0 <= value <= 1.0), (
                    f"{name} {scope.name} {period.label} as of {as_of}: {path} = {value!r}"
                )
                if value is not None:
                    event(f"{name} {path.split('.')[-1]} defined")


# --- b. as of now, the reports read the deals' current state ----------------------------------


@PROPERTY_SETTINGS
@given(data=st.data())
def test_as_of_now_the_reports_agree_with_the_deals_table(
    session: Session, data: st.DataObject
) -> None:
    _in_savepoint(session, _check_now, data)


def _check_now(session: Session, data: st.DataObject) -> None:
    history = _random_history(session, data)
    # Now: the last change itself (its row starts then) or any moment after it.
    now = history.last_change + timedelta(hours=data.draw(st.integers(0, 48), label="after"))
    period = _period(data, history)
    scopes = [
        (org_scope(), None),
        (team_scope(history.m), [p.id for p in history.people if history.part(p.id) != "outside"]),
        (team_scope(history.a), [history.a.id, history.a1.id, history.a2.id]),
        (rep_scope(history.b1), [history.b1.id]),
    ]
    for scope, owner_ids in scopes:
        _check_pipeline_now(session, scope, owner_ids, period, now)
        _check_closed_now(session, scope, owner_ids, period, now)


def _owned(stmt: Any, owner_ids: list[int] | None) -> Any:
    return stmt if owner_ids is None else stmt.where(Deal.owner_id.in_(owner_ids))


def _check_pipeline_now(
    session: Session, scope: Scope, owner_ids: list[int] | None, period: Period, now: datetime
) -> None:
    """Open deals closing in the period, by stage, counted on `deals` as they stand."""
    direct = _owned(
        select(
            Pipeline.name,
            Stage.name,
            Stage.probability,
            func.count(Deal.id),
            func.coalesce(func.sum(Deal.amount_cents), 0),
        )
        .join(Stage, Stage.id == Deal.stage_id)
        .join(Pipeline, Pipeline.id == Stage.pipeline_id)
        .where(
            Stage.type == StageType.OPEN,
            Deal.close_date >= period.start,
            Deal.close_date < period.end,
        )
        .group_by(Pipeline.name, Stage.name, Stage.probability),
        owner_ids,
    )
    expected = {
        (pipeline, stage): (int(deals), int(amount), round(int(amount) * probability))
        for pipeline, stage, probability, deals, amount in session.execute(direct)
    }
    report = pipeline_report(session, scope, period, now)
    got = {
        (row.pipeline, row.stage): (row.deals, row.amount_cents, row.weighted_amount_cents)
        for row in report.rows
        if row.deals
    }
    assert got == expected, f"{scope.name} {period.label} at {now}"
    s = report.summary
    assert s.deals == sum(deals for deals, _, _ in expected.values())
    assert s.amount_cents == sum(amount for _, amount, _ in expected.values())
    # Open deals whatever their close date: velocity's open deals.
    open_deals = session.scalar(
        _owned(
            select(func.count(Deal.id))
            .join(Stage, Stage.id == Deal.stage_id)
            .where(Stage.type == StageType.OPEN),
            owner_ids,
        )
    )
    velocity: Any = REPORTS["velocity"].run(session, scope, period, now, {})
    assert velocity.summary.open_deals == open_deals, f"{scope.name} at {now}"


def _check_closed_now(
    session: Session, scope: Scope, owner_ids: list[int] | None, period: Period, now: datetime
) -> None:
    """Deals closed in the period, read from `deals.closed_at` and the stage's type.

    Reopened deals count too: reopening clears `closed_at` and closing again sets it to the
    latest close, which is the close the reports count.
    """
    rows = session.execute(
        _owned(
            select(Deal.owner_id, Stage.type, Deal.amount_cents)
            .join(Stage, Stage.id == Deal.stage_id)
            .where(
                Stage.type != StageType.OPEN,
                Deal.closed_at >= period.start_at,
                Deal.closed_at < period.end_at,
            ),
            owner_ids,
        )
    ).all()
    by_owner: dict[int, list[int]] = defaultdict(lambda: [0, 0, 0, 0])
    for owner_id, stage_type, amount in rows:
        figures = by_owner[owner_id]
        won = stage_type == StageType.WON
        figures[0 if won else 1] += 1
        figures[2 if won else 3] += amount
    totals = [sum(figures[i] for figures in by_owner.values()) for i in range(4)]
    where = f"{scope.name} {period.label} at {now}"
    report = win_rate_report(session, scope, period, now)
    got = {
        row.id: [row.won, row.lost, row.won_amount_cents, row.lost_amount_cents]
        for row in report.rows
    }
    assert got == dict(by_owner), where
    s = report.summary
    assert [s.won, s.lost, s.won_amount_cents, s.lost_amount_cents] == totals, where
    won, lost = totals[0], totals[1]
    assert s.win_rate == (won / (won + lost) if won + lost else None), where
    cycle: Any = REPORTS["cycle"].run(session, scope, period, now, {})
    assert (cycle.summary.won, cycle.summary.closed) == (won, won + lost), where
    board: Any = REPORTS["leaderboard"].run(session, scope, period, now, {})
    b = board.summary
    assert (b.deals_won, b.deals_lost, b.won_cents) == (won, lost, totals[2]), where
    if won + lost:
        event("closed deals compared")


# --- c. sub-teams add up to the team -----------------------------------------------------------

# Per report, the summary figures that add up over owners, and for the reports whose rows are
# fixed categories (not people), the row key and the figures of each row that add up.
ADDITIVE_SUMMARY: dict[str, tuple[str, ...]] = {
    "pipeline": (
        "deals",
        "amount_cents",
        "created_deals",
        "created_amount_cents",
        "previous_created_amount_cents",
    ),
    "win-rate": ("won", "lost", "won_amount_cents", "lost_amount_cents"),
    "cycle": ("won", "closed"),
    "slippage": (
        "deals_pushed",
        "pushes",
        "amount_pushed_cents",
        "pipeline_at_since_cents",
        "slipped_at_since_cents",
    ),
    "waterfall": (
        "open_at_since_deals",
        "open_at_since_cents",
        "open_at_as_of_deals",
        "open_at_as_of_cents",
    ),
    "funnel": ("deals", "won", "lost"),
    "velocity": ("open_deals", "won", "lost", "won_amount_cents"),
    "coverage": ("won_cents", "open_pipeline_cents", "weighted_pipeline_cents"),
    "attainment": ("won_cents",),
    "leaderboard": ("won_cents", "deals_won", "deals_lost"),
}
ADDITIVE_ROWS: dict[str, tuple[tuple[str, ...], tuple[str, ...]]] = {
    "pipeline": (("pipeline", "stage"), ("deals", "amount_cents")),
    "cycle": (("bucket",), ("won", "closed")),
    "funnel": (
        ("pipeline", "stage"),
        ("entered", "advanced", "lost", "still_in_stage", "moved_back", "completed_stays"),
    ),
}
# The waterfall's parts add up too, unless a deal was handed between the parts of the team
# between the two moments: for team M it stays in, for the sub-teams it leaves one (as `other`)
# and enters the other (as `other`, or is won or pushed there by its new owner), so the flows
# are classified differently while each side still reconciles.
WATERFALL_PARTS = (
    "created_cents",
    "pulled_in_cents",
    "increased_cents",
    "decreased_cents",
    "pushed_out_cents",
    "won_cents",
    "lost_cents",
    "other_cents",
)


def test_every_registered_report_with_additive_figures_is_checked() -> None:
    known = {"pipeline", "win-rate", "cycle", "slippage", "waterfall", "funnel", "velocity"}
    known |= {"coverage", "attainment", "leaderboard"}
    assert known <= set(REPORTS)
    assert set(ADDITIVE_SUMMARY) == known


@PROPERTY_SETTINGS
@given(data=st.data())
def test_sub_teams_add_up_to_the_team(session: Session, data: st.DataObject) -> None:
    _in_savepoint(session, _check_split, data)


def _check_split(session: Session, data: st.DataObject) -> None:
    history = _random_history(session, data)
    whole = team_scope(history.m)
    parts = [team_scope(history.a), team_scope(history.b), rep_scope(history.m)]
    period, as_of = _period(data, history), _as_of(data, history)
    for name, fields in ADDITIVE_SUMMARY.items():
        spec = REPORTS[name]
        team: Any = spec.run(session, whole, period, as_of, {})
        pieces: list[Any] = [spec.run(session, scope, period, as_of, {}) for scope in parts]
        where = f"{name} {period.label} as of {as_of}"
        summed = _sum_fields([p.summary.model_dump() for p in pieces], fields)
        assert _sum_fields([team.summary.model_dump()], fields) == summed, where
        if name in ADDITIVE_ROWS:
            key, row_fields = ADDITIVE_ROWS[name]
            assert _sum_rows(team.rows, key, row_fields) == sum(
                (_sum_rows(p.rows, key, row_fields) for p in pieces), Counter()
            ), where
        if name == "waterfall":
            _check_waterfall_split(history, team, pieces, period, as_of)


def _sum_fields(summaries: list[dict[str, Any]], fields: tuple[str, ...]) -> dict[str, int]:
    return {name: sum(summary[name] for summary in summaries) for name in fields}


def _sum_rows(rows: list[Any], key: tuple[str, ...], fields: tuple[str, ...]) -> Counter[Any]:
    totals: Counter[Any] = Counter()
    for row in rows:
        values = row.model_dump()
        for name in fields:
            totals[(*(values[k] for k in key), name)] += values[name]
    return +totals  # zero counts left out, so categories missing on one side compare equal


def _check_waterfall_split(
    history: History, team: Any, pieces: list[Any], period: Period, as_of: datetime
) -> None:
    since = team.summary.since
    handed_within = any(
        (before := history.owner_at(deal_id, since)) is not None
        and (after := history.owner_at(deal_id, as_of)) is not None
        and "outside" not in (history.part(before), history.part(after))
        and history.part(before) != history.part(after)
        for deal_id in history.owners
    )
    if handed_within:
        event("waterfall: a deal handed between sub-teams, parts not compared")
        return
    summed = _sum_fields([p.summary.model_dump() for p in pieces], WATERFALL_PARTS)
    assert _sum_fields([team.summary.model_dump()], WATERFALL_PARTS) == summed, (
        f"waterfall {period.label} as of {as_of}"
    )
    event("waterfall parts compared")


def test_a_team_split_example_by_hand(session: Session) -> None:
    """A fixed instance of the split: M owns one deal, A1 one, B1 one won; the pipeline and the
    win rate of team M are the sums of its parts."""
    history = _org(session)
    first = history.stages[0]
    for owner, dollars in ((history.m, 100), (history.a1, 200), (history.b1, 400)):
        deal = make_deal(
            session,
            owner=owner,
            pipeline=history.pipeline,
            stage=first,
            amount_cents=dollars * 100,
            close_date=date(2025, 2, 15),
            at=_moment(1),
        )
        if owner is history.b1:
            close_deal_won(session, deal, actor=None, at=_moment(30))
    period = month_period(2025, 1)
    as_of = _moment(24 * 40)
    team = pipeline_report(session, team_scope(history.m), month_period(2025, 2), as_of)
    assert (team.summary.deals, team.summary.amount_cents) == (2, 300_00)
    won = win_rate_report(session, team_scope(history.m), period, as_of).summary
    parts = [win_rate_report(session, s, period, as_of).summary for s in
             (team_scope(history.a), team_scope(history.b), rep_scope(history.m))]  # fmt: skip
    assert (won.won, won.won_amount_cents) == (1, 400_00)
    assert [p.won for p in parts] == [0, 1, 0]
