"""Reading a deal's change history: replay and state as of a moment."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime
from itertools import pairwise

from sqlalchemy import or_, select
from sqlalchemy.orm import Session

from topline.crm.enums import ForecastCategory
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
