"""People reports: each rep against the median rep of the scope (`reps`, the basis of coaching),
and how concentrated won revenue is among accounts and reps (`concentration`, the 80/20 check).

Both count deals as the other reports do (docs/reports.md): won and lost deals are those closed
in the period and still closed at `as_of`, at their amount then and credited to their owner
then, as in the win-rate report.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from functools import partial
from typing import Any, NamedTuple

from pydantic import BaseModel, Field
from sqlalchemy import case, func, select
from sqlalchemy.orm import Session

from topline.analytics import metrics
from topline.analytics.funnel import _cohort, cohort_parts
from topline.analytics.history import Part, between, created_in
from topline.analytics.paging import ALL_ROWS, RowPage
from topline.analytics.periods import Period
from topline.analytics.quota import (
    _closed_by_owner,
    _Figures,
    _open_by_owner,
    _people,
    _quotas,
    _QuotaSum,
)
from topline.analytics.registry import ReportSpec, option, register
from topline.analytics.reports import Report, _closed_in, _envelope, _scoped
from topline.analytics.scope import Scope
from topline.auth.models import User
from topline.crm.enums import ActivityType, StageType
from topline.crm.models import Account, Activity, Pipeline, Stage
from topline.errors import InvalidInput
from topline.storage.db import read_in_parallel
from topline.storage.sql import names_by_id, utc_days_between

WON = StageType.WON.value

# --- reps: the metrics and their comparison (pure) -------------------------------------------

# How many metrics `weakest` names per rep at most.
WEAKEST_COUNT = 3


class Unit(StrEnum):
    COUNT = "count"
    CENTS = "cents"
    RATE = "rate"
    DAYS = "days"


class Better(StrEnum):
    """Which way a metric is better: more won is better, a longer sales cycle is worse."""

    HIGHER = "higher"
    LOWER = "lower"


@dataclass(frozen=True)
class RepMetric:
    key: str
    unit: Unit
    better: Better = Better.HIGHER


# The fixed metrics, in the order the report lists them; the stage conversions follow, then the
# activity counts.
BASE_METRICS: tuple[RepMetric, ...] = (
    RepMetric("deals_created", Unit.COUNT),
    RepMetric("pipeline_created_cents", Unit.CENTS),
    RepMetric("open_pipeline_cents", Unit.CENTS),
    RepMetric("win_rate", Unit.RATE),
    RepMetric("won_cents", Unit.CENTS),
    RepMetric("attainment", Unit.RATE),
    RepMetric("average_won_cents", Unit.CENTS),
    RepMetric("median_cycle_days", Unit.DAYS, Better.LOWER),
)
ACTIVITY_METRICS: tuple[RepMetric, ...] = (
    RepMetric("activities", Unit.COUNT),
    *(RepMetric(f"activities:{kind.value}", Unit.COUNT) for kind in ActivityType),
)

Value = int | float | None


def median_value(values: Iterable[Value], unit: Unit) -> Value:
    """The median of the known values (None when there is none); money rounds to the cent
    (halves to even), other medians are fractional."""
    found = metrics.median([value for value in values if value is not None])
    if found is None:
        return None
    return round(found) if unit == Unit.CENTS else float(found)


def relative_difference(value: Value, median: Value) -> float | None:
    """(value − median) / median; None when either is unknown or the median is zero."""
    if value is None or median is None or median == 0:
        return None
    return (value - median) / abs(median)


def shortfall(relative: float | None, better: Better) -> float | None:
    """How far a figure falls on the worse side of the median, relative to the median: positive
    when worse (below for most metrics, above for the sales cycle), zero or negative otherwise."""
    if relative is None:
        return None
    return -relative if better == Better.HIGHER else relative


def weakest_metrics(
    shortfalls: Sequence[tuple[str, float | None]], count: int = WEAKEST_COUNT
) -> list[str]:
    """The metrics furthest on the worse side of the median: those with a positive shortfall,
    largest first; equal shortfalls keep the order given. At most `count` of them."""
    worse = [(key, value) for key, value in shortfalls if value is not None and value > 0]
    ranked = sorted(enumerate(worse), key=lambda item: (-item[1][1], item[0]))
    return [key for _, (key, _) in ranked[:count]]


# --- reps: the report ------------------------------------------------------------------------


class MetricMedian(BaseModel):
    metric: str = Field(description="e.g. win_rate, conversion:Proposal, activities:call.")
    unit: Unit
    better: Better = Field(description="higher, or lower for the sales cycle.")
    median: int | float | None = Field(
        description="The median over the rows that have the figure; money in whole cents."
    )


class RepWeakest(BaseModel):
    id: int
    name: str
    weakest: list[str] = Field(
        description="Up to three metrics furthest on the worse side of the median, relative "
        "to it, worst first."
    )


class RepsSummary(BaseModel):
    reps: int = Field(description="People compared (the rows).")
    medians: list[MetricMedian]
    weakest: list[RepWeakest] = Field(description="Per row, in the rows' order.")


class MetricComparison(BaseModel):
    metric: str
    value: int | float | None = Field(description="None when nothing to divide (no deal closed…).")
    median: int | float | None
    difference: int | float | None = Field(description="value − median.")
    relative_difference: float | None = Field(
        description="(value − median) / median; none when either is unknown or the median is 0."
    )


class RepsRow(BaseModel):
    id: int
    name: str
    metrics: list[MetricComparison] = Field(description="In the order of `summary.medians`.")


@dataclass
class _RepFigures:
    created: int = 0
    created_cents: int = 0
    cycles: Counter[int] = field(default_factory=Counter)
    conversions: dict[int, tuple[int, int]] = field(default_factory=dict)  # (entered, advanced)
    activities: dict[ActivityType, int] = field(default_factory=dict)

    def add(self, other: _RepFigures) -> None:
        """Add `other`'s figures (read apart: another metric, or another part of the deals)."""
        self.created += other.created
        self.created_cents += other.created_cents
        self.cycles.update(other.cycles)
        for stage_id, (entered, advanced) in other.conversions.items():
            before = self.conversions.get(stage_id, (0, 0))
            self.conversions[stage_id] = (before[0] + entered, before[1] + advanced)
        for kind, count in other.activities.items():
            self.activities[kind] = self.activities.get(kind, 0) + count


def reps_report(
    session: Session, scope: Scope, period: Period, as_of: datetime, *, page: RowPage = ALL_ROWS
) -> Report[RepsSummary, RepsRow]:
    """Every rep of the scope against the median of the scope's reps, metric by metric: the
    basis of coaching.

    The metrics, in this order:

    - `deals_created`, `pipeline_created_cents`: deals created in the period (by `as_of`) and
      their amounts when created, credited to their owner at creation (as pipeline growth);
    - `open_pipeline_cents`: deals open at `as_of` closing in the period (as coverage);
    - `win_rate` (by count), `won_cents`, `attainment` (won / the person's quota prorated to
      the period, as the attainment report; none without a quota or with a zero one),
      `average_won_cents` (won amount / deals won, in whole cents) and `median_cycle_days`
      (UTC calendar days from creation to close of the won deals, as the cycle report), over
      the deals closed in the period;
    - `conversion:<stage>` for each open stage of every pipeline: the funnel report's stage
      conversion (advanced / entered) of the deals that entered the stage in the period,
      credited to their owner at `as_of`. When two pipelines share a stage name the key is
      `conversion:<pipeline>/<stage>`;
    - `activities` and `activities:<type>`: activities logged by the person that occurred in
      the period, by `as_of` (planned ones later than `as_of` are left out).

    Rows are the people of the scope as in the quota reports: its reps employed during some of
    the period, the rep of a one-rep scope, and anyone else who owns a deal counted here (a
    manager who sells); people with no deal and no activity appear with zeros. The median of
    a metric is over the rows that have it: counts and amounts are known for everyone (zero
    when nothing happened), rates, averages and the cycle only where something was there to
    divide. In a one-rep scope the median is the rep's own figure.

    "Furthest below the median" is measured relative to the median, so metrics of different
    units compare: the shortfall is (median − value) / median, or (value − median) / median
    for the sales cycle, where lower is better. A metric with an unknown value or a zero median
    has no shortfall. `weakest` lists up to three metrics with a positive shortfall, largest
    first; equal shortfalls keep the report's metric order.
    """

    # Each read fills figures of its own, side by side (`read_in_parallel`); they are added up
    # here. The stage cohort, the costliest, is read in parts by deal where that helps
    # (`cohort_parts`).
    def job(read: Callable[..., None], kind: type[Any], *more: Any) -> Callable[[Session], Any]:
        def run(session: Session) -> dict[int, Any]:
            found: dict[int, Any] = defaultdict(kind)
            read(session, scope, period, as_of, found, *more)
            return found

        return run

    parts = cohort_parts(session)
    reads = [
        *(job(_conversions_by_owner, _RepFigures, (k, parts)) for k in range(parts)),
        job(_activities_by_user, _RepFigures),
        job(_open_by_owner, _Figures),
        job(_closed_by_owner, _Figures),
        job(_cycles_by_owner, _RepFigures),
        job(_created_by_owner, _RepFigures),
    ]
    figures: dict[int, _Figures] = defaultdict(_Figures)
    extra: dict[int, _RepFigures] = defaultdict(_RepFigures)
    for found in read_in_parallel(session, *reads):
        for owner_id, own in found.items():
            if isinstance(own, _Figures):
                figures[owner_id].add(own)
            else:
                extra[owner_id].add(own)
    owners = {owner for owner, f in figures.items() if f.won or f.lost or f.open_deals}
    owners |= {owner for owner, f in extra.items() if f.created or f.conversions}
    people = _people(session, scope, period, owners)
    quotas = _quotas(session, scope, period)
    stages = _conversion_stages(session)
    specs = [
        *BASE_METRICS,
        *(RepMetric(key, Unit.RATE) for key, _ in stages),
        *ACTIVITY_METRICS,
    ]
    values = [
        _rep_values(
            figures.get(person_id, _Figures()), extra.get(person_id), stages,
            quotas.by_user.get(person_id, _QuotaSum()),
        )
        for person_id, _ in people
    ]  # fmt: skip
    medians = {
        spec.key: median_value((row[spec.key] for row in values), spec.unit) for spec in specs
    }
    rows: list[RepsRow] = []
    weakest: list[RepWeakest] = []
    for (person_id, name), row in zip(people, values, strict=True):
        compared = []
        falls = []
        for spec in specs:
            value, median = row[spec.key], medians[spec.key]
            relative = relative_difference(value, median)
            compared.append(
                MetricComparison(
                    metric=spec.key,
                    value=value,
                    median=median,
                    difference=None if value is None or median is None else value - median,
                    relative_difference=relative,
                )
            )
            falls.append((spec.key, shortfall(relative, spec.better)))
        rows.append(RepsRow(id=person_id, name=name, metrics=compared))
        weakest.append(RepWeakest(id=person_id, name=name, weakest=weakest_metrics(falls)))
    summary = RepsSummary(
        reps=len(rows),
        medians=[
            MetricMedian(metric=s.key, unit=s.unit, better=s.better, median=medians[s.key])
            for s in specs
        ],
        weakest=weakest,
    )
    return Report(
        **_envelope("reps", scope, period, as_of), summary=summary, **page.report_rows(rows)
    )


def _rep_values(
    found: _Figures,
    extra: _RepFigures | None,
    stages: Sequence[tuple[str, int]],
    quota: _QuotaSum,
) -> dict[str, Value]:
    """One person's figure for every metric key."""
    extra = extra or _RepFigures()
    average = metrics.ratio(found.won_cents, found.won)
    cycle = metrics.median_of_counts(extra.cycles)
    values: dict[str, Value] = {
        "deals_created": extra.created,
        "pipeline_created_cents": extra.created_cents,
        "open_pipeline_cents": found.open_cents,
        "win_rate": metrics.win_rate(found.won, found.lost),
        "won_cents": found.won_cents,
        "attainment": metrics.attainment(found.won_cents, quota.cents) if quota.found else None,
        "average_won_cents": None if average is None else round(average),
        "median_cycle_days": None if cycle is None else float(cycle),
    }
    for key, stage_id in stages:
        entered, advanced = extra.conversions.get(stage_id, (0, 0))
        values[key] = metrics.stage_conversion(advanced, entered)
    values["activities"] = sum(extra.activities.values())
    for kind in ActivityType:
        values[f"activities:{kind.value}"] = extra.activities.get(kind, 0)
    return values


def _conversion_stages(session: Session) -> list[tuple[str, int]]:
    """Every open stage of every pipeline as (metric key, stage id), in funnel order."""
    stages = session.execute(
        select(Stage.id, Stage.name, Pipeline.name.label("p"))
        .join(Pipeline, Pipeline.id == Stage.pipeline_id)
        .where(Stage.type == StageType.OPEN)
        .order_by(Pipeline.id, Stage.position)
    ).all()
    names = Counter(stage.name for stage in stages)
    return [
        (
            f"conversion:{stage.name}"
            if names[stage.name] == 1
            else f"conversion:{stage.p}/{stage.name}",
            stage.id,
        )
        for stage in stages
    ]


def _created_by_owner(
    session: Session, scope: Scope, period: Period, as_of: datetime, extra: dict[int, _RepFigures]
) -> None:
    """Deals created in the period (by `as_of`) and their amounts then, per owner at creation."""
    created = created_in(period.start_at, period.end_at, as_of)
    stmt = _scoped(
        select(
            created.c.owner_id,
            func.count().label("deals"),
            func.coalesce(func.sum(created.c.amount_cents), 0).label("amount"),
        ).group_by(created.c.owner_id),
        scope,
        created.c.owner_id,
    )
    for row in session.execute(stmt):
        found = extra[row.owner_id]
        found.created, found.created_cents = int(row.deals), int(row.amount)


def _cycles_by_owner(
    session: Session, scope: Scope, period: Period, as_of: datetime, extra: dict[int, _RepFigures]
) -> None:
    """Days from creation to close of the won deals closed in the period, counted per owner
    and number of days (the median is taken from the counts: it is not portable SQL)."""
    closed = _closed_in(scope, period, as_of, deal_fields=False)
    span = utc_days_between(closed.c.closed_at, closed.c.created_at)
    # A close recorded before the creation (imported data) counts as the same day.
    days = case((span < 0, 0), else_=span)
    stmt = (
        select(closed.c.owner_id, days, func.count())
        .where(closed.c.stage_type == WON)
        .group_by(closed.c.owner_id, days)
    )
    for owner_id, cycle, deals in session.execute(stmt):
        extra[owner_id].cycles[int(cycle)] += deals


def _conversions_by_owner(
    session: Session,
    scope: Scope,
    period: Period,
    as_of: datetime,
    extra: dict[int, _RepFigures],
    part: Part,
) -> None:
    """The funnel report's stage entries in the period and advances, per owner at `as_of`, of
    the deals of `part`."""
    cohort = _cohort(session, scope, period, as_of, part, outcomes=False)
    stmt = select(
        cohort.c.now_owner_id,
        cohort.c.stage_id,
        func.count().label("entered"),
        func.sum(cohort.c.advanced).label("advanced"),
    ).group_by(cohort.c.now_owner_id, cohort.c.stage_id)
    for row in session.execute(stmt):
        extra[row.now_owner_id].conversions[row.stage_id] = (int(row.entered), int(row.advanced))


def _activities_by_user(
    session: Session, scope: Scope, period: Period, as_of: datetime, extra: dict[int, _RepFigures]
) -> None:
    """Activities that occurred in the period and by `as_of`, per person and type."""
    activity = Activity.__table__
    kinds = list(ActivityType)
    # Grouped by person alone, with a count per type: the index (person, moment, type) hands
    # the rows over person by person, while grouping by type too sorted them all (a quarter of
    # the large org on SQLite, 530k activities: 0.57 s against 0.31 s).
    stmt = _scoped(
        select(
            activity.c.user_id, *(func.count().filter(activity.c.type == kind) for kind in kinds)
        )
        .where(
            between(activity.c.occurred_at, period.start_at, period.end_at),
            activity.c.occurred_at <= as_of,
        )
        .group_by(activity.c.user_id),
        scope,
        activity.c.user_id,
    )
    for user_id, *counts in session.execute(stmt):
        extra[user_id].activities.update(
            {kind: int(count) for kind, count in zip(kinds, counts, strict=True) if count}
        )


# --- concentration ---------------------------------------------------------------------------


class ConcentrationBy(StrEnum):
    ACCOUNTS = "accounts"
    REPS = "reps"


class ConcentrationSummary(BaseModel):
    by: ConcentrationBy = Field(description="What the rows list.")
    won_deals: int = Field(description="Deals won in the period, still won at `as_of`.")
    won_cents: int = Field(description="Their amounts at `as_of`: the total the shares divide.")
    accounts: int = Field(description="Accounts with won revenue (more than zero).")
    top_accounts: int = Field(description="ceil(20% of `accounts`).")
    top_accounts_cents: int
    top_accounts_share: float | None = Field(
        description="top_accounts_cents / won_cents; none when nothing was won."
    )
    no_account_cents: int = Field(description="Won revenue of deals without an account.")
    reps: int = Field(description="Owners with won revenue (more than zero).")
    top_reps: int = Field(description="ceil(20% of `reps`).")
    top_reps_cents: int
    top_reps_share: float | None = Field(
        description="top_reps_cents / won_cents; none when nothing was won."
    )


class ConcentrationRow(BaseModel):
    rank: int | None = Field(description="1 for the most won; none for the no-account row.")
    id: int | None = Field(description="The account or rep; none for deals without an account.")
    name: str | None
    won_deals: int
    won_cents: int
    share: float | None = Field(description="won_cents / the scope's won revenue.")
    cumulative_share: float | None = Field(description="The share of this row and those above.")
    top: bool = Field(description="Among the top 20%.")


class _Contributor(NamedTuple):  # a tuple: tens of thousands are made per report
    id: int | None
    name: str | None
    deals: int
    cents: int


def concentration_report(
    session: Session,
    scope: Scope,
    period: Period,
    as_of: datetime,
    by: ConcentrationBy = ConcentrationBy.ACCOUNTS,
    *,
    page: RowPage = ALL_ROWS,
) -> Report[ConcentrationSummary, ConcentrationRow]:
    """The 80/20 check: the share of won revenue that the top 20% of accounts, and of reps,
    bring in.

    Won revenue is the deals won in the period and still won at `as_of`, at their amount then;
    a deal counts for its account and for its owner at `as_of`. The contributors are the
    accounts (or owners) with won revenue above zero, and the top 20% are the
    ceil(20% × contributors) with the most. Ties do not change a share: equal amounts add up
    the same whichever of them is taken; rows with equal revenue are ordered by name, then id,
    and `top` marks the first ones. Both shares divide the scope's whole won revenue, so won
    deals without an account count in the total but for no account: they are one last row
    (no rank, no id), never in the top. The shares are None when nothing was won (or only at
    zero amounts).

    Rows: the accounts (`by` accounts, the default) or the reps, by won revenue, largest first,
    with each one's share and the cumulative share.
    """
    won_deals, accounts, reps = _contributors(session, scope, period, as_of)
    unassigned = next((c for c in accounts if c.id is None), None)
    accounts = [c for c in accounts if c.id is not None and c.cents > 0]
    reps = [c for c in reps if c.cents > 0]
    if by == ConcentrationBy.ACCOUNTS:
        accounts = _named_for_page(session, accounts, page)
    total = sum(c.cents for c in reps)
    account_top = metrics.top_count(len(accounts))
    rep_top = metrics.top_count(len(reps))
    summary = ConcentrationSummary(
        by=by,
        won_deals=won_deals,
        won_cents=total,
        accounts=len(accounts),
        top_accounts=account_top,
        top_accounts_cents=sum(c.cents for c in accounts[:account_top]),
        top_accounts_share=metrics.top_share([c.cents for c in accounts], total=total),
        no_account_cents=unassigned.cents if unassigned else 0,
        reps=len(reps),
        top_reps=rep_top,
        top_reps_cents=sum(c.cents for c in reps[:rep_top]),
        top_reps_share=metrics.top_share([c.cents for c in reps], total=total),
    )
    listed, top = (accounts, account_top) if by == ConcentrationBy.ACCOUNTS else (reps, rep_top)
    if by == ConcentrationBy.ACCOUNTS and unassigned is not None and unassigned.cents > 0:
        listed = [*listed, unassigned]
    cumulative = metrics.cumulative_shares([c.cents for c in listed], total=total)

    def row(item: tuple[int, tuple[_Contributor, float | None]]) -> ConcentrationRow:
        index, (contributor, running) = item
        return ConcentrationRow(
            rank=index + 1 if contributor.id is not None else None,
            id=contributor.id,
            name=contributor.name,
            won_deals=contributor.deals,
            won_cents=contributor.cents,
            share=metrics.ratio(contributor.cents, total),
            cumulative_share=running,
            top=index < top and contributor.id is not None,
        )

    # Rows made for the page only: a large org has tens of thousands of accounts.
    ranked = list(enumerate(zip(listed, cumulative, strict=True)))
    return Report(
        **_envelope("concentration", scope, period, as_of),
        summary=summary,
        **page.report_rows(ranked, row),
    )


def _contributors(
    session: Session, scope: Scope, period: Period, as_of: datetime
) -> tuple[int, list[_Contributor], list[_Contributor]]:
    """The won deals closed in the period and still won at `as_of` (`_closed_in`): how many,
    and their deals and revenue per account (the no-account group, id none, among them) and
    per owner. The owners come named and largest first, then by name and id; the accounts
    largest first and unnamed (`_named_for_page` names those a page shows).

    Two statements side by side (`read_in_parallel`), one grouped by account and one by owner:
    one statement grouped by both listed every account once per owner, about as many rows as
    won deals, and folding those in Python cost more than working the closes out twice."""
    user = User.__table__

    def grouped(session: Session, key: str) -> list[_Contributor]:
        closed = _closed_in(scope, period, as_of, deal_fields=False)
        sums = (
            select(
                closed.c[key].label("id"),
                func.count().label("deals"),
                func.coalesce(func.sum(closed.c.amount_cents), 0).label("cents"),
            )
            .where(closed.c.stage_type == WON)
            .group_by(closed.c[key])
            .subquery("sums")
        )
        if key == "account_id":
            # Unnamed: an org has tens of thousands of accounts with won revenue, and looking
            # up every name took as long as the sums (PostgreSQL, 1M deals: 0.4 s against 0.2).
            found = [
                _Contributor(key_id, None, int(deals), int(cents))
                for key_id, deals, cents in session.execute(select(sums))
            ]
            found.sort(key=_by_cents)
            return found
        stmt = select(sums.c.id, user.c.name, sums.c.deals, sums.c.cents).outerjoin(
            user, user.c.id == sums.c.id
        )
        found = [
            _Contributor(key_id, key_name, int(deals), int(cents))
            for key_id, key_name, deals, cents in session.execute(stmt)
        ]
        found.sort(key=_in_order)
        return found

    accounts, reps = read_in_parallel(
        session,
        partial(grouped, key="account_id"),
        partial(grouped, key="owner_id"),
    )
    return sum(c.deals for c in reps), accounts, reps


def _in_order(contributor: _Contributor) -> tuple[int, str, int]:
    """Largest first, then by name and id: sorted here, not in SQL, so that both databases
    agree whatever their collation."""
    return -contributor.cents, (contributor.name or "").casefold(), contributor.id or 0


def _by_cents(contributor: _Contributor) -> tuple[int, int]:
    return -contributor.cents, contributor.id or 0


def _named_for_page(
    session: Session, accounts: list[_Contributor], page: RowPage
) -> list[_Contributor]:
    """`accounts` (largest first) in their order, largest first then by name and id, with
    names, as far as the page's rows go: the runs of equal revenue that reach into the page
    are named and put in order, the rest keep their places by revenue unnamed, never shown.
    (Ranks, shares and the top 20% depend on revenue alone.)"""
    start = page.offset
    end = len(accounts) if page.limit is None else min(len(accounts), page.offset + page.limit)
    if start >= end:
        return accounts
    while start > 0 and accounts[start - 1].cents == accounts[start].cents:
        start -= 1
    while end < len(accounts) and accounts[end].cents == accounts[end - 1].cents:
        end += 1
    names = names_by_id(session, Account, [c.id for c in accounts[start:end] if c.id is not None])
    named = [c._replace(name=names.get(c.id or 0)) for c in accounts[start:end]]
    named.sort(key=_in_order)
    return [*accounts[:start], *named, *accounts[end:]]


def _by(options: Mapping[str, str]) -> ConcentrationBy:
    value = option(options, "by", ConcentrationBy.ACCOUNTS.value)
    try:
        return ConcentrationBy(value)
    except ValueError:
        known = ", ".join(b.value for b in ConcentrationBy)
        raise InvalidInput(f"by {value!r}: use one of {known}") from None


register(
    ReportSpec(
        "reps",
        "Each rep against the scope's median, metric by metric",
        lambda session, scope, period, as_of, _options, page: reps_report(
            session, scope, period, as_of, page=page
        ),
    )
)
register(
    ReportSpec(
        "concentration",
        "Share of won revenue from the top 20% of accounts and reps",
        lambda session, scope, period, as_of, options, page: concentration_report(
            session, scope, period, as_of, by=_by(options), page=page
        ),
        {"by": "rows by accounts (default) or reps"},
    )
)
