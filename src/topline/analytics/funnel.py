"""Funnel reports: how deals move through the stages (`funnel`) and how fast the pipeline turns
into won business (`velocity`), from `deal_history` as of a moment.

A deal **enters** a stage at the history row where its stage differs from the row before (or at
its first row: a deal created in a stage entered it at creation). Rows that change only the
amount, close date, forecast category or owner are not entries. It **leaves** the stage at its
next entry into another stage, won and lost included.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from typing import Any

from pydantic import BaseModel, Field
from sqlalchemy import (
    Row,
    Select,
    Subquery,
    and_,
    case,
    func,
    not_,
    null,
    or_,
    select,
    union_all,
)
from sqlalchemy.orm import Session

from topline.analytics import metrics
from topline.analytics.history import Part, between, in_part, in_parts, open_as_of
from topline.analytics.paging import ALL_ROWS, RowPage
from topline.analytics.periods import Period, custom_period
from topline.analytics.registry import ReportSpec, option, register
from topline.analytics.reports import Report, _closed_in, _envelope, _scoped
from topline.analytics.scope import Scope
from topline.auth.models import User
from topline.crm.enums import StageType
from topline.crm.models import DealHistory, DealStay, Pipeline, Stage
from topline.errors import InvalidInput
from topline.storage.db import parallel_parts
from topline.storage.sql import utc_days_between

WON = StageType.WON.value

# Where a cohort entry's deal stands at `as_of`, as the index of its count in a funnel row when
# it did not advance (entered is 0, advanced 1).
_LOST, _STILL = 2, 3

# --- funnel ----------------------------------------------------------------------------------


class FunnelSummary(BaseModel):
    deals: int = Field(description="Deals that entered at least one open stage in the period.")
    won: int = Field(description="Of those, the deals won at `as_of`.")
    lost: int = Field(description="Of those, the deals lost at `as_of`.")
    conversion_to_won: float | None = Field(
        description="won / deals; none when no deal entered a stage in the period."
    )


class FunnelRow(BaseModel):
    pipeline: str
    stage: str
    position: int
    entered: int = Field(description="Deals that entered the stage in the period.")
    advanced: int = Field(
        description="Of those, the deals that later entered a later stage or won, by `as_of`."
    )
    lost: int = Field(description="Not advanced, and lost at `as_of`.")
    still_in_stage: int = Field(description="Not advanced, and in this stage at `as_of`.")
    moved_back: int = Field(description="Not advanced, and open in an earlier stage at `as_of`.")
    conversion: float | None = Field(
        description="advanced / entered; none when no deal entered the stage."
    )
    completed_stays: int = Field(description="Entries that left the stage by `as_of`.")
    median_days_in_stage: float | None = Field(
        description="Median UTC calendar days from entering to leaving, over completed stays."
    )


def funnel_report(
    session: Session, scope: Scope, period: Period, as_of: datetime, *, page: RowPage = ALL_ROWS
) -> Report[FunnelSummary, FunnelRow]:
    """Stage-to-stage conversion and time in stage of the deals that entered each open stage in
    the period, as of `as_of`.

    The cohort of a stage is the deals whose entry into it falls in the period (and by
    `as_of`). A deal counts once per stage, at its first entry in the period; a later return to
    the stage in the period (after moving back, or after being reopened) is the same stay for
    the counts and is not timed again. The deal **advanced** when, after that entry and by
    `as_of`, it entered a stage of a higher position or won; a skipped stage is never entered,
    so Prospecting → Proposal advances Prospecting and leaves Qualification untouched. Won and
    then reopened still counts as advanced. Deals that did not advance are **lost**, **still in
    the stage** or **moved back** to an earlier open stage, by their state at `as_of`, so the
    four counts add up to `entered`.

    Time in stage runs from that first entry to the next entry into another stage, in UTC
    calendar days (left on the day it entered is 0); stays not yet left at `as_of` are left out
    of the median. The scope is the deals' owners at `as_of`.
    """

    def count(session: Session, part: Part) -> list[Row[Any]]:
        cohort = _cohort(session, scope, period, as_of, part)
        # Counted by the database, grouped by small integers only: the cohort is read once (a
        # database computes it again for every statement that uses it, and it is the costly
        # part). Measured on 1M deals, grouping there beat fetching its 378k rows and counting
        # them here (SQLite 3.4 s to 2.8 s, PostgreSQL 3.3 s to 2.2 s). The stage at `as_of`
        # is a key as it is: an expression of it would look it up again for each use.
        keys = (
            cohort.c.stage_id,
            cohort.c.advanced,
            cohort.c.days,
            cohort.c.deal_first,
            cohort.c.now_stage_id,
        )
        return list(session.execute(select(*keys, func.count()).group_by(*keys)))

    # Every stage in one read: the open ones are the rows, the closed ones tell outcomes apart.
    every_stage = session.execute(
        select(Stage.id, Stage.name, Stage.position, Stage.type, Pipeline.name.label("p"))
        .join(Pipeline, Pipeline.id == Stage.pipeline_id)
        .order_by(Pipeline.id, Stage.position)
    ).all()
    lost_stages = {stage.id for stage in every_stage if stage.type == StageType.LOST}
    won_stages = {stage.id for stage in every_stage if stage.type == StageType.WON}
    found: Counter[tuple[Any, ...]] = Counter()
    for row in in_parts(session, count, cohort_parts(session)):
        found[tuple(row[:-1])] += int(row[-1])
    counts: dict[int, list[int]] = defaultdict(lambda: [0, 0, 0, 0])  # entered, advanced, ...
    stays: dict[int, Counter[int]] = defaultdict(Counter)  # days in stage -> completed stays
    deals = deals_won = deals_lost = 0
    for (stage_id, advanced, stay_days, deal_first, now_stage), entries in found.items():
        figures = counts[stage_id]
        figures[0] += entries
        if advanced:
            figures[1] += entries
        elif now_stage in lost_stages:
            figures[_LOST] += entries
        elif now_stage == stage_id:
            figures[_STILL] += entries
        if stay_days is not None:
            stays[stage_id][stay_days] += entries
        if deal_first:
            deals += entries
            deals_won += entries if now_stage in won_stages else 0
            deals_lost += entries if now_stage in lost_stages else 0
    rows = []
    for stage in (stage for stage in every_stage if stage.type == StageType.OPEN):
        entered, moved_on, lost, still = counts.get(stage.id) or [0, 0, 0, 0]
        rows.append(
            FunnelRow(
                pipeline=stage.p,
                stage=stage.name,
                position=stage.position,
                entered=entered,
                advanced=moved_on,
                lost=lost,
                still_in_stage=still,
                moved_back=entered - moved_on - lost - still,
                conversion=metrics.stage_conversion(moved_on, entered),
                completed_stays=stays[stage.id].total(),
                median_days_in_stage=metrics.median_of_counts(stays[stage.id]),
            )
        )
    summary = FunnelSummary(
        deals=deals,
        won=deals_won,
        lost=deals_lost,
        conversion_to_won=metrics.ratio(deals_won, deals),
    )
    return Report(
        **_envelope("funnel", scope, period, as_of), summary=summary, **page.report_rows(rows)
    )


def cohort_parts(session: Session) -> int:
    """Into how many parts by deal to read the stage cohort (`_cohort`), side by side.

    SQLite runs a statement on one core, and two parts halve the cohort's time (funnel on 1M
    deals, org-wide: 0.90 s in one part, 0.45 s in two). PostgreSQL already scans it with
    parallel workers, and parts besides made it slower (funnel 0.54-0.62 s in one part,
    0.65-0.78 s in two; the rep comparison for a team 0.19 s against 0.27-0.30 s): one part.
    """
    if session.get_bind().dialect.name == "postgresql":
        return 1
    return parallel_parts(session)


def _cohort(
    session: Session,
    scope: Scope,
    period: Period,
    as_of: datetime,
    part: Part = (0, 1),
    *,
    outcomes: bool = True,
) -> Subquery:
    """Per deal and open stage, the deal's first entry into the stage in the period (and by
    `as_of`): whether it advanced afterwards by `as_of` (`advanced` 1 or 0), its days in the
    stage if it left by then (`days`, else null), and its owner at `as_of` (`now_owner_id`);
    `deal_first` is 1 on one row per deal (its first entry into an open stage in the period),
    so that deals can be counted without a DISTINCT. `now_stage_id` is the deal's stage at
    `as_of` where the funnel needs it (an entry not advanced, or its deal's first), else null.
    Only the deals of `part`. Without `outcomes`, only `deal_id`, `stage_id`, `advanced` and
    `now_owner_id`: a team's cohort is a union, whose every column a database works out.

    The entries and what followed them come from the deals' stays (`DealStay`), one range of
    their index. The deal's row at `as_of` is looked up in its history only where the stay does
    not tell: its stage once the stay was left, unless the deal was in its latest stage by
    `as_of`; its owner once it changed.
    """
    stays = DealStay.__table__
    start = period.start_at

    def at_as_of(column: str) -> Any:
        # The deal's row at `as_of`. A deal's rows follow one another without gaps or
        # overlaps, so that row is the last one begun by `as_of` (or, where rows share a
        # moment, among the last): the deal's rows are sought backwards from `as_of`, and the
        # first one read is nearly always it. Read forwards from the entry, every row of the
        # deal's path since was read on the way (`EXPLAIN ANALYZE` on 1M deals, PostgreSQL:
        # four rows and 5 µs a look-up forwards, one row and 2 µs backwards).
        now = DealHistory.__table__.alias("now")
        return (
            select(now.c[column])
            .where(
                now.c.deal_id == stays.c.deal_id,
                now.c.valid_from >= stays.c.entered_at,
                now.c.valid_from <= as_of,
                or_(now.c.valid_to > as_of, now.c.valid_to.is_(None)),
            )
            .order_by(now.c.valid_from.desc())
            .limit(1)
            .scalar_subquery()
        )

    advanced = stays.c.advanced_at <= as_of
    deal_first = or_(stays.c.previous_open_at.is_(None), stays.c.previous_open_at < start)
    now_stage = case(
        (or_(stays.c.left_at.is_(None), stays.c.left_at > as_of), stays.c.stage_id),
        (and_(advanced, not_(deal_first)), null()),
        # In its latest stage since before `as_of` (a report as of now: nearly every deal).
        (stays.c.last_entered_at <= as_of, stays.c.last_stage_id),
        else_=at_as_of("stage_id"),
    )
    owner_kept = or_(stays.c.owner_until.is_(None), stays.c.owner_until > as_of)

    def entries(now_owner: Any, *where: Any) -> Select[Any]:
        columns = [
            stays.c.deal_id,
            stays.c.stage_id,
            case((advanced, 1), else_=0).label("advanced"),
            now_owner.label("now_owner_id"),
        ]
        if outcomes:
            columns += [
                case((stays.c.left_at <= as_of, stays.c.days)).label("days"),
                case((deal_first, 1), else_=0).label("deal_first"),
                now_stage.label("now_stage_id"),
            ]
        return select(*columns).where(
            between(stays.c.entered_at, start, period.end_at),
            stays.c.entered_at <= as_of,
            # The first entry into the stage in the period: none into it before, since the start.
            or_(stays.c.previous_at.is_(None), stays.c.previous_at < start),
            *in_part(stays.c.deal_id, part),
            *where,
        )

    if scope.owners is None:
        now_owner = case((owner_kept, stays.c.owner_id), else_=at_as_of("owner_id"))
        return entries(now_owner).subquery("cohort")
    # A team or a rep: the stays of its owners that kept their owner (`ix_deal_stays_owner`),
    # then those whose deal changed owner by `as_of`, with the owner looked up (a few in a
    # thousand). The whole period's stays are not read.
    kept = entries(stays.c.owner_id, owner_kept, stays.c.owner_id.in_(scope.owners))
    changed_owner = at_as_of("owner_id")
    changed = entries(changed_owner, stays.c.owner_until <= as_of, changed_owner.in_(scope.owners))
    return union_all(kept, changed).subquery("cohort")


# --- velocity --------------------------------------------------------------------------------

DEFAULT_WINDOW_DAYS = 90
MAX_WINDOW_DAYS = 3650
WINDOW_HELP = (
    f"trailing days ending on the day of --as-of (default {DEFAULT_WINDOW_DAYS}); "
    "the period options do not apply"
)


class VelocitySummary(BaseModel):
    window_days: int = Field(description="The trailing window, in UTC calendar days.")
    open_deals: int = Field(description="Deals open at `as_of`, whatever their close date.")
    won: int = Field(description="Deals won in the window and still won at `as_of`.")
    lost: int = Field(description="Deals lost in the window and still lost at `as_of`.")
    won_amount_cents: int
    average_won_amount_cents: int | None = Field(
        description="won_amount_cents / won, rounded to the cent; none with nothing won."
    )
    win_rate: float | None = Field(description="won / (won + lost); none with nothing closed.")
    average_cycle_days: float | None = Field(
        description="Mean UTC calendar days from creation to close of the won deals."
    )
    velocity_cents_per_day: int | None = Field(
        description="open_deals × average won amount × win_rate / average_cycle_days, rounded "
        "to the cent; none when a factor is unknown or the average cycle is 0 days."
    )


class VelocityRow(BaseModel):
    key: str = Field(description="The rep's name.")
    id: int
    open_deals: int
    won: int
    lost: int
    won_amount_cents: int
    average_won_amount_cents: int | None
    win_rate: float | None
    average_cycle_days: float | None
    velocity_cents_per_day: int | None


def velocity_window(as_of: datetime, days: int) -> Period:
    """The `days` UTC calendar days ending with the day of `as_of` (that day up to `as_of`)."""
    if not 1 <= days <= MAX_WINDOW_DAYS:
        raise InvalidInput(f"window {days}: give 1 to {MAX_WINDOW_DAYS} days")
    last = as_of.astimezone(UTC).date()
    try:
        return custom_period(last - timedelta(days=days - 1), last + timedelta(days=1))
    except OverflowError:
        raise InvalidInput(f"a {days}-day window up to {as_of} runs off the calendar") from None


def velocity_report(
    session: Session,
    scope: Scope,
    as_of: datetime,
    window: int = DEFAULT_WINDOW_DAYS,
    *,
    page: RowPage = ALL_ROWS,
) -> Report[VelocitySummary, VelocityRow]:
    """Pipeline velocity: money per day the open pipeline is expected to bring in, from the
    deals closed in a trailing window and the deals open at `as_of`, for the scope and each rep.

    The window is the `window` UTC calendar days ending with the day of `as_of` and is the
    report's period. Win rate, average won amount (each deal's amount at `as_of`, zero amounts
    included) and average cycle (days from creation to close, as in the cycle report, over the
    won deals) come from the deals closed in the window and still closed at `as_of`; open deals
    are all deals open at `as_of`, whatever their amount or close date. A rep's row uses that
    rep's own factors; the rows list the owners (at `as_of`) with an open or closed deal.
    """
    period = velocity_window(as_of, window)
    closed = _closed_in(scope, period, as_of, deal_fields=False)
    won = closed.c.stage_type == WON
    span = utc_days_between(closed.c.closed_at, closed.c.created_at)
    # A close recorded before the creation (imported data) counts as the same day.
    cycle_days = case((span < 0, 0), else_=span)
    closes = session.execute(
        select(
            closed.c.owner_id,
            func.sum(case((won, 1), else_=0)).label("won"),
            func.sum(case((won, 0), else_=1)).label("lost"),
            func.coalesce(func.sum(case((won, closed.c.amount_cents), else_=0)), 0).label(
                "won_amount"
            ),
            func.coalesce(func.sum(case((won, cycle_days), else_=0)), 0).label("cycle_days"),
        ).group_by(closed.c.owner_id)
    )
    by_owner: dict[int, list[int]] = defaultdict(lambda: [0, 0, 0, 0, 0])
    for owner_id, won_count, lost_count, won_amount, days in closes:
        by_owner[owner_id][1:] = [int(won_count), int(lost_count), int(won_amount), int(days)]
    state = open_as_of(as_of, "owner_id")
    open_counts = session.execute(
        _scoped(
            select(state.c.owner_id, func.count()).group_by(state.c.owner_id),
            scope,
            state.c.owner_id,
        )
    )
    for owner_id, count in open_counts:
        by_owner[owner_id][0] = int(count)
    names = dict(session.execute(select(User.id, User.name).where(User.id.in_(by_owner))).all())
    rows = [
        VelocityRow(key=names.get(owner_id, str(owner_id)), id=owner_id, **_factors(*figures))
        for owner_id, figures in by_owner.items()
    ]
    rows.sort(
        key=lambda row: (
            row.velocity_cents_per_day is None,
            -(row.velocity_cents_per_day or 0),
            row.key,
        )
    )
    totals = [sum(figures[i] for figures in by_owner.values()) for i in range(5)]
    summary = VelocitySummary(window_days=window, **_factors(*totals))
    return Report(
        **_envelope("velocity", scope, period, as_of), summary=summary, **page.report_rows(rows)
    )


def _factors(
    open_deals: int, won: int, lost: int, won_amount: int, cycle_days: int
) -> dict[str, Any]:
    """The velocity figures from the counts and sums of one rep or the whole scope."""
    average_won = metrics.ratio(won_amount, won)
    average_cycle = metrics.ratio(cycle_days, won)
    win_rate = metrics.win_rate(won, lost)
    velocity = metrics.pipeline_velocity(open_deals, average_won, win_rate, average_cycle)
    return {
        "open_deals": open_deals,
        "won": won,
        "lost": lost,
        "won_amount_cents": won_amount,
        "average_won_amount_cents": None if average_won is None else round(average_won),
        "win_rate": win_rate,
        "average_cycle_days": average_cycle,
        "velocity_cents_per_day": None if velocity is None else round(velocity),
    }


def _window(options: Mapping[str, str]) -> int:
    value = option(options, "window", str(DEFAULT_WINDOW_DAYS))
    try:
        return int(value)
    except ValueError:
        raise InvalidInput(f"window {value!r}: give a number of days") from None


register(
    ReportSpec(
        "funnel",
        "Stage conversion and time in stage",
        lambda session, scope, period, as_of, _options, page: funnel_report(
            session, scope, period, as_of, page=page
        ),
    )
)
register(
    ReportSpec(
        "velocity",
        "Pipeline velocity over a trailing window",
        lambda session, scope, _period, as_of, options, page: velocity_report(
            session, scope, as_of, window=_window(options), page=page
        ),
        {"window": WINDOW_HELP},
    )
)
