"""Turning a batch's change events into `deal_history` rows, exactly as the deal service would.

Each row holds the full tracked state after a change (stage, amount, close date, forecast
category, owner) and is valid until the deal's next row; the first row of a deal is its
creation, the last one is open (`valid_to` NULL). Changes at the same second become one row
listing every field that moved, in the service's field order; events that move nothing
(a forecast review of a rep who was not holding back) leave no row. Events after `as_of`
have not happened yet and are dropped here.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from topline.crm.deals import CREATED as CREATED_FIELDS
from topline.crm.deals import TRACKED_FIELDS
from topline.demo.calendar import Floats, Ints, Timeline
from topline.demo.config import (
    AMOUNT_ROUNDING_CENTS,
    BEST_CASE,
    CLOSED,
    COMMIT,
    LOST_STAGE,
    MINIMUM_AMOUNT_CENTS,
    OMITTED,
    OPEN_STAGES,
    PIPELINE,
    WON_STAGE,
)
from topline.demo.lifecycle import CREATED, PUSH, REVIEW
from topline.demo.names import Objects, as_objects

Bools = NDArray[np.bool_]
# Bit of each tracked field in a row's change mask, in the order `changed_fields` lists them.
FIELD_ORDER = tuple(field.value for field in TRACKED_FIELDS.values())
OWNER_BIT = 1 << FIELD_ORDER.index("owner")


@dataclass(frozen=True)
class CategoryStyle:
    """How a deal's owner calls it: commit early, hold back until late, or downgrade slips."""

    optimistic: Bools
    sandbag: Bools
    downgrade: Bools


@dataclass(frozen=True)
class History:
    """History rows of a batch in (deal, valid_from) order, and where each deal's rows are."""

    deal: Ints
    valid_from: Ints
    valid_to: Ints
    changed_fields: Objects
    changes: Ints
    """Bit mask of the fields each row changed (0 for creation rows)."""
    stage: Ints
    amount_cents: Ints
    close_day: Ints
    category: Ints
    owner: Ints
    current: Ints
    """Row index of each deal's current (last) row."""

    @property
    def is_current(self) -> Bools:
        """Rows that are their deal's current state (`valid_to` NULL)."""
        result: Bools = np.zeros(len(self.deal), dtype=bool)
        result[self.current] = True
        return result


def round_amounts(log_amount: Floats) -> Ints:
    """Amounts in cents from log amounts, rounded to the nearest $50 and at least $500."""
    steps = np.round(np.exp(log_amount) / AMOUNT_ROUNDING_CENTS)
    result: Ints = np.maximum(steps * AMOUNT_ROUNDING_CENTS, MINIMUM_AMOUNT_CENTS).astype(np.int64)
    return result


def build_history(
    events: dict[str, NDArray[np.generic]],
    *,
    log_amount: Floats,
    style: CategoryStyle,
    timeline: Timeline,
) -> History:
    """History rows from uncensored change events of deals `0..n-1` (`log_amount` at creation)."""
    seconds = timeline.seconds(events["b"].astype(np.float64))
    happened = seconds <= timeline.as_of_seconds
    columns = {name: values[happened] for name, values in events.items()}
    seconds = seconds[happened]
    order = np.lexsort((columns["kind"], seconds, columns["deal"]))
    columns = {name: values[order] for name, values in columns.items()}
    seconds = seconds[order]
    deal = columns["deal"].astype(np.int64)
    state = _replay(columns, deal, log_amount)
    last_of_second = np.ones(len(deal), dtype=bool)
    last_of_second[:-1] = (deal[1:] != deal[:-1]) | (seconds[1:] != seconds[:-1])
    rows = np.flatnonzero(last_of_second)
    deal, seconds = deal[rows], seconds[rows]
    state = {name: values[rows] for name, values in state.items()}
    state["category"] = forecast_category(state, style, deal)
    return _collapse(deal, seconds, state)


def _replay(
    columns: dict[str, NDArray[np.generic]], deal: Ints, log_amount: Floats
) -> dict[str, Ints]:
    """The state after every event: last value set per field, amounts and counters summed."""
    index = np.arange(len(deal))
    kind = columns["kind"]
    start = np.maximum.accumulate(np.where(kind == CREATED, index, 0))

    def carried(values: NDArray[np.generic], is_set: Bools) -> Ints:
        source = np.maximum.accumulate(np.where(is_set, index, 0))
        result: Ints = values[source].astype(np.int64)
        return result

    def since_creation(increments: Floats) -> Floats:
        total = np.cumsum(increments)
        result: Floats = total - total[start] + increments[start]
        return result

    stage, close_day, owner = (columns[name].astype(np.int64) for name in _CARRIED)
    factors = columns["log_factor"].astype(np.float64)
    return {
        "stage": carried(stage, stage > 0),
        "close_day": carried(close_day, close_day >= 0),
        "owner": carried(owner, owner >= 0),
        "amount_cents": round_amounts(log_amount[deal] + since_creation(factors)),
        "pushes": since_creation((kind == PUSH).astype(np.float64)).astype(np.int64),
        "reviewed": since_creation((kind == REVIEW).astype(np.float64)).astype(np.int64),
    }


_CARRIED = ("stage", "close_day", "owner")


def forecast_category(state: dict[str, Ints], style: CategoryStyle, deal: Ints) -> Ints:
    """The rep's forecast call for a deal in each state.

    Pipeline until Proposal; best case at Proposal (commit for optimists); commit at
    Negotiation (best case for sandbaggers until their late review); back to best case after
    a second push for reps who downgrade slipping deals; closed when won, omitted when lost.
    """
    stage = state["stage"]
    optimistic, sandbag = style.optimistic[deal], style.sandbag[deal]
    category = np.full(len(stage), PIPELINE)
    category = np.where(stage == 4, np.where(optimistic, COMMIT, BEST_CASE), category)
    holding_back = sandbag & (state["reviewed"] == 0)
    category = np.where(stage == 5, np.where(holding_back, BEST_CASE, COMMIT), category)
    slipping = style.downgrade[deal] & (state["pushes"] >= 2) & (stage >= 4) & (stage <= 5)
    category = np.where(slipping, BEST_CASE, category)
    category = np.where(stage == WON_STAGE, CLOSED, category)
    result: Ints = np.where(stage == LOST_STAGE, OMITTED, category)
    return result


def _collapse(deal: Ints, seconds: Ints, state: dict[str, Ints]) -> History:
    """Keep rows that change something, name the changes and chain the validity intervals."""
    tracked = ("stage", "amount_cents", "close_day", "category", "owner")
    first = np.ones(len(deal), dtype=bool)
    first[1:] = deal[1:] != deal[:-1]
    changes = np.zeros(len(deal), dtype=np.int64)
    for bit, name in enumerate(tracked):
        values = state[name]
        moved = np.zeros(len(deal), dtype=bool)
        moved[1:] = values[1:] != values[:-1]
        changes |= (moved & ~first).astype(np.int64) << bit
    rows = np.flatnonzero(first | (changes > 0))
    deal, seconds, changes = deal[rows], seconds[rows], changes[rows]
    first = first[rows]
    current = np.ones(len(deal), dtype=bool)
    current[:-1] = deal[1:] != deal[:-1]
    valid_to = np.zeros(len(deal), dtype=np.int64)
    valid_to[:-1] = seconds[1:]
    names = np.where(first, CREATED_FIELDS, _CHANGE_NAMES[changes])
    return History(
        deal=deal,
        valid_from=seconds,
        valid_to=np.where(current, 0, valid_to),
        changed_fields=names.astype(object),
        changes=changes,
        stage=state["stage"][rows],
        amount_cents=state["amount_cents"][rows],
        close_day=state["close_day"][rows],
        category=state["category"][rows],
        owner=state["owner"][rows],
        current=np.flatnonzero(current),
    )


@dataclass(frozen=True)
class Marks:
    """The columns of each history row that follow from the deal's earlier rows."""

    stage_type: Objects
    is_first: Bools
    entered_at: Ints
    closed_at: Ints
    """Epoch seconds; meaningless where `is_open`."""
    is_open: Bools
    pushed_from: Ints
    """Days since 1970-01-01; meaningless where not `is_push`."""
    is_push: Bools


# The type of each demo stage by its number (0 is unused).
_STAGE_TYPES: Objects = as_objects(("open",) * (OPEN_STAGES + 1) + ("won", "lost"))


def history_marks(history: History) -> Marks:
    """The marks of every row, as `topline.crm.history.next_marks` gives them row by row: the
    first row of each deal, when the deal entered the row's stage, when it closed, and the
    close date a push moved it from."""
    rows = np.arange(len(history.deal))
    first = np.ones(len(rows), dtype=bool)
    first[1:] = history.deal[1:] != history.deal[:-1]
    entry = first.copy()
    entry[1:] |= history.stage[1:] != history.stage[:-1]
    is_open = history.stage <= OPEN_STAGES
    close = ~is_open & first
    close[1:] |= ~is_open[1:] & is_open[:-1]
    # Each row's run starts at the latest entry (close) at or before it: the first row of a
    # deal always starts a stage run, and a closed run never reaches back past its close.
    entered = np.maximum.accumulate(np.where(entry, rows, 0))
    closed = np.maximum.accumulate(np.where(close, rows, 0))
    # A push: an open row after an open row of the same deal, with a later close date.
    before = np.concatenate(([0], history.close_day[:-1]))
    push = ~first & is_open
    push[1:] &= is_open[:-1] & (history.close_day[1:] > before[1:])
    return Marks(
        stage_type=_STAGE_TYPES[history.stage],
        is_first=first,
        entered_at=history.valid_from[entered],
        closed_at=history.valid_from[closed],
        is_open=is_open,
        pushed_from=before,
        is_push=push,
    )


_CHANGE_NAMES: Objects = as_objects(
    tuple(
        ",".join(name for bit, name in enumerate(FIELD_ORDER) if mask >> bit & 1)
        for mask in range(1 << len(FIELD_ORDER))
    )
)
