"""Change reports: how a period's open pipeline moved between an earlier moment and `as_of`.

Both reports compare two moments, `since` (by default the period's start) and `as_of`, and
read every change from `deal_history`: a change happens in the window when its row starts
after `since` and no later than `as_of` (`since < valid_from <= as_of`), which is exactly what
separates the state at `since` from the state at `as_of`.

- `slippage` lists the deals pushed out of the period while open.
- `waterfall` explains the open pipeline at `as_of` from the open pipeline at `since`, flow by
  flow, and the parts reconcile exactly.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, date, datetime, timedelta
from enum import StrEnum
from functools import partial
from typing import Any

from pydantic import BaseModel, Field
from sqlalchemy import (
    CTE,
    ColumnElement,
    Row,
    Select,
    and_,
    case,
    func,
    not_,
    or_,
    select,
    true,
    union_all,
)
from sqlalchemy.orm import Session

from topline.analytics import metrics
from topline.analytics.history import Part, current_at, in_part, in_parts, state_as_of
from topline.analytics.paging import ALL_ROWS, RowPage
from topline.analytics.periods import Period
from topline.analytics.registry import ReportSpec, option, register
from topline.analytics.reports import Report, _envelope, _scoped, open_closing_in
from topline.analytics.scope import Scope
from topline.auth.models import User
from topline.clock import ensure_utc
from topline.crm.enums import StageType
from topline.crm.models import Deal, DealHistory, DealStay
from topline.errors import InvalidInput
from topline.storage.db import parallel_parts, read_in_parallel
from topline.storage.sql import names_by_id

OPEN = StageType.OPEN.value


def resolve_since(period: Period, as_of: datetime, since: datetime | None) -> datetime:
    """The window's first moment: `since` (UTC when naive), by default the period's start, or
    `as_of` itself when the period starts later (an empty window).

    Raises `InvalidInput` when `since` is after `as_of`.
    """
    if since is None:
        return min(period.start_at, as_of)
    since = ensure_utc(since)
    if since > as_of:
        raise InvalidInput(
            f"since {since.isoformat()} is after as_of {as_of.isoformat()}: give an earlier moment"
        )
    return since


def _in_period(column: Any, period: Period) -> ColumnElement[bool]:
    return and_(column >= period.start, column < period.end)


def _owned(scope: Scope, column: Any) -> ColumnElement[bool]:
    condition = scope.owned(column)
    return true() if condition is None else condition


def _flag(condition: ColumnElement[bool]) -> Any:
    """1 or 0, never null: conditions on an outer-joined side are null when it is missing."""
    return case((condition, 1), else_=0)


def open_pipeline(
    session: Session, scope: Scope, period: Period, moment: datetime
) -> tuple[int, int]:
    """Open deals closing in the period at `moment`, owned in the scope then: count, amount."""
    state = open_closing_in(moment, period)
    stmt = _scoped(
        select(func.count(), func.coalesce(func.sum(state.c.amount_cents), 0)),
        scope,
        state.c.owner_id,
    )
    deals, amount = session.execute(stmt).one()
    return int(deals), int(amount)


# --- slippage --------------------------------------------------------------------------------


class SlippageSummary(BaseModel):
    since: datetime = Field(description="The window's first moment (left out).")
    deals_pushed: int = Field(description="Deals pushed out of the period in the window.")
    pushes: int = Field(description="Their pushes, out of the period or further out.")
    amount_pushed_cents: int = Field(description="Their amounts just before they left.")
    pipeline_at_since_cents: int = Field(
        description="Open pipeline closing in the period at `since`."
    )
    slipped_at_since_cents: int = Field(
        description="The part of it (amounts at `since`) pushed out of the period by `as_of`."
    )
    slipped_share: float | None = Field(
        description="slipped_at_since / pipeline_at_since; none with no pipeline at `since`."
    )


class SlippageRow(BaseModel):
    deal_id: int
    name: str
    owner_id: int = Field(description="Who owned the deal when it first left the period.")
    owner: str
    from_close_date: date = Field(description="The close date before its first push out.")
    to_close_date: date = Field(description="The close date after its latest push.")
    pushes: int = Field(description="Pushes in the window, out of the period or further out.")
    amount_cents: int = Field(description="Its amount just before its first push out.")
    back_in_period: bool = Field(
        description="Open again with a close date in the period at `as_of`."
    )


def _pushes(
    scope: Scope, period: Period, since: datetime, as_of: datetime, part: Part = (0, 1)
) -> CTE:
    """Every push in the window: a change of an open deal that stays open and moves its close
    date later, to a date after the period, from a date in the period (`is_out` 1) or already
    after it (`is_out` 0).

    History rows mark pushes as they are written (`DealHistory.pushed_from`), so the window's
    pushes are one range of the partial index `ix_deal_history_pushed`. Only the deals of
    `part`, and for a team or a rep only the deals that may concern it (`_may_concern`).
    """
    history = DealHistory.__table__
    concern = (
        []
        if scope.owners is None
        else [_may_concern(scope, history.c.owner_id, history.c.deal_id, since, as_of)]
    )
    return (
        select(
            history.c.id,
            history.c.deal_id,
            history.c.valid_from,
            history.c.close_date,
            history.c.pushed_from.label("previous_close_date"),
            _flag(history.c.pushed_from < period.end).label("is_out"),
        )
        .where(
            history.c.pushed_from.is_not(None),
            history.c.valid_from > since,
            history.c.valid_from <= as_of,
            history.c.pushed_from >= period.start,
            history.c.close_date >= period.end,
            *in_part(history.c.deal_id, part),
            *concern,
        )
        # A CTE: the report's statement reads it once, and either database may inline it.
        .cte("pushes")
    )


def _may_concern(
    scope: Scope, owner_id: Any, deal_id: Any, since: datetime, as_of: datetime
) -> ColumnElement[bool]:
    """Whether a push (its row's `owner_id` and `deal_id`) may concern the scope: the push's
    owner is in it, or the deal changed owner around the window, so that its pushes may have
    had owners in and out of the scope.

    A deal concerns a scope through its owner just before its first push out, or its owner at
    `since`; both owned an open row of the deal current in the window. A deal's open rows lie
    in its stays (`DealStay`), and a stay that overlaps the window and whose deal kept the
    owner of its entry up to `as_of` (`owner_until` null or later) says that the deal had one
    owner from then to `as_of`: the owner of every push in the window. So a deal whose
    stays in the window all kept their owner concerns the scope only if its pushes' owner is
    in it; the others are few, read off the partial index `ix_deal_stays_reassigned` and kept
    whoever owned their pushes. The scope's own filter comes after, exactly.
    """
    stays = DealStay.__table__
    reassigned = select(stays.c.deal_id).where(
        stays.c.owner_until.is_not(None),
        stays.c.owner_until <= as_of,
        stays.c.entered_at <= as_of,
        or_(stays.c.left_at.is_(None), stays.c.left_at > since),
    )
    return or_(_owned(scope, owner_id), deal_id.in_(reassigned))


def _row_before(row_id: Any, deal_id: Any, valid_from: Any) -> Any:
    """The id of the history row just before row `row_id` of deal `deal_id` (by `valid_from`,
    then id), as a correlated scalar subquery."""
    history = DealHistory.__table__
    earlier = history.alias("earlier")
    return (
        select(earlier.c.id)
        .where(
            earlier.c.deal_id == deal_id,
            # The bound of the index range read backwards; the next condition is exact.
            earlier.c.valid_from <= valid_from,
            or_(
                earlier.c.valid_from < valid_from,
                and_(earlier.c.valid_from == valid_from, earlier.c.id < row_id),
            ),
        )
        .order_by(earlier.c.valid_from.desc(), earlier.c.id.desc())
        .limit(1)
        .scalar_subquery()
    )


def slippage_report(
    session: Session,
    scope: Scope,
    period: Period,
    as_of: datetime,
    *,
    since: datetime | None = None,
    page: RowPage = ALL_ROWS,
) -> Report[SlippageSummary, SlippageRow]:
    """Deals whose close date moved out of the period while they were open, between `since`
    and `as_of`: one row per deal, with how often and how far it was pushed.

    A push is a change of an open deal, leaving it open, that moves its close date later to a
    date after the period; it pushes the deal out when the date it leaves is in the period, and
    further out when the deal was already past the period. A deal is listed when it was pushed
    out at least once in the window; its `pushes` count every push of it in the window, and a
    deal pushed out, pulled back and pushed out again counts twice. Closing a deal (which sets
    its close date to the day it closed) and reopening it are not pushes. The deal belongs to
    the scope of its owner when it first left the period; the summary's share is of the
    scope's open pipeline at `since` (owners then), at the amounts it had then.
    """
    since = resolve_since(period, as_of, since)

    def slipped(session: Session, part: Part) -> list[Row[Any]]:
        return list(session.execute(_slipped_deals(scope, period, since, as_of, part)))

    # The deals are read in parts, side by side: a deal's pushes and what is looked up for it
    # are its own. The scope's pipeline at `since` is read on another connection meanwhile,
    # each in a snapshot of its own: only a write dated at or before `as_of` landing between
    # the reads (an import of past history) could make the share's two figures disagree.
    parts = parallel_parts(session)
    *found, (_, pipeline_at_since) = read_in_parallel(
        session,
        *(partial(slipped, part=(k, parts)) for k in range(parts)),
        lambda session: open_pipeline(session, scope, period, since),
    )
    # Sorted here by amount then deal id (positions 5 and 0 of `_slipped_deals`), and read as
    # tuples: reading tens of thousands of rows by column name was a sizeable part of the
    # report's time.
    rows = [tuple(row) for part in found for row in part]
    rows.sort(key=lambda row: (-row[5], row[0]))
    slipped_cents = sum(int(row[8] or 0) for row in rows)  # `slipped_cents`, the last
    listed = [row for row in rows if row[7]]  # `listed`
    summary = SlippageSummary(
        since=since,
        deals_pushed=len(listed),
        pushes=sum(int(row[4]) for row in listed),
        amount_pushed_cents=sum(int(row[5]) for row in listed),
        pipeline_at_since_cents=pipeline_at_since,
        slipped_at_since_cents=slipped_cents,
        slipped_share=metrics.ratio(slipped_cents, pipeline_at_since),
    )
    # Rows made for the page only, with the names of its deals and owners: tens of thousands
    # of deals slip on a large org, and looking up every name took a fifth of the statement.
    shown = page.take(listed)
    deal_names = names_by_id(session, Deal, (row[0] for row in shown))
    owners = names_by_id(session, User, (row[1] for row in shown))

    def row(found: tuple[Any, ...]) -> SlippageRow:
        # A deal or user deleted since the parts were read keeps its id.
        deal_id, owner_id = found[0], found[1]
        name, owner = deal_names.get(deal_id, f"Deal {deal_id}"), owners.get(owner_id, "")
        return _slippage_row(found, name, owner)

    return Report(
        **_envelope("slippage", scope, period, as_of),
        summary=summary,
        **page.report_rows(listed, row),
    )


def _slippage_row(found: tuple[Any, ...], name: str, owner: str) -> SlippageRow:
    """A listed deal of `_slipped_deals` as its row, with its name and its owner's."""
    (
        deal_id, owner_id, from_close_date, to_close_date, pushes, amount_cents, back_in_period,
        _, _,
    ) = found  # fmt: skip
    return SlippageRow(
        deal_id=deal_id,
        name=name,
        owner_id=owner_id,
        owner=owner,
        from_close_date=from_close_date,
        to_close_date=to_close_date,
        pushes=int(pushes),
        amount_cents=int(amount_cents),
        back_in_period=bool(back_in_period),
    )


def _slipped_deals(
    scope: Scope, period: Period, since: datetime, as_of: datetime, part: Part
) -> Select[Any]:
    """The deals of `part` pushed out of the period in the window that concern the scope:
    their slippage row but the names (`slippage_report` reads those for the rows it shows),
    whether the scope lists it (`listed`), and the amount it had in the scope's pipeline at
    `since` (`slipped_cents`, 0 when it was not in it)."""
    pushes = _pushes(scope, period, since, as_of, part)
    # One pass over each deal's pushes in time order (one sort for all three): how many, the
    # close date after the latest, and how many pushed it out up to each one; the first push
    # out is the push out with one so far. A deal with none drops out.
    by_deal, in_order = pushes.c.deal_id, (pushes.c.valid_from, pushes.c.id)
    ranked = select(
        pushes.c.id,
        pushes.c.deal_id,
        pushes.c.valid_from,
        pushes.c.is_out,
        pushes.c.previous_close_date,
        func.count()
        .over(partition_by=by_deal, order_by=in_order, rows=(None, None))
        .label("pushes"),
        func.last_value(pushes.c.close_date, type_=pushes.c.close_date.type)
        .over(partition_by=by_deal, order_by=in_order, rows=(None, None))
        .label("to_close_date"),
        func.sum(pushes.c.is_out)
        .over(partition_by=by_deal, order_by=in_order, rows=(None, 0))
        .label("outs"),
    ).subquery("ranked")
    first_out = (
        select(
            ranked,
            _row_before(ranked.c.id, ranked.c.deal_id, ranked.c.valid_from).label("before_id"),
        )
        .where(ranked.c.outs == 1, ranked.c.is_out == 1)
        .subquery("first_out")
    )
    # The deal just before its first push out: its owner and amount then.
    before = DealHistory.__table__.alias("before")
    now = state_as_of(as_of)
    # The pipeline at `since`, for the part of it that slipped: read in the same statement, as
    # the pushes are the costly part and a database works them out again for each statement.
    then = state_as_of(since).alias("at_since")
    back = and_(now.c.stage_type == OPEN, _in_period(now.c.close_date, period))
    open_then = and_(
        then.c.stage_type == OPEN,
        _in_period(then.c.close_date, period),
        _owned(scope, then.c.owner_id),
    )
    return (
        select(
            first_out.c.deal_id,
            before.c.owner_id,
            first_out.c.previous_close_date.label("from_close_date"),
            first_out.c.to_close_date,
            first_out.c.pushes,
            before.c.amount_cents,
            _flag(back).label("back_in_period"),
            _flag(_owned(scope, before.c.owner_id)).label("listed"),
            case((open_then, then.c.amount_cents), else_=0).label("slipped_cents"),
        )
        .join(before, before.c.id == first_out.c.before_id)
        .join(now, now.c.deal_id == first_out.c.deal_id)
        .outerjoin(then, then.c.deal_id == first_out.c.deal_id)
        # Only the scope's rows: listed, or part of its pipeline at `since`.
        .where(or_(_owned(scope, before.c.owner_id), open_then))
    )


# --- waterfall -------------------------------------------------------------------------------


class Flow(StrEnum):
    """The parts of the waterfall, in the order of its equation."""

    CREATED = "created"
    PULLED_IN = "pulled_in"
    INCREASED = "increased"
    DECREASED = "decreased"
    PUSHED_OUT = "pushed_out"
    WON = "won"
    LOST = "lost"
    OTHER = "other"


ADDED = (Flow.CREATED, Flow.PULLED_IN, Flow.INCREASED)

# Finer reasons folded into `other`: the ones that bring a deal in count against it.
_OTHER_OUT = ("transferred_out", "moved_earlier")
_OTHER_IN = "transferred_in"


class WaterfallSummary(BaseModel):
    since: datetime = Field(description="Moment A; `as_of` is moment B.")
    open_at_since_deals: int
    open_at_since_cents: int = Field(description="Open pipeline closing in the period at A.")
    created_cents: int
    pulled_in_cents: int
    increased_cents: int
    decreased_cents: int
    pushed_out_cents: int
    won_cents: int
    lost_cents: int
    other_cents: int = Field(description="A net figure: negative when more came in than left.")
    open_at_as_of_deals: int
    open_at_as_of_cents: int = Field(description="Open pipeline closing in the period at B.")
    reconciles: bool = Field(description="Whether the equation holds (it always should).")
    equation: str = Field(description="The identity with this report's figures.")


class WaterfallRow(BaseModel):
    category: Flow
    sign: int = Field(description="+1 when the part adds to the pipeline, -1 when it takes.")
    deals: int
    amount_cents: int


def _days_of_part(period: Period, part: Part) -> tuple[date, date]:
    """Part k of n of the period's days, in order, as `[start, end)` (empty for some parts
    when the period has fewer days than parts)."""
    k, parts = part
    return (
        period.start + timedelta(days=period.days * k // parts),
        period.start + timedelta(days=period.days * (k + 1) // parts),
    )


def _deal_flows(
    scope: Scope, period: Period, since: datetime, as_of: datetime, part: Part = (0, 1)
) -> CTE:
    """One row per deal of `part` in the pipeline at A or B, or moving it: how it came in
    (`entry`), how it left (`exit`), its amounts at A and B and whether it was in the pipeline
    at each (`in_a`, `in_b`).

    Part k of n holds the deals whose row at B closes in the k-th n-th of the period's days
    (`_days_of_part`) and is owned in the scope, and the deals whose row at A does, owned
    in the scope then, unless their row at B belongs to another part: every deal in exactly
    one part, each part reading its own stretch of the index instead of all of it.
    """
    # Every deal that moves the waterfall closes in the period at A or at B (a deal closed in
    # the window has its close date at B in the period), so only those deals are read: their
    # rows at each moment closing in the period then, read off one index range per moment,
    # and the few rows looked up by deal at the other moment (a deal that left the period, or
    # came into it; one created after A has no row at A, as a history never starts before its
    # deal's creation). Looking up every candidate's rows at both moments, as before, cost
    # SQLite 260k lookups on 1M deals, and PostgreSQL hashed every deal's row at each moment.
    history = DealHistory.__table__
    first_day, end_day = _days_of_part(period, part)
    in_period = and_(history.c.close_date >= first_day, history.c.close_date < end_day)
    common = (
        history.c.deal_id,
        history.c.owner_id,
        history.c.stage_type,
        history.c.close_date,
        history.c.amount_cents,
    )
    # Each is read twice below, so each is a CTE: computed once. Only the rows owned in the
    # scope then: a deal owned outside it at one moment is looked up there like one that came
    # or left, and its owner then makes it `other` (handed in or out).
    owned = _owned(scope, history.c.owner_id)
    in_at_a = select(*common).where(current_at(since), in_period, owned).cte("in_period_at_since")
    at_b_columns = (*common, history.c.closed_at, history.c.deal_created_at)
    in_at_b = (
        select(*at_b_columns).where(current_at(as_of), in_period, owned).cte("in_period_at_as_of")
    )
    came_in = (
        select(in_at_b.c.deal_id)
        .where(or_(in_at_b.c.deal_created_at.is_(None), in_at_b.c.deal_created_at <= since))
        .except_(select(in_at_a.c.deal_id))
    )
    left = select(in_at_a.c.deal_id).except_(select(in_at_b.c.deal_id))
    a = union_all(
        select(in_at_a),
        select(*common).where(current_at(since), history.c.deal_id.in_(came_in)),
    ).cte("at_since")
    # A deal that left this part's days may have moved to another part's, which counts it.
    elsewhere = and_(_in_period(history.c.close_date, period), owned)
    b = union_all(
        select(in_at_b),
        select(*at_b_columns).where(
            current_at(as_of), history.c.deal_id.in_(left), not_(elsewhere)
        ),
    ).subquery("at_as_of")
    owned_a = _owned(scope, a.c.owner_id)
    owned_b = _owned(scope, b.c.owner_id)
    in_a = and_(
        a.c.deal_id.is_not(None),
        a.c.stage_type == OPEN,
        _in_period(a.c.close_date, period),
        owned_a,
    )
    in_b = and_(b.c.stage_type == OPEN, _in_period(b.c.close_date, period), owned_b)
    closed_in_window = and_(
        b.c.stage_type != OPEN,
        _in_period(b.c.close_date, period),
        b.c.closed_at > since,
        owned_b,
    )
    flags = (
        select(
            b.c.deal_id,
            a.c.deal_id.label("existed"),
            _flag(owned_a).label("owned_a"),
            _flag(owned_b).label("owned_b"),
            _flag(in_a).label("in_a"),
            _flag(in_b).label("in_b"),
            _flag(closed_in_window).label("closed_in_window"),
            b.c.stage_type,
            b.c.close_date,
            func.coalesce(a.c.amount_cents, 0).label("amount_a"),
            b.c.amount_cents.label("amount_b"),
        )
        .join_from(b, a, a.c.deal_id == b.c.deal_id, isouter=True)
        .subquery("flags")
    )
    f = flags.c
    entry = case(
        (f.in_a == 1, None),
        (and_(f.in_b == 0, f.closed_in_window == 0), None),
        (f.existed.is_(None), Flow.CREATED.value),
        (f.owned_a == 0, _OTHER_IN),
        else_=Flow.PULLED_IN.value,
    )
    exit_ = case(
        (f.in_b == 1, None),
        (and_(f.in_a == 0, f.closed_in_window == 0), None),
        (f.owned_b == 0, "transferred_out"),
        (f.stage_type == StageType.WON.value, Flow.WON.value),
        (f.stage_type == StageType.LOST.value, Flow.LOST.value),
        (f.close_date >= period.end, Flow.PUSHED_OUT.value),
        else_="moved_earlier",
    )
    change = case(
        (and_(f.in_a == 1, f.amount_b > f.amount_a), Flow.INCREASED.value),
        (and_(f.in_a == 1, f.amount_b < f.amount_a), Flow.DECREASED.value),
        else_=None,
    )
    return (
        select(
            f.deal_id,
            entry.label("entry"),
            exit_.label("exit"),
            change.label("change"),
            f.in_a,
            f.in_b,
            f.amount_a,
            f.amount_b,
        )
        .where((f.in_a == 1) | (f.in_b == 1) | (f.closed_in_window == 1))
        # A CTE, computed once: the report groups the flows three ways.
        .cte("flows")
    )


def waterfall_report(
    session: Session,
    scope: Scope,
    period: Period,
    as_of: datetime,
    *,
    since: datetime | None = None,
    page: RowPage = ALL_ROWS,
) -> Report[WaterfallSummary, WaterfallRow]:
    """How the period's open pipeline went from moment A (`since`) to moment B (`as_of`):
    open at A + created + pulled in + increased − decreased − pushed out − won − lost − other
    = open at B, exactly.

    The pipeline at a moment is the open deals closing in the period, owned in the scope then.
    Each deal is classified by comparing its state at A and at B:

    - In the pipeline at both: the change of its amount is `increased` or `decreased`, even
      when it was pushed out and pulled back, or closed and reopened, in between.
    - In it at A, not at B: it left. Owned outside the scope at B: `other` (handed over);
      won or lost at B: `won` or `lost`; open with a close date after the period:
      `pushed_out`; open with a close date before the period: `other`. Its amount change from A
      to B counts as `increased` or `decreased`, and it leaves at its amount at B (a deal won
      at a new amount is won at that amount).
    - In it at B, not at A: it came in at its amount at B. Created after A: `created`; owned
      outside the scope at A: `other`, counted negative; otherwise (closing in another period,
      or closed, at A) `pulled_in`, which includes a deal reopened into the period.
    - In it at neither, but closed (won or lost) between A and B with a close date in the
      period and owned in the scope at B: it came in as above and left as `won` or `lost`, at
      its amount at B, so a deal created or pulled in and won within the window shows in both.

    Every deal then adds exactly (amount at B if in the pipeline at B) − (amount at A if in it
    at A), so the parts reconcile by construction; the two ends are also summed on their own,
    from the deals' states at A and at B rather than from the parts, and `reconciles` checks
    the identity against them. `other` is a net figure (deals handed out of the scope or moved
    before the period, less deals handed into it).
    """
    since = resolve_since(period, as_of, since)

    def grouped(session: Session, part: Part) -> list[Any]:
        # One pass over the flows, grouped by all three ways at once (a deal counts for its
        # entry, its exit and its change, each with the amounts below) and by whether the deal
        # was in the pipeline at A and at B: the two ends, summed over the deals' states there.
        flows = _deal_flows(scope, period, since, as_of, part)
        keys = (flows.c.entry, flows.c.exit, flows.c.change, flows.c.in_a, flows.c.in_b)
        stmt = select(
            *keys,
            func.count(),
            func.sum(flows.c.amount_a),
            func.sum(flows.c.amount_b),
            func.sum(func.abs(flows.c.amount_b - flows.c.amount_a)),
        ).group_by(*keys)
        return list(session.execute(stmt))

    # The deals are read in parts, side by side: what moves a deal is its own.
    found = in_parts(session, grouped)
    deals = dict.fromkeys(Flow, 0)
    amounts = dict.fromkeys(Flow, 0)
    start_deals = start = end_deals = end = 0
    for entry, exit_, change, in_a, in_b, count, amount_a, amount_b, changed_by in found:
        if in_a:
            start_deals, start = start_deals + count, start + int(amount_a)
        if in_b:
            end_deals, end = end_deals + count, end + int(amount_b)
        for name, amount in ((entry, amount_b), (exit_, amount_b), (change, changed_by)):
            if name is None:
                continue
            if name in _OTHER_OUT or name == _OTHER_IN:
                flow, sign = Flow.OTHER, -1 if name == _OTHER_IN else 1
            else:
                flow, sign = Flow(name), 1
            deals[flow] += int(count)
            amounts[flow] += sign * int(amount)
    rows = [
        WaterfallRow(
            category=flow,
            sign=1 if flow in ADDED else -1,
            deals=deals[flow],
            amount_cents=amounts[flow],
        )
        for flow in Flow
    ]
    balance = start + sum(row.sign * row.amount_cents for row in rows)
    terms = " ".join(
        f"{'+' if row.sign > 0 else '-'} {row.category.value} {row.amount_cents}" for row in rows
    )
    summary = WaterfallSummary(
        since=since,
        open_at_since_deals=start_deals,
        open_at_since_cents=start,
        created_cents=amounts[Flow.CREATED],
        pulled_in_cents=amounts[Flow.PULLED_IN],
        increased_cents=amounts[Flow.INCREASED],
        decreased_cents=amounts[Flow.DECREASED],
        pushed_out_cents=amounts[Flow.PUSHED_OUT],
        won_cents=amounts[Flow.WON],
        lost_cents=amounts[Flow.LOST],
        other_cents=amounts[Flow.OTHER],
        open_at_as_of_deals=end_deals,
        open_at_as_of_cents=end,
        reconciles=balance == end,
        equation=f"open_at_since {start} {terms} = open_at_as_of {end}"
        + ("" if balance == end else f" (the parts give {balance})"),
    )
    return Report(
        **_envelope("waterfall", scope, period, as_of), summary=summary, **page.report_rows(rows)
    )


# --- registration ----------------------------------------------------------------------------


def parse_since(options: Mapping[str, str]) -> datetime | None:
    """The `since` option: an ISO date or moment, UTC when it has no timezone."""
    value = option(options, "since")
    if value is None:
        return None
    try:
        moment = datetime.fromisoformat(value.strip())
    except ValueError:
        raise InvalidInput(
            f"since {value!r}: give an ISO date or moment, e.g. 2025-07-01T00:00Z"
        ) from None
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


SINCE_OPTION = {"since": "the earlier moment (ISO; UTC when naive); default the period's start"}

register(
    ReportSpec(
        "slippage",
        "Deals pushed out of the period while open",
        lambda session, scope, period, as_of, options, page: slippage_report(
            session, scope, period, as_of, since=parse_since(options), page=page
        ),
        SINCE_OPTION,
    )
)
register(
    ReportSpec(
        "waterfall",
        "How the period's open pipeline moved between two moments",
        lambda session, scope, period, as_of, options, page: waterfall_report(
            session, scope, period, as_of, since=parse_since(options), page=page
        ),
        SINCE_OPTION,
    )
)
