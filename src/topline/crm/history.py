"""Reading a deal's change history: replay and state as of a moment."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from itertools import pairwise
from typing import Any, NamedTuple

from sqlalchemy import func, or_, select, update
from sqlalchemy.orm import Session

from topline.crm.enums import ForecastCategory, StageType
from topline.crm.models import Deal, DealHistory


@dataclass(frozen=True)
class DealState:
    """The tracked fields of a deal at one moment."""

    stage_id: int
    amount_cents: int
    close_date: date
    forecast_category: ForecastCategory
    owner_id: int

    @classmethod
    def of(cls, record: Deal | DealHistory) -> DealState:
        """The tracked state held by a deal or a history row."""
        return cls(
            stage_id=record.stage_id,
            amount_cents=record.amount_cents,
            close_date=record.close_date,
            forecast_category=ForecastCategory(record.forecast_category),
            owner_id=record.owner_id,
        )


# The columns of a history row that `next_marks` derives.
HISTORY_MARKS = ("stage_type", "is_first", "entered_at", "closed_at", "pushed_from")


class HistoryMarks(NamedTuple):
    """The columns of a history row that follow from the deal's earlier rows (see
    `DealHistory`), with the row's stage and close date, which the next row's marks are worked
    out from. A named tuple: the importer makes one per history row it writes."""

    stage_id: int
    close_date: date
    stage_type: StageType
    is_first: bool
    entered_at: datetime
    closed_at: datetime | None
    pushed_from: date | None

    def as_values(self) -> dict[str, object]:
        """The marks as column values, in the order of `HISTORY_MARKS`."""
        return {
            "stage_type": self.stage_type,
            "is_first": self.is_first,
            "entered_at": self.entered_at,
            "closed_at": self.closed_at,
            "pushed_from": self.pushed_from,
        }


def next_marks(
    previous: HistoryMarks | None,
    stage_id: int,
    stage_type: StageType,
    at: datetime,
    close_date: date,
) -> HistoryMarks:
    """The marks of a row starting at `at` in `stage_id` with `close_date`, after the deal's
    `previous` row (None for the deal's first row)."""
    if previous is None:
        closed_at = None if stage_type == StageType.OPEN else at
        return HistoryMarks(stage_id, close_date, stage_type, True, at, closed_at, None)
    entered_at = previous.entered_at if previous.stage_id == stage_id else at
    if stage_type == StageType.OPEN:
        closed_at = None
    else:
        closed_at = previous.closed_at if previous.closed_at is not None else at
    pushed_from = None
    if (
        stage_type == StageType.OPEN
        and previous.stage_type == StageType.OPEN
        and close_date > previous.close_date
    ):
        pushed_from = previous.close_date
    return HistoryMarks(stage_id, close_date, stage_type, False, entered_at, closed_at, pushed_from)


def marks_of(row: DealHistory) -> HistoryMarks:
    """The marks a stored history row carries."""
    return HistoryMarks(
        row.stage_id, row.close_date, StageType(row.stage_type), row.is_first, row.entered_at,
        row.closed_at, row.pushed_from,
    )  # fmt: skip


def replay(rows: Sequence[DealHistory]) -> DealState:
    """The state a deal ends in after applying its history rows in time order.

    Raises `ValueError` when the rows are not one contiguous chain of intervals that ends in
    exactly one open row — the invariant every write keeps.
    """
    if not rows:
        raise ValueError("a deal has at least its creation row")
    ordered = sorted(rows, key=lambda row: (row.valid_from, row.id))
    for previous, following in pairwise(ordered):
        if previous.valid_to != following.valid_from:
            raise ValueError(
                f"history row {previous.id} ends at {previous.valid_to} but the next "
                f"starts at {following.valid_from}"
            )
    if ordered[-1].valid_to is not None:
        raise ValueError(f"the last history row {ordered[-1].id} is closed")
    return DealState.of(ordered[-1])


def deal_history(session: Session, deal_id: int) -> list[DealHistory]:
    """The history rows of one deal, oldest first."""
    return list(
        session.scalars(
            select(DealHistory)
            .where(DealHistory.deal_id == deal_id)
            .order_by(DealHistory.valid_from, DealHistory.id)
        )
    )


def deal_state_as_of(session: Session, deal_id: int, moment: datetime) -> DealState | None:
    """The deal's tracked state at `moment`, or None if it did not exist yet."""
    row = session.scalar(
        select(DealHistory).where(
            DealHistory.deal_id == deal_id,
            DealHistory.valid_from <= moment,
            or_(DealHistory.valid_to > moment, DealHistory.valid_to.is_(None)),
        )
    )
    return DealState.of(row) if row is not None else None


# Deals per statement when refreshing given deals: SQLite allows 32,766 bound values.
_REFRESH_CHUNK = 10_000


def for_deals(
    refresh: Callable[[Session, Sequence[int] | None], None],
    session: Session,
    deal_ids: Iterable[int] | None,
) -> None:
    """Run `refresh` for every deal (None) or for the given deals, a bounded number of them per
    statement."""
    if deal_ids is None:
        refresh(session, None)
        return
    ids = sorted(set(deal_ids))
    for start in range(0, len(ids), _REFRESH_CHUNK):
        refresh(session, ids[start : start + _REFRESH_CHUNK])


def refresh_pushes(session: Session, deal_ids: Iterable[int] | None = None) -> None:
    """Work out `Deal.push_count` and `Deal.last_pushed_at` again from the history rows, for
    the given deals or for every deal (None).

    The deal service keeps both as it writes; writers that load history in bulk (imports, the
    demo) call this afterwards. A push is a history row whose close date is later than that of
    the deal's row before it (by `valid_from`, then id).
    """
    for_deals(_refresh_pushes, session, deal_ids)


def _refresh_pushes(session: Session, deal_ids: Sequence[int] | None) -> None:
    order = (DealHistory.valid_from, DealHistory.id)
    previous = func.lag(DealHistory.close_date).over(
        partition_by=DealHistory.deal_id, order_by=order
    )
    rows = select(
        DealHistory.deal_id, DealHistory.valid_from, DealHistory.close_date,
        previous.label("previous_close_date"),
    )  # fmt: skip
    if deal_ids is not None:
        rows = rows.where(DealHistory.deal_id.in_(deal_ids))
    steps = rows.subquery("steps")
    pushes = (
        select(
            steps.c.deal_id,
            func.count().label("pushes"),
            func.max(steps.c.valid_from).label("last_pushed_at"),
        )
        .where(steps.c.close_date > steps.c.previous_close_date)
        .group_by(steps.c.deal_id)
        .subquery("pushes")
    )
    # Plain UPDATEs: derived columns are no edit, so they leave `version` alone. Only deals that
    # had pushes are reset, so a refresh of freshly loaded deals rewrites just the pushed ones.
    reset = update(Deal).where(or_(Deal.push_count != 0, Deal.last_pushed_at.is_not(None)))
    if deal_ids is not None:
        reset = reset.where(Deal.id.in_(deal_ids))
    unsynced = {"synchronize_session": False}
    session.execute(reset.values(push_count=0, last_pushed_at=None), execution_options=unsynced)
    session.execute(
        update(Deal)
        .where(Deal.id == pushes.c.deal_id)
        .values(push_count=pushes.c.pushes, last_pushed_at=pushes.c.last_pushed_at),
        execution_options=unsynced,
    )


# The deal's fields each of its history rows repeats as they are now (`DealHistory`), by the
# names of their copies on the history rows.
SUBSCRIPTION_FIELDS = {
    "account_id": "account_id",
    "type": "deal_type",
    "recurring_amount_cents": "recurring_amount_cents",
}
# Deals per statement of `copy_subscription_fields`: well under PostgreSQL's 65,535 parameters.
COPY_SLICE = 10_000


def subscription_copies(deal: Deal) -> dict[str, object]:
    """The copies of the deal's subscription fields a new history row of it holds."""
    return {copy: getattr(deal, field) for field, copy in SUBSCRIPTION_FIELDS.items()}


def copied_from(deals: Any) -> dict[str, Any]:
    """The copies as columns of `deals` (the deals table or an alias), for an UPDATE of history
    rows joined to their deals."""
    return {copy: deals.c[field] for field, copy in SUBSCRIPTION_FIELDS.items()}


def copy_subscription_fields(session: Session, deal_ids: Sequence[int]) -> None:
    """Rewrite the copies of the deals' subscription fields on all their history rows, after
    the fields changed on the deals. The copies are no tracked state, so this changes no history:
    no row is added and `valid_from` and `changed_fields` stay as they are. Rows the session
    holds forget their old copies."""
    session.flush()  # nothing pending is lost by the expiry below
    history = DealHistory.__table__
    deals = Deal.__table__
    for start in range(0, len(deal_ids), COPY_SLICE):
        chunk = list(deal_ids[start : start + COPY_SLICE])
        session.execute(
            update(history)  # type: ignore[arg-type]
            .where(deals.c.id == history.c.deal_id, deals.c.id.in_(chunk))
            .values(copied_from(deals))
        )
    changed = set(deal_ids)
    for row in list(session.identity_map.values()):
        if isinstance(row, DealHistory) and row.deal_id in changed:
            session.expire(row, list(SUBSCRIPTION_FIELDS.values()))
