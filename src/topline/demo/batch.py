"""One batch of deals, from plan to rows: deals, their history and their activities.

Batches are simulated independently (each with its own random stream), so memory stays
bounded for a million deals and the same seed gives the same org whatever the database.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from topline.crm.history import SUBSCRIPTION_FIELDS
from topline.demo.accounts import Accounts
from topline.demo.activities import Touches, deal_touches
from topline.demo.calendar import Floats, Ints, Timeline
from topline.demo.config import (
    DEAL_TYPES,
    FORECAST_CATEGORIES,
    LOSS_REASONS,
    LOST_STAGE,
    OPEN_STAGES,
    WON_STAGE,
)
from topline.demo.deals import DealPlan
from topline.demo.frames import Column, Frame, Kind
from topline.demo.history import (
    OWNER_BIT,
    CategoryStyle,
    History,
    build_history,
    history_marks,
    round_amounts,
)
from topline.demo.lifecycle import Ownership, Paths, record_events, simulate_paths
from topline.demo.names import (
    DEAL_DESCRIPTORS,
    NEXT_STEPS,
    Objects,
    as_objects,
    enum_values,
    pick,
)
from topline.demo.people import Reps


@dataclass(frozen=True)
class World:
    """What every batch shares: calendar, reps and their managers, accounts, stage ids."""

    timeline: Timeline
    reps: Reps
    manager_of_rep: Ints
    accounts: Accounts
    account_names: Objects
    contact_of_deal: Ints
    stage_ids: Ints
    """Stage id by position (index 0 unused)."""
    pipeline_id: int
    activity_scale: float


@dataclass
class Tally:
    """Bookings the quotas and forecast calls are set from, summed over all batches."""

    won_by_quarter: Floats
    """Won amount per rep and quarter, including deals that close after `as_of`."""
    booked_by_day: Floats
    """Won amount booked by `as_of`, per rep and calendar day since the window start."""
    deals: int = 0
    history_rows: int = 0
    activities: int = 0


@dataclass(frozen=True)
class BatchRows:
    """The rows of one batch, ready to load."""

    deals: Frame
    history: Frame
    touches: Touches


def simulate_batch(
    rng: np.random.Generator, world: World, plan: DealPlan, first_id: int, tally: Tally
) -> BatchRows:
    """Simulate deals `first_id..` of `plan`, add their bookings to `tally`, return rows."""
    paths = simulate_paths(rng, plan, world.reps, world.timeline)
    log, ownership = record_events(rng, plan, paths, world.reps, world.timeline)
    events = log.arrays()
    log_amount = np.log(plan.amount_cents)
    history = build_history(
        events, log_amount=log_amount, style=_style(rng, plan, world.reps), timeline=world.timeline
    )
    total_factor = np.bincount(events["deal"].astype(np.int64), events["log_factor"], len(plan))
    _count_bookings(tally, world, paths, ownership, round_amounts(log_amount + total_factor))
    _count_booked(tally, world, history)
    current = history.current
    depth = np.where(history.stage[current] == LOST_STAGE, paths.reached, history.stage[current])
    ended = np.minimum(paths.close_b, world.timeline.as_of_b)
    touches = deal_touches(
        rng,
        plan,
        first_id=first_id,
        depth=depth,
        ended_b=ended,
        ownership=ownership,
        accounts=world.accounts,
        user_ids=world.reps.user_id,
        scale=world.activity_scale,
        timeline=world.timeline,
    )
    deals = _deal_frame(rng, world, plan, paths, history, first_id)
    rows = BatchRows(
        deals=deals,
        history=_history_frame(world, history, deals, first_id, tally.history_rows + 1),
        touches=touches,
    )
    tally.deals += len(plan)
    tally.history_rows += len(history.deal)
    return rows


def _style(rng: np.random.Generator, plan: DealPlan, reps: Reps) -> CategoryStyle:
    """How each deal's creator calls it, from their forecasting bias."""
    bias = reps.bias[plan.owner]
    n = len(plan)
    return CategoryStyle(
        optimistic=rng.random(n) < np.clip(0.15 + 1.5 * (bias - 1.0), 0.0, 0.8),
        sandbag=rng.random(n) < np.clip(0.15 + 1.5 * (1.0 - bias), 0.0, 0.8),
        downgrade=rng.random(n) < 0.5,
    )


def _count_bookings(
    tally: Tally, world: World, paths: Paths, ownership: Ownership, amounts: Ints
) -> None:
    """Add every win, past or still to come, to its closer's quarter."""
    won = np.flatnonzero(paths.won)
    quarter = world.timeline.quarter_of(paths.close_b[won])
    keep = quarter < tally.won_by_quarter.shape[1]
    np.add.at(
        tally.won_by_quarter,
        (ownership.at_close[won][keep], quarter[keep]),
        amounts[won][keep].astype(np.float64),
    )


def _count_booked(tally: Tally, world: World, history: History) -> None:
    """Add the wins booked by `as_of` to their owner's day."""
    current = history.current[history.stage[history.current] == WON_STAGE]
    first_day = int(world.timeline.start.timestamp()) // 86_400
    day = history.close_day[current] - first_day
    np.add.at(
        tally.booked_by_day,
        (history.owner[current], day),
        history.amount_cents[current].astype(np.float64),
    )


def _deal_frame(
    rng: np.random.Generator,
    world: World,
    plan: DealPlan,
    paths: Paths,
    history: History,
    first_id: int,
) -> Frame:
    """The deals as they stand at `as_of`: the current history row plus descriptive fields."""
    n = len(plan)
    current = history.current
    stage = history.stage[current]
    amount = history.amount_cents[current]
    closed = stage > OPEN_STAGES
    version = np.diff(np.concatenate([[-1], current]))
    recurring = amount // 12
    loss = np.full(n, None, dtype=object)
    lost = np.flatnonzero(stage == LOST_STAGE)
    loss[lost] = as_objects(LOSS_REASONS)[paths.loss_reason[lost]]
    categories = enum_values(FORECAST_CATEGORIES)[history.category[current]]
    return [
        Column("id", Kind.INT, np.arange(first_id, first_id + n)),
        Column("name", Kind.TEXT, _deal_names(rng, world, plan)),
        Column("account_id", Kind.INT, plan.account + 1),
        Column("contact_id", Kind.INT, world.contact_of_deal[first_id - 1 : first_id - 1 + n]),
        Column("owner_id", Kind.INT, world.reps.user_id[history.owner[current]]),
        Column("pipeline_id", Kind.INT, np.full(n, world.pipeline_id)),
        Column("stage_id", Kind.INT, world.stage_ids[stage]),
        Column("amount_cents", Kind.INT, amount),
        Column("recurring_amount_cents", Kind.INT, recurring, ~plan.subscription),
        Column("close_date", Kind.DATE, history.close_day[current]),
        Column("forecast_category", Kind.TEXT, categories),
        Column("type", Kind.TEXT, enum_values(DEAL_TYPES)[plan.deal_type]),
        Column("source", Kind.TEXT, plan.source),
        Column("loss_reason", Kind.TEXT, loss),
        Column("next_step", Kind.TEXT, _next_steps(rng, stage)),
        Column("created_at", Kind.TIMESTAMP, history.valid_from[current - version + 1]),
        Column("closed_at", Kind.TIMESTAMP, history.valid_from[current], ~closed),
        Column("updated_at", Kind.TIMESTAMP, history.valid_from[current]),
        *_push_columns(history, n),
        Column("version", Kind.INT, version),
    ]


def _push_columns(history: History, n: int) -> Frame:
    """`push_count` and `last_pushed_at` of each deal, as `topline.crm.history.refresh_pushes`
    works them out: rows whose close date is later than the deal's row before (rows are in
    deal, then time order)."""
    deal, day = history.deal, history.close_day
    pushed = np.zeros(len(deal), dtype=bool)
    pushed[1:] = (deal[1:] == deal[:-1]) & (day[1:] > day[:-1])
    count = np.bincount(deal[pushed], minlength=n)
    last = np.zeros(n, dtype=np.int64)
    np.maximum.at(last, deal[pushed], history.valid_from[pushed])
    return [
        Column("push_count", Kind.INT, count),
        Column("last_pushed_at", Kind.TIMESTAMP, last, count == 0),
    ]


def _deal_names(rng: np.random.Generator, world: World, plan: DealPlan) -> Objects:
    """ "<Account> - <what is sold>", e.g. "Acme Robotics Inc - Seat expansion"."""
    what = np.empty(len(plan), dtype=object)
    for t, descriptors in enumerate(DEAL_DESCRIPTORS):
        rows = np.flatnonzero(plan.deal_type == t)
        what[rows] = pick(rng, descriptors, len(rows))
    names: Objects = world.account_names[plan.account] + " - " + what
    return names


def _next_steps(rng: np.random.Generator, stage: Ints) -> Objects:
    """The next step of open deals, fitting their stage; None once closed."""
    result = np.full(len(stage), None, dtype=object)
    for position, steps in enumerate(NEXT_STEPS, start=1):
        rows = np.flatnonzero(stage == position)
        result[rows] = pick(rng, steps, len(rows))
    return result


def _history_frame(
    world: World, history: History, deals: Frame, first_id: int, first_row_id: int
) -> Frame:
    """History rows with deal and user ids; hand-overs are recorded by the team manager. Each
    row repeats its deal's subscription fields (see `DealHistory`) from `deals`."""
    owner_ids = world.reps.user_id[history.owner]
    by_manager = (history.changes & OWNER_BIT) > 0
    changed_by = np.where(by_manager, world.manager_of_rep[history.owner], owner_ids)
    rows = len(history.deal)
    marks = history_marks(history)
    # Each row's deal was created at its first row: the latest first row at or before it.
    first_row = np.maximum.accumulate(np.where(marks.is_first, np.arange(rows), 0))
    return [
        Column("id", Kind.INT, np.arange(first_row_id, first_row_id + rows)),
        Column("deal_id", Kind.INT, history.deal + first_id),
        Column("valid_from", Kind.TIMESTAMP, history.valid_from),
        Column("valid_to", Kind.TIMESTAMP, history.valid_to, history.is_current),
        Column("changed_by_id", Kind.INT, changed_by),
        Column("changed_fields", Kind.TEXT, history.changed_fields),
        Column("stage_id", Kind.INT, world.stage_ids[history.stage]),
        Column("amount_cents", Kind.INT, history.amount_cents),
        Column("close_date", Kind.DATE, history.close_day),
        Column("forecast_category", Kind.TEXT, enum_values(FORECAST_CATEGORIES)[history.category]),
        Column("owner_id", Kind.INT, owner_ids),
        Column("stage_type", Kind.TEXT, marks.stage_type),
        Column("is_first", Kind.BOOL, marks.is_first),
        Column("entered_at", Kind.TIMESTAMP, marks.entered_at),
        Column("closed_at", Kind.TIMESTAMP, marks.closed_at, marks.is_open),
        Column("pushed_from", Kind.DATE, marks.pushed_from, ~marks.is_push),
        Column("deal_created_at", Kind.TIMESTAMP, history.valid_from[first_row]),
        *(_per_row(column, history.deal) for column in deals if column.name in SUBSCRIPTION_FIELDS),
    ]


def _per_row(column: Column, deal: Ints) -> Column:
    """A deal column repeated on each history row under its copy's name (`deal`: each row's
    deal in the batch)."""
    null = None if column.null is None else column.null[deal]
    return Column(SUBSCRIPTION_FIELDS[column.name], column.kind, column.values[deal], null)
