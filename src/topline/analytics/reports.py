"""Report functions: SQL aggregates over the deals in a scope, a period and as of a moment,
handed to the pure metric functions of `topline.analytics.metrics`.

Every report returns the same envelope (`Report`): which report, for whom, for which period,
as of when, its headline figures (`summary`, always for the whole scope) and its breakdown
(`rows`, all of them or a page of them: `total_rows` and `offset` say which; see
`topline.analytics.paging`). The JSON of the API and of `topline report --format json` is this
envelope.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping
from datetime import date, datetime
from enum import StrEnum
from typing import Any, Generic, TypeVar

from pydantic import BaseModel, Field
from sqlalchemy import Select, Subquery, case, func, literal, select, union_all
from sqlalchemy.orm import Session

from topline.analytics import metrics
from topline.analytics.history import closed_as_of, created_in, state_as_of
from topline.analytics.paging import ALL_ROWS, RowPage
from topline.analytics.periods import (
    Period,
    PeriodKind,
    custom_period,
    parse_period,
    period_containing,
)
from topline.analytics.registry import ReportSpec, option, register
from topline.analytics.scope import Scope
from topline.auth.models import Organization, User
from topline.crm.enums import StageType
from topline.crm.models import Account, Deal, DealHistory, Pipeline, Stage
from topline.errors import InvalidInput
from topline.storage.sql import utc_days_between

S = TypeVar("S", bound=BaseModel)
R = TypeVar("R", bound=BaseModel)


class ScopeOut(BaseModel):
    kind: str = Field(description="org, team or rep")
    id: int | None = Field(description="The manager (team) or rep; none for the org.")
    name: str


class PeriodOut(BaseModel):
    label: str
    start: date
    end: date = Field(description="The first day after the period.")


class Report(BaseModel, Generic[S, R]):
    """A report for a scope and a period, as the data stood at `as_of`."""

    report: str
    scope: ScopeOut
    period: PeriodOut
    as_of: datetime
    summary: S
    rows: list[R] = Field(description="The breakdown: the rows from `offset`, in order.")
    total_rows: int = Field(description="How many rows the report has in all.")
    offset: int = Field(description="The position of the first of `rows` among them (0 first).")


def _envelope(name: str, scope: Scope, period: Period, as_of: datetime) -> dict[str, Any]:
    return {
        "report": name,
        "scope": ScopeOut(kind=scope.kind.value, id=scope.user_id, name=scope.name),
        "period": PeriodOut(label=period.label, start=period.start, end=period.end),
        "as_of": as_of,
    }


def _scoped(stmt: Select[Any], scope: Scope, owner_column: Any) -> Select[Any]:
    condition = scope.owned(owner_column)
    return stmt if condition is None else stmt.where(condition)


def open_closing_in(as_of: datetime, period: Period) -> Subquery:
    """The deals open at `as_of` whose close date falls in the period: their state then."""
    history = DealHistory.__table__
    return state_as_of(
        as_of,
        history.c.close_date >= period.start,
        history.c.close_date < period.end,
        history.c.stage_type == StageType.OPEN.value,
    )


# --- pipeline ------------------------------------------------------------------------------


class PipelineSummary(BaseModel):
    deals: int = Field(description="Open deals closing in the period.")
    amount_cents: int
    weighted_amount_cents: int = Field(description="Amounts times their stage's probability.")
    created_deals: int = Field(description="Deals created in the period.")
    created_amount_cents: int = Field(description="Their amounts when created.")
    previous_created_amount_cents: int = Field(description="The same for the previous period.")
    growth: float | None = Field(
        description="Pipeline created in the period against the previous period, as a "
        "fraction (0.25 = 25% more); none when the previous period created nothing."
    )


class PipelineRow(BaseModel):
    pipeline: str
    stage: str
    position: int
    probability: float
    deals: int
    amount_cents: int
    weighted_amount_cents: int


def pipeline_report(
    session: Session, scope: Scope, period: Period, as_of: datetime, *, page: RowPage = ALL_ROWS
) -> Report[PipelineSummary, PipelineRow]:
    """Open deals closing in the period by stage, as of `as_of`, and pipeline growth."""
    state = open_closing_in(as_of, period)
    totals = _scoped(
        select(
            state.c.stage_id,
            func.count().label("deals"),
            func.coalesce(func.sum(state.c.amount_cents), 0).label("amount"),
        ).group_by(state.c.stage_id),
        scope,
        state.c.owner_id,
    )
    by_stage = {row.stage_id: row for row in session.execute(totals)}
    stages = session.execute(
        select(Stage.id, Stage.name, Stage.position, Stage.probability, Pipeline.name.label("p"))
        .join(Pipeline, Pipeline.id == Stage.pipeline_id)
        .where(Stage.type == StageType.OPEN)
        .order_by(Pipeline.id, Stage.position)
    ).all()
    rows = []
    for stage in stages:
        found = by_stage.get(stage.id)
        deals, amount = (found.deals, int(found.amount)) if found else (0, 0)
        rows.append(
            PipelineRow(
                pipeline=stage.p,
                stage=stage.name,
                position=stage.position,
                probability=stage.probability,
                deals=deals,
                amount_cents=amount,
                weighted_amount_cents=round(amount * stage.probability),
            )
        )
    created_deals, created = _created(session, scope, period, as_of)
    _, previous = _created(session, scope, period.previous(), as_of)
    summary = PipelineSummary(
        deals=sum(row.deals for row in rows),
        amount_cents=sum(row.amount_cents for row in rows),
        weighted_amount_cents=sum(row.weighted_amount_cents for row in rows),
        created_deals=created_deals,
        created_amount_cents=created,
        previous_created_amount_cents=previous,
        growth=metrics.growth(created, previous),
    )
    return Report(
        **_envelope("pipeline", scope, period, as_of), summary=summary, **page.report_rows(rows)
    )


def _created(session: Session, scope: Scope, period: Period, as_of: datetime) -> tuple[int, int]:
    """Deals created in the period (and by `as_of`), and their amounts when created."""
    created = created_in(period.start_at, period.end_at, as_of)
    stmt = _scoped(
        select(func.count(), func.coalesce(func.sum(created.c.amount_cents), 0)),
        scope,
        created.c.owner_id,
    )
    count, amount = session.execute(stmt).one()
    return int(count), int(amount)


# --- closed deals ----------------------------------------------------------------------------


def _closed_in(scope: Scope, period: Period, as_of: datetime, *, deal_fields: bool = True) -> Any:
    """Deals closed (won or lost) in the period and still closed at `as_of`: their state then,
    their close moment, their creation, their account and type (as they are now, copied on the
    history rows) and (with `deal_fields`) their source and loss reason. Without those the
    history's index answers alone: no deal row is read."""
    state = closed_as_of(as_of, period.start_at, period.end_at)
    columns = [
        state.c.deal_id,
        state.c.stage_type,
        state.c.amount_cents,
        state.c.owner_id,
        state.c.closed_at,
        state.c.deal_created_at.label("created_at"),
        state.c.account_id,
        state.c.deal_type,
    ]
    if not deal_fields:
        return _scoped(select(*columns), scope, state.c.owner_id).subquery("closed")
    deal = Deal.__table__
    stmt = select(*columns, deal.c.source, deal.c.loss_reason).join(
        deal, deal.c.id == state.c.deal_id
    )
    return _scoped(stmt, scope, state.c.owner_id).subquery("closed")


class Breakdown(StrEnum):
    REP = "rep"
    SEGMENT = "segment"
    SOURCE = "source"
    TYPE = "type"
    LOSS_REASON = "loss_reason"


class WinRateSummary(BaseModel):
    won: int
    lost: int
    won_amount_cents: int
    lost_amount_cents: int
    win_rate: float | None = Field(description="won / (won + lost); none with nothing closed.")
    win_rate_by_value: float | None = Field(description="The same over amounts.")


class WinRateRow(BaseModel):
    key: str | None = Field(description="The rep's name, the segment, source, type or reason.")
    id: int | None = Field(description="The rep's id when broken down by rep.")
    won: int
    lost: int
    won_amount_cents: int
    lost_amount_cents: int
    win_rate: float | None
    win_rate_by_value: float | None


def win_rate_report(
    session: Session,
    scope: Scope,
    period: Period,
    as_of: datetime,
    by: Breakdown = Breakdown.REP,
    *,
    page: RowPage = ALL_ROWS,
) -> Report[WinRateSummary, WinRateRow]:
    """Won against lost among the deals closed in the period, by count and by value, broken
    down by rep, account segment, source, deal type or loss reason."""
    closed = _closed_in(
        scope, period, as_of, deal_fields=by in (Breakdown.SOURCE, Breakdown.LOSS_REASON)
    )
    won = closed.c.stage_type == StageType.WON.value
    key: Any
    joins: list[tuple[Any, Any]] = []
    if by == Breakdown.REP:
        key = closed.c.owner_id
    elif by == Breakdown.SEGMENT:
        key = Account.__table__.c.segment
        joins.append((Account.__table__, Account.__table__.c.id == closed.c.account_id))
    elif by == Breakdown.SOURCE:
        key = closed.c.source
    elif by == Breakdown.TYPE:
        key = closed.c.deal_type
    else:
        key = closed.c.loss_reason
    stmt = select(
        key.label("key"),
        func.sum(case((won, 1), else_=0)).label("won"),
        func.sum(case((won, 0), else_=1)).label("lost"),
        func.coalesce(func.sum(case((won, closed.c.amount_cents), else_=0)), 0).label("won_amount"),
        func.coalesce(func.sum(case((won, 0), else_=closed.c.amount_cents)), 0).label(
            "lost_amount"
        ),
    ).select_from(closed)
    for table, on in joins:
        stmt = stmt.outerjoin(table, on)
    groups = session.execute(stmt.group_by(key)).all()
    names: dict[int, str] = {}
    if by == Breakdown.REP:
        ids = [group.key for group in groups if group.key is not None]
        names = dict(session.execute(select(User.id, User.name).where(User.id.in_(ids))).all())
    rows = [
        _win_rate_row(
            names.get(group.key, str(group.key)) if by == Breakdown.REP else _text(group.key),
            group.key if by == Breakdown.REP else None,
            int(group.won),
            int(group.lost),
            int(group.won_amount),
            int(group.lost_amount),
        )
        for group in groups
    ]
    rows.sort(key=lambda row: (-(row.won + row.lost), row.key or ""))
    totals = _win_rate_row(
        None,
        None,
        sum(r.won for r in rows),
        sum(r.lost for r in rows),
        sum(r.won_amount_cents for r in rows),
        sum(r.lost_amount_cents for r in rows),
    )
    summary = WinRateSummary(**totals.model_dump(exclude={"key", "id"}))
    return Report(
        **_envelope("win-rate", scope, period, as_of), summary=summary, **page.report_rows(rows)
    )


def _text(value: Any) -> str | None:
    if value is None:
        return None
    return str(value.value if isinstance(value, StrEnum) else value)


def _win_rate_row(
    key: str | None, row_id: int | None, won: int, lost: int, won_amount: int, lost_amount: int
) -> WinRateRow:
    return WinRateRow(
        key=key,
        id=row_id,
        won=won,
        lost=lost,
        won_amount_cents=won_amount,
        lost_amount_cents=lost_amount,
        win_rate=metrics.win_rate(won, lost),
        win_rate_by_value=metrics.win_rate(won_amount, lost_amount),
    )


class CycleSummary(BaseModel):
    won: int = Field(description="Won deals closed in the period.")
    median_days: float | None = Field(description="Median days from creation to close, won.")
    mean_days: float | None
    closed: int = Field(description="Won and lost deals closed in the period.")
    median_days_all_closed: float | None
    mean_days_all_closed: float | None


class CycleRow(BaseModel):
    bucket: str = Field(description="Days from creation to close, e.g. 8-30.")
    won: int
    closed: int


def _cycle_days(
    session: Session, closed: Any, group: Any = None
) -> dict[Any, tuple[Counter[int], Counter[int]]]:
    """The closed deals of `closed` (`_closed_in`) counted by cycle days, won and lost apart,
    per value of `group` (an expression; None for one group, keyed None). The database does
    the counting: no deal row is fetched. A close recorded before the creation (imported data)
    counts as the same day."""
    days = utc_days_between(closed.c.closed_at, closed.c.created_at).label("days")
    keys = [] if group is None else [group.label("group_key")]
    stmt = select(*keys, closed.c.stage_type, days, func.count()).group_by(
        *keys, closed.c.stage_type, days
    )
    counts: dict[Any, tuple[Counter[int], Counter[int]]] = {}
    for row in session.execute(stmt):
        key = None if group is None else row[0]
        stage_type, day_count, deals = row[-3:]
        won, lost = counts.setdefault(key, (Counter(), Counter()))
        (won if _type(stage_type) == StageType.WON else lost)[max(0, int(day_count))] += deals
    return counts


def cycle_report(
    session: Session, scope: Scope, period: Period, as_of: datetime, *, page: RowPage = ALL_ROWS
) -> Report[CycleSummary, CycleRow]:
    """Sales-cycle length of the deals closed in the period: days from creation to close,
    counted on UTC calendar days (created and closed the same day is 0)."""
    closed = _closed_in(scope, period, as_of, deal_fields=False)
    won_days, lost_days = _cycle_days(session, closed).get(None, (Counter(), Counter()))
    all_days = won_days + lost_days
    won_buckets = metrics.distribution(won_days)
    all_buckets = metrics.distribution(all_days)
    rows = [
        CycleRow(bucket=label, won=won_buckets[label], closed=all_buckets[label])
        for label, _, _ in metrics.CYCLE_BUCKETS
    ]
    summary = CycleSummary(
        won=sum(won_days.values()),
        median_days=metrics.median_of_counts(won_days),
        mean_days=metrics.mean_of_counts(won_days),
        closed=sum(all_days.values()),
        median_days_all_closed=metrics.median_of_counts(all_days),
        mean_days_all_closed=metrics.mean_of_counts(all_days),
    )
    return Report(
        **_envelope("cycle", scope, period, as_of), summary=summary, **page.report_rows(rows)
    )


class TrendPoint(BaseModel):
    """Win rate and sales cycle of the deals closed in one period."""

    period: str
    start: date
    end: date = Field(description="Excluded.")
    won: int
    lost: int
    win_rate: float | None = Field(description="won / (won + lost); none with nothing closed.")
    median_days: float | None = Field(description="Median cycle of the won deals, in days.")
    mean_days: float | None = Field(description="Mean cycle of the won deals, in days.")


def closed_trend(
    session: Session, scope: Scope, periods: list[Period], as_of: datetime
) -> list[TrendPoint]:
    """Win rate and won-deal cycle for each of `periods` (consecutive, oldest first), with the
    same definitions as `win_rate_report` and `cycle_report`; the database counts, so no deal
    row is fetched.

    Two statements, neither of which sorts the lost deals (most of what closes): the closed
    and won counts of each period, read from the history index in period order, and the won
    deals counted by period and cycle days. Grouping every closed deal by period, outcome and
    days sorted them all, and that sort was most of the time (1.2 s of 1.3 on SQLite for six
    quarters of the large demo org; 0.5 s this way).
    """
    if not periods:
        return []
    totals = union_all(
        *(_closed_and_won(scope, period, as_of, index) for index, period in enumerate(periods))
    )
    closed_by_period = {row[0]: (row[1], row[2]) for row in session.execute(totals)}
    span = custom_period(periods[0].start, periods[-1].end)
    closed = _closed_in(scope, span, as_of, deal_fields=False)
    which = case(
        *((closed.c.closed_at < period.end_at, index) for index, period in enumerate(periods)),
        else_=len(periods) - 1,
    ).label("period_index")
    days = utc_days_between(closed.c.closed_at, closed.c.created_at).label("days")
    won_days: dict[int, Counter[int]] = {}
    for index, day_count, deals in session.execute(
        select(which, days, func.count())
        .where(closed.c.stage_type == StageType.WON)
        .group_by(which, days)
    ):
        # A close recorded before the creation (imported data) counts as the same day.
        won_days.setdefault(index, Counter())[max(0, int(day_count))] += deals
    points = []
    for index, period in enumerate(periods):
        closed_count, won = closed_by_period.get(index, (0, 0))
        days_won = won_days.get(index, Counter())
        points.append(
            TrendPoint(
                period=period.label,
                start=period.start,
                end=period.end,
                won=won,
                lost=closed_count - won,
                win_rate=metrics.win_rate(won, closed_count - won),
                median_days=metrics.median_of_counts(days_won),
                mean_days=metrics.mean_of_counts(days_won),
            )
        )
    return points


def _closed_and_won(
    scope: Scope, period: Period, as_of: datetime, index: int
) -> Select[int, int, int]:
    """One row: `index`, the deals closed in the period (as of `as_of`) and how many were won."""
    closed = _closed_in(scope, period, as_of, deal_fields=False)
    return select(
        literal(index).label("period_index"),
        func.count().label("closed"),
        func.count().filter(closed.c.stage_type == StageType.WON).label("won"),
    ).select_from(closed)


def _type(value: Any) -> StageType:
    return value if isinstance(value, StageType) else StageType(value)


def _breakdown(options: Mapping[str, str]) -> Breakdown:
    value = option(options, "by", Breakdown.REP.value)
    try:
        return Breakdown(value)
    except ValueError:
        known = ", ".join(b.value for b in Breakdown)
        raise InvalidInput(f"by {value!r}: use one of {known}") from None


register(
    ReportSpec(
        "pipeline",
        "Open pipeline by stage and pipeline growth",
        lambda session, scope, period, as_of, _options, page: pipeline_report(
            session, scope, period, as_of, page=page
        ),
    )
)
register(
    ReportSpec(
        "win-rate",
        "Won against lost, by count and value",
        lambda session, scope, period, as_of, options, page: win_rate_report(
            session, scope, period, as_of, by=_breakdown(options), page=page
        ),
        {"by": "rows by rep, segment, source, type or loss_reason"},
    )
)
register(
    ReportSpec(
        "cycle",
        "Sales-cycle length of closed deals",
        lambda session, scope, period, as_of, _options, page: cycle_report(
            session, scope, period, as_of, page=page
        ),
    )
)


def fiscal_start_month(session: Session) -> int:
    """The org's fiscal year start month (January when no org is set up)."""
    month = session.scalar(select(Organization.fiscal_year_start_month).limit(1))
    return month or 1


def choose_period(
    session: Session,
    *,
    period: str | None,
    start: date | None,
    end: date | None,
    as_of: datetime,
) -> Period:
    """The period asked for: a named one, a custom `[start, end)`, or by default the fiscal
    quarter `as_of` falls in."""
    month = fiscal_start_month(session)
    if period is not None and (start is not None or end is not None):
        raise InvalidInput("give a period or start and end dates, not both")
    if period is not None:
        return parse_period(period, month)
    if start is not None or end is not None:
        if start is None or end is None:
            raise InvalidInput("a custom period needs both start and end")
        return custom_period(start, end)
    return period_containing(as_of.date(), PeriodKind.QUARTER, month)
