"""Reading a deal's change history: replay and state as of a moment."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime
from itertools import pairwise
from typing import NamedTuple

from sqlalchemy import or_, select
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
HISTORY_MARKS = ("stage_type", "is_first", "entered_at", "closed_at")


class HistoryMarks(NamedTuple):
    """The columns of a history row that follow from the deal's earlier rows (see
    `DealHistory`). A named tuple: the importer makes one per history row it writes."""

    stage_id: int
    stage_type: StageType
    is_first: bool
    entered_at: datetime
    closed_at: datetime | None

    def as_values(self) -> dict[str, object]:
        """The marks as column values."""
        return {
            "stage_type": self.stage_type,
            "is_first": self.is_first,
            "entered_at": self.entered_at,
            "closed_at": self.closed_at,
        }


def next_marks(
    previous: HistoryMarks | None, stage_id: int, stage_type: StageType, at: datetime
) -> HistoryMarks:
    """The marks of a row starting at `at` in `stage_id`, after the deal's `previous` row (None
    for the deal's first row)."""
    if previous is None:
        closed_at = None if stage_type == StageType.OPEN else at
        return HistoryMarks(stage_id, stage_type, True, at, closed_at)
    entered_at = previous.entered_at if previous.stage_id == stage_id else at
    if stage_type == StageType.OPEN:
        closed_at = None
    else:
        closed_at = previous.closed_at if previous.closed_at is not None else at
    return HistoryMarks(stage_id, stage_type, False, entered_at, closed_at)


def marks_of(row: DealHistory) -> HistoryMarks:
    """The marks a stored history row carries."""
    return HistoryMarks(
        row.stage_id, StageType(row.stage_type), row.is_first, row.entered_at, row.closed_at
    )


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
