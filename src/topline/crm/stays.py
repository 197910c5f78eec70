"""Deal stays: each run of a deal's history in one open stage, with what followed it
(`DealStay`), worked out from `deal_history` so that the funnel need not follow every deal's
path at report time.

A stay begins at the history row where the deal's stage differs from the row before (or at
its first row) and ends at the next such row; rows that change only other fields belong to the
stay they fall in. These are the funnel report's stage entries (`topline.analytics.funnel`).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from functools import cache
from typing import Any, cast

from sqlalchemy import (
    BindParameter,
    Delete,
    Insert,
    Select,
    Table,
    and_,
    bindparam,
    case,
    delete,
    func,
    insert,
    or_,
    select,
    update,
)
from sqlalchemy.orm import Session

from topline.crm.enums import StageType
from topline.crm.history import for_deals
from topline.crm.models import DealHistory, DealStay, Stage
from topline.storage.sql import utc_days_between


def rebuild_stays(session: Session, deal_ids: Iterable[int] | None = None) -> None:
    """Work out the stays of the given deals (or of every deal, None) again from their history.

    The deal service calls it for a deal that enters a stage or changes owner; writers that
    load history in bulk (imports, the demo) call it for the deals they wrote.
    """
    for_deals(_rebuild, session, deal_ids)


def refresh_advances(session: Session, pipeline_id: int) -> None:
    """Work out `advanced_at` again for the stays in the stages of a pipeline whose open
    stages were put in another order (what counts as advancing follows the positions)."""
    stays = DealStay.__table__
    stages = select(Stage.id).where(Stage.pipeline_id == pipeline_id)
    session.execute(
        update(stays)  # type: ignore[arg-type]
        .where(stays.c.stage_id.in_(stages))
        .values(
            advanced_at=_advanced_at(
                stays.c.deal_id, stays.c.stage_id, stays.c.entered_at, stays.c.entry_id
            )
        )
    )


def _rebuild(session: Session, deal_ids: Sequence[int] | None) -> None:
    remove, add = _rebuild_statements(every=deal_ids is None)
    params = {} if deal_ids is None else {"deal_ids": list(deal_ids)}
    session.execute(remove, params)
    session.execute(add, params)


@cache
def _rebuild_statements(*, every: bool) -> tuple[Delete, Insert]:
    """The statements that rebuild the stays of every deal, or of the deals bound as
    `deal_ids`. Made once: building them took longer than running them for one deal (3.6 ms
    against about 2 ms on SQLite), and the deal service runs them on each move."""
    # The table, not the entity: the ORM would take the bound ids for rows to insert.
    stays = cast(Table, DealStay.__table__)
    remove = delete(stays)
    found = _stays(None if every else bindparam("deal_ids", expanding=True))
    if not every:
        remove = remove.where(stays.c.deal_id.in_(bindparam("deal_ids", expanding=True)))
    names = [column.name for column in found.selected_columns]
    return remove, insert(stays).from_select(names, found)


def _stays(deal_ids: BindParameter[Any] | None) -> Select[Any]:
    """The stays of the deals bound to `deal_ids` (all of them for None), as rows of
    `deal_stays` without ids."""
    history = DealHistory.__table__
    entries = select(
        func.min(history.c.id).label("entry_id"),
        history.c.deal_id,
        history.c.stage_id,
        history.c.stage_type,
        history.c.entered_at,
    ).group_by(history.c.deal_id, history.c.entered_at, history.c.stage_id, history.c.stage_type)
    if deal_ids is not None:
        entries = entries.where(history.c.deal_id.in_(deal_ids))
    entry = entries.subquery("entries")
    in_order = (entry.c.entered_at, entry.c.entry_id)
    is_open = entry.c.stage_type == StageType.OPEN.value
    ordered = select(
        entry,
        func.lead(entry.c.entered_at)
        .over(partition_by=entry.c.deal_id, order_by=in_order)
        .label("left_at"),
        func.lag(entry.c.entered_at)
        .over(partition_by=(entry.c.deal_id, entry.c.stage_id), order_by=in_order)
        .label("previous_at"),
        func.max(case((is_open, entry.c.entered_at)))
        .over(partition_by=entry.c.deal_id, order_by=in_order, rows=(None, -1))
        .label("previous_open_at"),
        func.last_value(entry.c.stage_id)
        .over(partition_by=entry.c.deal_id, order_by=in_order, rows=(None, None))
        .label("last_stage_id"),
        func.max(entry.c.entered_at).over(partition_by=entry.c.deal_id).label("last_entered_at"),
    ).subquery("ordered")
    entry_row = history.alias("entry_row")
    later = history.alias("later")
    # The first row after the entry (by moment, then id) with another owner than the entry's.
    owner_until = (
        select(func.min(later.c.valid_from))
        .where(
            later.c.deal_id == ordered.c.deal_id,
            later.c.valid_from >= ordered.c.entered_at,
            or_(later.c.valid_from > ordered.c.entered_at, later.c.id > ordered.c.entry_id),
            later.c.owner_id != entry_row.c.owner_id,
        )
        .scalar_subquery()
    )
    return (
        select(
            ordered.c.deal_id,
            ordered.c.stage_id,
            ordered.c.entry_id,
            ordered.c.entered_at,
            ordered.c.left_at,
            utc_days_between(ordered.c.left_at, ordered.c.entered_at).label("days"),
            _advanced_at(
                ordered.c.deal_id, ordered.c.stage_id, ordered.c.entered_at, ordered.c.entry_id
            ).label("advanced_at"),
            ordered.c.previous_at,
            ordered.c.previous_open_at,
            entry_row.c.owner_id,
            owner_until.label("owner_until"),
            ordered.c.last_stage_id,
            ordered.c.last_entered_at,
        )
        .join(entry_row, entry_row.c.id == ordered.c.entry_id)
        .where(ordered.c.stage_type == StageType.OPEN.value)
    )


def _advanced_at(deal_id: Any, stage_id: Any, entered_at: Any, entry_id: Any) -> Any:
    """The moment of the deal's first history row after the entry (by moment, then id) in the
    won stage or an open stage of a higher position of the same pipeline, as a correlated
    scalar subquery."""
    later = DealHistory.__table__.alias("later")
    stage = Stage.__table__.alias("stay_stage")
    reached = Stage.__table__.alias("reached_stage")
    return (
        select(func.min(later.c.valid_from))
        .where(
            later.c.deal_id == deal_id,
            later.c.valid_from >= entered_at,
            or_(later.c.valid_from > entered_at, later.c.id > entry_id),
            reached.c.id == later.c.stage_id,
            stage.c.id == stage_id,
            reached.c.pipeline_id == stage.c.pipeline_id,
            or_(
                reached.c.type == StageType.WON.value,
                and_(
                    reached.c.type == StageType.OPEN.value,
                    reached.c.position > stage.c.position,
                ),
            ),
        )
        .scalar_subquery()
    )
