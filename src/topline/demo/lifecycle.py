"""How deals play out: stage by stage, with pushes, revisions, hand-overs and a close.

For a batch of deals at once, each open stage is a draw: move on (win, from the last stage) or
be lost there, with a probability set by the deal type, the rep's skill and ramp, and the
deal's size. Time in each stage is lognormal around the segment's norm. Won deals bunch up at
quarter end. Reps set an expected close date (optimists too early) and push it when it slips;
amounts are revised at Proposal and discounted in Negotiation; a leaver's open deals pass to
their successor. The paths are simulated without regard to `as_of`; the history keeps only
what happened by then.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
from numpy.typing import NDArray

from topline.demo.calendar import Floats, Ints, Timeline
from topline.demo.config import (
    ADVANCE_PROBABILITY,
    AMOUNT_MEDIAN_CENTS,
    AMOUNT_SIGMA,
    LOSS_LINGER,
    LOSS_REASON_WEIGHTS,
    LOST_STAGE,
    OPEN_STAGES,
    RAMP_DAYS,
    SIZE_PENALTY,
    STAGE_DAYS,
    STAGE_DAYS_SIGMA,
    TYPE_AMOUNT_FACTOR,
    TYPE_SPEED,
    WON_STAGE,
)
from topline.demo.deals import DealPlan
from topline.demo.people import Reps

Bools = NDArray[np.bool_]
CREATED, STAGE, AMOUNT, PUSH, REVIEW, OWNER, CLOSE = range(7)
MAX_PUSHES = 12
MAX_HANDOVERS = 3


@dataclass(frozen=True)
class Paths:
    """How each deal of a batch plays out if the clock never stopped."""

    reached: Ints
    """Last open stage entered (1..5)."""
    won: Bools
    enter_b: Floats
    """When each open stage was entered (n x 5); NaN for stages skipped or never reached."""
    close_b: Floats
    loss_reason: Ints


@dataclass
class EventLog:
    """Changes to the deals of a batch, one entry per change, gathered in any order."""

    parts: list[tuple[int, Ints, Floats, Ints, Ints, Ints, Floats]] = field(default_factory=list)

    def add(
        self,
        kind: int,
        deal: Ints,
        b: Floats,
        *,
        stage: Ints | None = None,
        close_day: Ints | None = None,
        owner: Ints | None = None,
        log_factor: Floats | None = None,
    ) -> None:
        """Record `kind` changes; unset fields keep their value (stage 0, others -1 or 0)."""
        n = len(deal)
        self.parts.append(
            (
                kind,
                deal,
                b,
                np.zeros(n, dtype=np.int64) if stage is None else stage,
                np.full(n, -1, dtype=np.int64) if close_day is None else close_day,
                np.full(n, -1, dtype=np.int64) if owner is None else owner,
                np.zeros(n) if log_factor is None else log_factor,
            )
        )

    def arrays(self) -> dict[str, NDArray[np.generic]]:
        """All events as columns: kind, deal, b, stage, close_day, owner, log_factor."""
        names = ("kind", "deal", "b", "stage", "close_day", "owner", "log_factor")
        result: dict[str, NDArray[np.generic]] = {}
        for position, name in enumerate(names):
            if name == "kind":
                result[name] = np.concatenate(
                    [np.full(len(part[1]), part[0], dtype=np.int64) for part in self.parts]
                )
            else:
                result[name] = np.concatenate([part[position] for part in self.parts])
        return result


@dataclass(frozen=True)
class Ownership:
    """Hand-overs of each deal (n x MAX_HANDOVERS, NaN when none) and the owner at close."""

    change_b: Floats
    owner_after: Ints
    at_close: Ints


def simulate_paths(
    rng: np.random.Generator, plan: DealPlan, reps: Reps, timeline: Timeline
) -> Paths:
    """Draw each deal's way through the open stages, its timing and its outcome."""
    n = len(plan)
    ramp = np.clip((plan.created_b - reps.hired_b[plan.owner]) / RAMP_DAYS, 0.15, 1.0)
    skill = reps.skill[plan.owner] * (0.75 + 0.25 * ramp)
    typical = AMOUNT_MEDIAN_CENTS[plan.segment] * TYPE_AMOUNT_FACTOR[plan.deal_type]
    size = np.log(plan.amount_cents / typical) / AMOUNT_SIGMA[plan.segment]
    exponent = np.clip((1.0 + SIZE_PENALTY * np.clip(size, -2, 2)) / skill, 0.3, 3.0)
    chance = ADVANCE_PROBABILITY[plan.deal_type] ** exponent[:, None]
    stages = np.arange(1, OPEN_STAGES + 1)
    skipped = stages[None, :] < plan.entry_stage[:, None]
    passed = (rng.random((n, OPEN_STAGES)) < chance) | skipped
    won = passed.all(axis=1)
    reached = np.where(won, OPEN_STAGES, np.argmin(passed, axis=1) + 1)
    median = STAGE_DAYS[plan.segment] * TYPE_SPEED[plan.deal_type][:, None]
    days = median * rng.lognormal(0.0, STAGE_DAYS_SIGMA, (n, OPEN_STAGES))
    days = np.clip(days, 0.1, 5 * median) * ~skipped
    elapsed = np.cumsum(days, axis=1) - days
    enter = plan.created_b[:, None] + elapsed
    enter[skipped | (stages[None, :] > reached[:, None])] = np.nan
    last = reached - 1
    linger = np.where(won, 1.0, LOSS_LINGER)
    close = enter[np.arange(n), last] + days[np.arange(n), last] * linger
    close = _quarter_end(rng, timeline, close, won, enter[np.arange(n), last])
    return Paths(reached, won, enter, close, _loss_reasons(rng, reached))


def _quarter_end(
    rng: np.random.Generator, timeline: Timeline, close: Floats, won: Bools, last_entry: Floats
) -> Floats:
    """Bunch closes at quarter end: reps hold wins for the last days, scrub dead deals then,
    and pull a few early next-quarter wins in with a discount."""
    n = len(close)
    quarter = timeline.quarter_of(close)
    starts = timeline.quarter_start_b
    end = starts[np.minimum(quarter + 1, len(starts) - 1)].astype(np.float64)
    days_left = end - close
    hold = won & (days_left < 25) & (rng.random(n) < 0.5)
    scrub = ~won & (days_left < 10) & (rng.random(n) < 0.3)
    moved = np.maximum(close, end - rng.uniform(0.05, 3.0, n))
    close = np.where(hold | scrub, moved, close)
    since_start = close - starts[quarter]
    pulled = starts[quarter] - rng.uniform(0.05, 2.0, n)
    pull = won & (since_start < 10) & (rng.random(n) < 0.3) & (pulled > last_entry + 0.05)
    result: Floats = np.where(pull, pulled, close)
    return result


def _loss_reasons(rng: np.random.Generator, reached: Ints) -> Ints:
    """A loss reason fitting the stage where each deal would be lost."""
    cumulative = np.cumsum(LOSS_REASON_WEIGHTS[reached - 1], axis=1)
    draw = rng.random(len(reached)) * cumulative[:, -1]
    result: Ints = (cumulative <= draw[:, None]).sum(axis=1)
    return result


def record_events(
    rng: np.random.Generator, plan: DealPlan, paths: Paths, reps: Reps, timeline: Timeline
) -> tuple[EventLog, Ownership]:
    """Every change each deal goes through, from creation to close (uncensored)."""
    log = EventLog()
    deal = np.arange(len(plan))
    expected = _expected_close(rng, plan, reps)
    log.add(
        CREATED,
        deal,
        plan.created_b,
        stage=plan.entry_stage,
        close_day=timeline.day_number(expected),
        owner=plan.owner,
    )
    _stage_moves(rng, log, plan, paths)
    _pushes(rng, log, timeline, expected, paths.close_b)
    ownership = _handovers(log, plan, paths, reps)
    _revisions(rng, log, plan, paths)
    outcome = np.where(paths.won, WON_STAGE, LOST_STAGE)
    win_revision = np.where(paths.won & (rng.random(len(plan)) < 0.3), 1.0, 0.0)
    log.add(
        CLOSE,
        deal,
        paths.close_b,
        stage=outcome,
        close_day=timeline.day_number(paths.close_b),
        log_factor=win_revision * np.log(rng.uniform(0.9, 1.05, len(plan))),
    )
    return log, ownership


def _expected_close(rng: np.random.Generator, plan: DealPlan, reps: Reps) -> Floats:
    """The close date a rep enters at creation: the segment's norm for the remaining stages,
    shortened by optimists and lengthened by sandbaggers."""
    stages = np.arange(1, OPEN_STAGES + 1)
    remaining = STAGE_DAYS[plan.segment] * (stages[None, :] >= plan.entry_stage[:, None])
    norm = remaining.sum(axis=1) * TYPE_SPEED[plan.deal_type]
    estimate = 0.85 * rng.lognormal(0.0, 0.35, len(plan)) / reps.bias[plan.owner] ** 1.5
    result: Floats = plan.created_b + np.maximum(norm * estimate, 5.0)
    return result


def _stage_moves(rng: np.random.Generator, log: EventLog, plan: DealPlan, paths: Paths) -> None:
    """Stage entries after creation; Proposal revises the amount, Negotiation discounts it."""
    n = len(plan)
    for stage in range(2, OPEN_STAGES + 1):
        entered = paths.enter_b[:, stage - 1]
        rows = np.flatnonzero(~np.isnan(entered) & (plan.entry_stage < stage))
        factor = np.zeros(n)
        if stage == 4:
            factor = np.where(rng.random(n) < 0.5, rng.normal(0.05, 0.2, n), 0.0)
        elif stage == 5:
            factor = np.where(rng.random(n) < 0.4, np.log(rng.uniform(0.85, 0.98, n)), 0.0)
        log.add(
            STAGE,
            rows,
            entered[rows],
            stage=np.full(len(rows), stage, dtype=np.int64),
            log_factor=factor[rows],
        )


def _pushes(
    rng: np.random.Generator, log: EventLog, timeline: Timeline, expected: Floats, close: Floats
) -> None:
    """Push the close date each time it slips while the deal is still open.

    The push comes a little before or after the date; deals whose date passed shortly before
    `as_of` are still waiting for theirs (stale close dates, as in any real CRM).
    """
    n = len(close)
    limit = timeline.as_of_b
    active = np.ones(n, dtype=bool)
    due = expected
    for _ in range(MAX_PUSHES):
        at = due + rng.uniform(-2.0, 3.0, n)
        active &= (at < close) & (at <= limit)
        rows = np.flatnonzero(active)
        if len(rows) == 0:
            break
        new_due = at + rng.uniform(10.0, 35.0, n)
        log.add(PUSH, rows, at[rows], close_day=timeline.day_number(new_due[rows]))
        due = np.where(active, new_due, due)


def _handovers(log: EventLog, plan: DealPlan, paths: Paths, reps: Reps) -> Ownership:
    """Give a leaver's deals, still open when they go, to their successor (and onwards)."""
    n = len(plan)
    owner = plan.owner.copy()
    since = plan.created_b.copy()
    change_b = np.full((n, MAX_HANDOVERS), np.nan)
    owner_after = np.full((n, MAX_HANDOVERS), -1, dtype=np.int64)
    for step in range(MAX_HANDOVERS):
        left = reps.left_b[owner]
        moves = np.isfinite(left) & (left > since) & (left + 0.01 < paths.close_b)
        rows = np.flatnonzero(moves)
        if len(rows) == 0:
            break
        # The hand-over is logged a few minutes after the rep's last moment.
        at = left[rows] + 0.01
        log.add(OWNER, rows, at, owner=reps.successor[owner[rows]])
        change_b[rows, step] = at
        owner[rows] = reps.successor[owner[rows]]
        owner_after[rows, step] = owner[rows]
        since[rows] = left[rows]
    return Ownership(change_b, owner_after, owner)


def _revisions(rng: np.random.Generator, log: EventLog, plan: DealPlan, paths: Paths) -> None:
    """Amount changes between stage moves, and the forecast review late in Negotiation."""
    n = len(plan)
    revised = np.flatnonzero(rng.random(n) < 0.15)
    at = plan.created_b + rng.uniform(0.05, 0.95, n) * (paths.close_b - plan.created_b)
    log.add(AMOUNT, revised, at[revised], log_factor=rng.normal(0.0, 0.15, len(revised)))
    negotiating = paths.enter_b[:, OPEN_STAGES - 1]
    rows = np.flatnonzero(~np.isnan(negotiating))
    share = rng.uniform(0.2, 0.7, len(rows))
    review_at = negotiating[rows] + share * (paths.close_b[rows] - negotiating[rows])
    log.add(REVIEW, rows, review_at)
