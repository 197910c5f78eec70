"""Deals as they stood at a past moment, from `deal_history`, as SQL to build reports on.

Every row of `deal_history` holds a deal's full tracked state over `[valid_from, valid_to)`,
so the state at T is a range predicate, and a deal closes where a row in a won or lost stage
follows an open one (or starts the history). Reopening a deal makes it open again; closing it
once more is a new close.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Subquery, and_, func, or_, select

from topline.crm.enums import StageType
from topline.crm.models import DealHistory, Stage


def state_as_of(moment: datetime) -> Subquery:
    """One row per deal that existed at `moment`: its tracked state then, with its stage's type
    and probability."""
    history = DealHistory.__table__
    stage = Stage.__table__
    return (
        select(
            history.c.deal_id,
            history.c.stage_id,
            history.c.amount_cents,
            history.c.close_date,
            history.c.forecast_category,
            history.c.owner_id,
            stage.c.type.label("stage_type"),
            stage.c.probability,
        )
        .join(stage, stage.c.id == history.c.stage_id)
        .where(
            history.c.valid_from <= moment,
            or_(history.c.valid_to > moment, history.c.valid_to.is_(None)),
        )
        .subquery("state")
    )


def closes_until(moment: datetime) -> Subquery:
    """Per deal, the moment of its latest close up to `moment` (`closed_at`).

    A close is a history row in a won or lost stage whose previous row was open (or that
    starts the history: a deal imported as closed).
    """
    history = DealHistory.__table__
    stage = Stage.__table__
    typed = (
        select(
            history.c.deal_id,
            history.c.valid_from,
            stage.c.type,
            func.lag(stage.c.type)
            .over(partition_by=history.c.deal_id, order_by=(history.c.valid_from, history.c.id))
            .label("previous_type"),
        )
        .join(stage, stage.c.id == history.c.stage_id)
        .where(history.c.valid_from <= moment)
        .subquery("typed")
    )
    return (
        select(typed.c.deal_id, func.max(typed.c.valid_from).label("closed_at"))
        .where(
            typed.c.type != StageType.OPEN.value,
            or_(typed.c.previous_type.is_(None), typed.c.previous_type == StageType.OPEN.value),
        )
        .group_by(typed.c.deal_id)
        .subquery("closes")
    )


def first_rows() -> Subquery:
    """Per deal, its first history row: the deal as created (`created_at`, `amount_cents`)."""
    history = DealHistory.__table__
    ranked = select(
        history.c.deal_id,
        history.c.valid_from,
        history.c.amount_cents,
        history.c.owner_id,
        func.row_number()
        .over(partition_by=history.c.deal_id, order_by=(history.c.valid_from, history.c.id))
        .label("n"),
    ).subquery("ranked")
    return (
        select(
            ranked.c.deal_id,
            ranked.c.valid_from.label("created_at"),
            ranked.c.amount_cents,
            ranked.c.owner_id,
        )
        .where(ranked.c.n == 1)
        .subquery("created")
    )


def between(column: Any, start: datetime, end: datetime) -> Any:
    """`start <= column < end`."""
    return and_(column >= start, column < end)
