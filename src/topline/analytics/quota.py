"""Quota reports: pipeline coverage, attainment and the leaderboard of a scope and a period.

Definitions shared by the three reports (docs/reports.md, "Quotas"):

- **Proration.** A quota covers `[period_start, period_end)`; a report period rarely matches
  it. Each quota counts for the days it shares with the report period:
  `amount × overlap days / quota days`. The shares of one owner are added exactly (as
  fractions) and rounded once to the nearest cent (halves to even), so a quarter report over
  three monthly quotas gives their exact sum, and a month report over a quarterly quota gives
  the month's days' share of it.
- **A person's quota** is the prorated sum of their own quotas.
- **A scope's quota.** One rep: their own quota. A manager's team: the quota of the team(s)
  that manager leads (`Team.manager_id`) when at least one team quota overlaps the period,
  else the sum of the quotas of the reps (role rep) in the reporting subtree; a manager's own
  quota never adds to the team's. The org: the sum of every rep's quota (team quotas do not
  count, as they would double the reps').
- **No quota** (nothing overlaps the period) and a **zero quota** both leave coverage and
  attainment undefined (None); `note` says which.
- **Rows** list the people of the scope: its reps employed during some of the period (hired
  before its end, not left before its start), the rep of a one-rep scope, and anyone else in
  the scope who owns deals the report counts (a manager who sells).
- **Won** deals are those closed won in the period and still won at `as_of`, at their amount
  at `as_of`, credited to their owner at `as_of` (as in the win-rate report).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field, replace
from datetime import date, datetime
from enum import StrEnum
from fractions import Fraction
from typing import Any

from pydantic import BaseModel, Field
from sqlalchemy import and_, case, func, or_, select
from sqlalchemy.orm import Session

from topline.analytics import metrics
from topline.analytics.paging import ALL_ROWS, RowPage
from topline.analytics.periods import Period
from topline.analytics.registry import ReportSpec, register
from topline.analytics.reports import Report, _closed_in, _envelope, _scoped, open_closing_in
from topline.analytics.scope import Scope, ScopeKind
from topline.auth.enums import Role
from topline.auth.models import Team, User
from topline.crm.enums import StageType
from topline.crm.models import Stage
from topline.quotas.models import Quota

# --- pure: proration and notes ----------------------------------------------------------------


def overlap_days(start: date, end: date, other_start: date, other_end: date) -> int:
    """Days shared by the half-open ranges `[start, end)` and `[other_start, other_end)`."""
    return max(0, (min(end, other_end) - max(start, other_start)).days)


def prorated_quota(
    amount_cents: int, quota_start: date, quota_end: date, start: date, end: date
) -> Fraction:
    """The part of a quota that falls in `[start, end)`: its amount times the share of its
    days inside the range (exact; round once after adding the parts)."""
    days = (quota_end - quota_start).days
    return Fraction(amount_cents * overlap_days(quota_start, quota_end, start, end), days)


class QuotaNote(StrEnum):
    """Why coverage or attainment is undefined, or that the quota is already met."""

    NO_QUOTA = "no quota"
    ZERO_QUOTA = "zero quota"
    QUOTA_MET = "quota met"


def quota_note(has_quota: bool, quota_cents: int, won_cents: int) -> QuotaNote | None:
    """No quota overlaps the period, the quota is zero, or the won amount has reached it."""
    if not has_quota:
        return QuotaNote.NO_QUOTA
    if quota_cents <= 0:
        return QuotaNote.ZERO_QUOTA
    if won_cents >= quota_cents:
        return QuotaNote.QUOTA_MET
    return None


@dataclass
class _QuotaSum:
    """Prorated quota shares added exactly; `found` once any quota overlaps the period."""

    share: Fraction = Fraction(0)
    found: bool = False

    def add(self, share: Fraction) -> None:
        self.share += share
        self.found = True

    def merge(self, other: _QuotaSum) -> None:
        self.share += other.share
        self.found = self.found or other.found

    @property
    def cents(self) -> int:
        return round(self.share)


# --- SQL -------------------------------------------------------------------------------------


@dataclass
class _Figures:
    won_cents: int = 0
    won: int = 0
    lost: int = 0
    open_deals: int = 0
    open_cents: int = 0
    weighted: float = 0.0

    def add(self, other: _Figures) -> None:
        """Add `other`'s figures (read apart, say closed and open deals) to these."""
        self.won_cents += other.won_cents
        self.won += other.won
        self.lost += other.lost
        self.open_deals += other.open_deals
        self.open_cents += other.open_cents
        self.weighted += other.weighted


@dataclass
class _Quotas:
    by_user: dict[int, _QuotaSum] = field(default_factory=lambda: defaultdict(_QuotaSum))
    scope: _QuotaSum = field(default_factory=_QuotaSum)


def _closed_by_owner(
    session: Session, scope: Scope, period: Period, as_of: datetime, figures: dict[int, _Figures]
) -> None:
    """Won and lost deals closed in the period (still closed at `as_of`), per owner."""
    closed = _closed_in(scope, period, as_of, deal_fields=False)
    won = closed.c.stage_type == StageType.WON.value
    stmt = select(
        closed.c.owner_id,
        func.sum(case((won, 1), else_=0)).label("won"),
        func.sum(case((won, 0), else_=1)).label("lost"),
        func.coalesce(func.sum(case((won, closed.c.amount_cents), else_=0)), 0).label("amount"),
    ).group_by(closed.c.owner_id)
    for row in session.execute(stmt):
        found = figures[row.owner_id]
        found.won, found.lost, found.won_cents = int(row.won), int(row.lost), int(row.amount)


def _open_by_owner(
    session: Session, scope: Scope, period: Period, as_of: datetime, figures: dict[int, _Figures]
) -> None:
    """Deals open at `as_of` whose close date falls in the period, per owner."""
    state = open_closing_in(as_of, period)
    stage = Stage.__table__
    stmt = _scoped(
        select(
            state.c.owner_id,
            func.count().label("deals"),
            func.coalesce(func.sum(state.c.amount_cents), 0).label("amount"),
            func.coalesce(func.sum(state.c.amount_cents * stage.c.probability), 0).label(
                "weighted"
            ),
        )
        .join(stage, stage.c.id == state.c.stage_id)
        .group_by(state.c.owner_id),
        scope,
        state.c.owner_id,
    )
    for row in session.execute(stmt):
        found = figures[row.owner_id]
        found.open_deals, found.open_cents = int(row.deals), int(row.amount)
        found.weighted = float(row.weighted)


def _people(
    session: Session, scope: Scope, period: Period, owners: Iterable[int]
) -> list[tuple[int, str]]:
    """The scope's rows: reps employed in the period, the rep of a one-rep scope, and the
    `owners` of counted deals; by name."""
    employed_rep = and_(
        User.role == Role.REP,
        User.hired_at < period.end_at,
        or_(User.left_at.is_(None), User.left_at > period.start_at),
    )
    wanted = [employed_rep, User.id.in_(sorted(set(owners)))]
    if scope.kind == ScopeKind.REP and scope.user_id is not None:
        wanted.append(User.id == scope.user_id)
    query: Any = select(User.id, User.name).where(or_(*wanted))
    stmt = _scoped(query, scope, User.id)
    # Sorted here, not in SQL, so that both databases agree whatever their collation.
    people = [(row.id, row.name) for row in session.execute(stmt)]
    return sorted(people, key=lambda person: (person[1].casefold(), person[0]))


def _quotas(session: Session, scope: Scope, period: Period) -> _Quotas:
    """Each person's prorated quota and the scope's (see the module docstring)."""
    quota = Quota.__table__
    owners: Any = quota.c.user_id.is_not(None)
    scoped_user = scope.owned(quota.c.user_id)
    if scoped_user is not None:
        owners = scoped_user
    led: Any = None
    if scope.kind == ScopeKind.TEAM:
        led = quota.c.team_id.in_(select(Team.id).where(Team.manager_id == scope.user_id))
        owners = or_(owners, led)
    stmt = (
        select(
            quota.c.user_id,
            quota.c.team_id,
            quota.c.period_start,
            quota.c.period_end,
            quota.c.amount_cents,
            User.role,
        )
        .outerjoin(User, User.id == quota.c.user_id)
        .where(quota.c.period_start < period.end, quota.c.period_end > period.start, owners)
    )
    result = _Quotas()
    team, reps = _QuotaSum(), _QuotaSum()
    for row in session.execute(stmt):
        share = prorated_quota(
            int(row.amount_cents), row.period_start, row.period_end, period.start, period.end
        )
        if row.team_id is not None:
            team.add(share)
            continue
        result.by_user[row.user_id].add(share)
        if row.role == Role.REP:
            reps.add(share)
    if scope.kind == ScopeKind.REP and scope.user_id is not None:
        result.scope.merge(result.by_user.get(scope.user_id, _QuotaSum()))
    elif team.found:
        result.scope.merge(team)
    else:
        result.scope.merge(reps)
    return result


# --- coverage --------------------------------------------------------------------------------


class CoverageFigures(BaseModel):
    quota_cents: int = Field(description="The quota prorated to the period; 0 when none.")
    won_cents: int = Field(description="Won in the period by `as_of`.")
    remaining_quota_cents: int = Field(description="quota − won, and 0 once the quota is met.")
    open_pipeline_cents: int = Field(description="Open at `as_of`, closing in the period.")
    weighted_pipeline_cents: int = Field(description="The same times stage probabilities.")
    coverage: float | None = Field(
        description="open pipeline / remaining quota; none when nothing remains to close or "
        "there is no quota (see `note`)."
    )
    note: QuotaNote | None = Field(description="no quota, zero quota or quota met.")


class CoverageSummary(CoverageFigures):
    pass


class CoverageRow(CoverageFigures):
    id: int
    name: str


def _coverage_figures(quota: _QuotaSum, won_cents: int, open_cents: int, weighted: int) -> Any:
    remaining = max(quota.cents - won_cents, 0)
    return {
        "quota_cents": quota.cents,
        "won_cents": won_cents,
        "remaining_quota_cents": remaining,
        "open_pipeline_cents": open_cents,
        "weighted_pipeline_cents": weighted,
        "coverage": metrics.coverage(open_cents, remaining) if quota.found else None,
        "note": quota_note(quota.found, quota.cents, won_cents),
    }


def coverage_report(
    session: Session, scope: Scope, period: Period, as_of: datetime, *, page: RowPage = ALL_ROWS
) -> Report[CoverageSummary, CoverageRow]:
    """Open pipeline closing in the period against the quota still to close, for the scope
    and each of its people.

    Coverage = open pipeline closing in the period (deals open at `as_of`, unweighted) /
    (the period's prorated quota − won in the period by `as_of`). It is None when that
    remainder is zero or less (the quota is met, or zero) or when no quota overlaps the
    period; `note` says which. The weighted pipeline (amount × stage probability, rounded per
    person) is given beside it.
    """
    figures: dict[int, _Figures] = defaultdict(_Figures)
    _closed_by_owner(session, scope, period, as_of, figures)
    _open_by_owner(session, scope, period, as_of, figures)
    quotas = _quotas(session, scope, period)
    return _coverage(session, scope, period, as_of, figures, quotas, page)


def _coverage(
    session: Session,
    scope: Scope,
    period: Period,
    as_of: datetime,
    figures: dict[int, _Figures],
    quotas: _Quotas,
    page: RowPage = ALL_ROWS,
) -> Report[CoverageSummary, CoverageRow]:
    """The coverage report from the closed and open figures per owner and the quotas."""
    counted = [owner for owner, f in figures.items() if f.won or f.open_deals]
    people = _people(session, scope, period, counted)
    rows = []
    for person_id, name in people:
        found = figures.get(person_id, _Figures())
        rows.append(
            CoverageRow(
                id=person_id,
                name=name,
                **_coverage_figures(
                    quotas.by_user.get(person_id, _QuotaSum()),
                    found.won_cents,
                    found.open_cents,
                    round(found.weighted),
                ),
            )
        )
    summary = CoverageSummary(
        **_coverage_figures(
            quotas.scope,
            sum(row.won_cents for row in rows),
            sum(row.open_pipeline_cents for row in rows),
            sum(row.weighted_pipeline_cents for row in rows),
        )
    )
    return Report(
        **_envelope("coverage", scope, period, as_of), summary=summary, **page.report_rows(rows)
    )


# --- attainment ------------------------------------------------------------------------------


class AttainmentFigures(BaseModel):
    quota_cents: int = Field(description="The quota prorated to the period; 0 when none.")
    won_cents: int = Field(description="Won in the period by `as_of`.")
    attainment: float | None = Field(
        description="won / quota (1.0 = quota met; above 1 beyond it); none with no or a "
        "zero quota (see `note`)."
    )
    note: QuotaNote | None = Field(description="no quota, zero quota or quota met.")


class AttainmentSummary(AttainmentFigures):
    pass


class AttainmentRow(AttainmentFigures):
    id: int
    name: str


def _attainment_figures(quota: _QuotaSum, won_cents: int) -> dict[str, Any]:
    return {
        "quota_cents": quota.cents,
        "won_cents": won_cents,
        "attainment": metrics.attainment(won_cents, quota.cents) if quota.found else None,
        "note": quota_note(quota.found, quota.cents, won_cents),
    }


def attainment_report(
    session: Session, scope: Scope, period: Period, as_of: datetime, *, page: RowPage = ALL_ROWS
) -> Report[AttainmentSummary, AttainmentRow]:
    """Won amount against quota in the period, for the scope and each of its people.

    Attainment = won in the period by `as_of` / the period's prorated quota. The scope's quota
    is its team quota when the scope is a manager's team with a team quota in the period, else
    the sum of its reps' quotas (see the module docstring). Rows run from the highest
    attainment down, people without one last, then by name.
    """
    figures: dict[int, _Figures] = defaultdict(_Figures)
    _closed_by_owner(session, scope, period, as_of, figures)
    counted = [owner for owner, f in figures.items() if f.won]
    people = _people(session, scope, period, counted)
    quotas = _quotas(session, scope, period)
    rows = [
        AttainmentRow(
            id=person_id,
            name=name,
            **_attainment_figures(
                quotas.by_user.get(person_id, _QuotaSum()),
                figures.get(person_id, _Figures()).won_cents,
            ),
        )
        for person_id, name in people
    ]
    rows.sort(key=lambda row: (row.attainment is None, -(row.attainment or 0.0)))
    summary = AttainmentSummary(
        **_attainment_figures(quotas.scope, sum(row.won_cents for row in rows))
    )
    return Report(
        **_envelope("attainment", scope, period, as_of), summary=summary, **page.report_rows(rows)
    )


# --- leaderboard -----------------------------------------------------------------------------


class LeaderboardSummary(BaseModel):
    people: int = Field(description="People ranked.")
    won_cents: int
    deals_won: int
    deals_lost: int
    win_rate: float | None = Field(description="won / (won + lost) deals; none with none closed.")
    average_deal_size_cents: int | None = Field(description="won amount / deals won.")
    quota_cents: int = Field(description="The scope's quota prorated to the period.")
    attainment: float | None = Field(description="won / quota; none with no or a zero quota.")
    note: QuotaNote | None = Field(description="no quota, zero quota or quota met.")


class LeaderboardRow(BaseModel):
    rank: int = Field(description="1 for the most won; equal amounts are ranked by name.")
    id: int
    name: str
    won_cents: int
    deals_won: int
    deals_lost: int
    win_rate: float | None
    average_deal_size_cents: int | None
    quota_cents: int
    attainment: float | None


def _average_cents(total_cents: int, deals: int) -> int | None:
    average = metrics.ratio(total_cents, deals)
    return None if average is None else round(average)


def leaderboard_report(
    session: Session, scope: Scope, period: Period, as_of: datetime, *, page: RowPage = ALL_ROWS
) -> Report[LeaderboardSummary, LeaderboardRow]:
    """The scope's people ranked by the amount they won in the period, with attainment,
    deals won, win rate and average deal size.

    Deals count as in the win-rate report (closed in the period, still closed at `as_of`, at
    their amount then). Equal won amounts are ranked by name (then id), so every rank is
    distinct. Average deal size = won amount / deals won, in whole cents.
    """
    figures: dict[int, _Figures] = defaultdict(_Figures)
    _closed_by_owner(session, scope, period, as_of, figures)
    quotas = _quotas(session, scope, period)
    return _leaderboard(session, scope, period, as_of, figures, quotas, page)


def coverage_and_leaderboard(
    session: Session, scope: Scope, period: Period, as_of: datetime
) -> tuple[Report[CoverageSummary, CoverageRow], Report[LeaderboardSummary, LeaderboardRow]]:
    """`coverage_report` and `leaderboard_report` of the same scope and period, reading the
    closed deals and the quotas once for both (a dashboard shows the two together)."""
    figures: dict[int, _Figures] = defaultdict(_Figures)
    _closed_by_owner(session, scope, period, as_of, figures)
    closed_only = {owner: replace(found) for owner, found in figures.items()}
    _open_by_owner(session, scope, period, as_of, figures)
    quotas = _quotas(session, scope, period)
    return (
        _coverage(session, scope, period, as_of, figures, quotas),
        _leaderboard(session, scope, period, as_of, defaultdict(_Figures, closed_only), quotas),
    )


def _leaderboard(
    session: Session,
    scope: Scope,
    period: Period,
    as_of: datetime,
    figures: dict[int, _Figures],
    quotas: _Quotas,
    page: RowPage = ALL_ROWS,
) -> Report[LeaderboardSummary, LeaderboardRow]:
    """The leaderboard from the closed figures per owner and the quotas."""
    counted = [owner for owner, f in figures.items() if f.won or f.lost]
    people = _people(session, scope, period, counted)
    ranked = sorted(
        people, key=lambda p: (-figures.get(p[0], _Figures()).won_cents, p[1].casefold(), p[0])
    )
    rows = []
    for rank, (person_id, name) in enumerate(ranked, start=1):
        found = figures.get(person_id, _Figures())
        quota = quotas.by_user.get(person_id, _QuotaSum())
        attained = metrics.attainment(found.won_cents, quota.cents) if quota.found else None
        rows.append(
            LeaderboardRow(
                rank=rank,
                id=person_id,
                name=name,
                won_cents=found.won_cents,
                deals_won=found.won,
                deals_lost=found.lost,
                win_rate=metrics.win_rate(found.won, found.lost),
                average_deal_size_cents=_average_cents(found.won_cents, found.won),
                quota_cents=quota.cents,
                attainment=attained,
            )
        )
    won_cents = sum(row.won_cents for row in rows)
    won, lost = sum(row.deals_won for row in rows), sum(row.deals_lost for row in rows)
    summary = LeaderboardSummary(
        people=len(rows),
        won_cents=won_cents,
        deals_won=won,
        deals_lost=lost,
        win_rate=metrics.win_rate(won, lost),
        average_deal_size_cents=_average_cents(won_cents, won),
        **{
            key: value
            for key, value in _attainment_figures(quotas.scope, won_cents).items()
            if key != "won_cents"
        },
    )
    return Report(
        **_envelope("leaderboard", scope, period, as_of), summary=summary, **page.report_rows(rows)
    )


register(
    ReportSpec(
        "coverage",
        "Open pipeline against the quota still to close",
        lambda session, scope, period, as_of, _options, page: coverage_report(
            session, scope, period, as_of, page=page
        ),
    )
)
register(
    ReportSpec(
        "attainment",
        "Won amount against quota, per person",
        lambda session, scope, period, as_of, _options, page: attainment_report(
            session, scope, period, as_of, page=page
        ),
    )
)
register(
    ReportSpec(
        "leaderboard",
        "People ranked by won amount",
        lambda session, scope, period, as_of, _options, page: leaderboard_report(
            session, scope, period, as_of, page=page
        ),
    )
)
