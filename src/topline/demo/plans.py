"""Quarterly quotas and weekly forecast calls, set from what the reps actually book.

Quotas: each team's quota per unit of capacity is what its reps book on average, stretched
by `QUOTA_STRETCH` and growing with the business; a rep's quota scales with their capacity in
the quarter (part of the quarter employed, ramp-up). Team quotas add up their reps'.

Forecast calls: every Thursday each rep calls commit, best case and pipeline for the quarter:
what they booked so far plus their expectation for the rest, coloured by their bias and
noisier early in the quarter. Managers haircut or lift the calls of reps they know to be
biased, then submit their team's roll-up; the director submits the sum of the managers'.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

import numpy as np

from topline.demo.batch import Tally
from topline.demo.calendar import ANNUAL_GROWTH, SECONDS_PER_DAY, Floats, Ints, Timeline
from topline.demo.config import QUOTA_ROUNDING_CENTS, QUOTA_STRETCH, RAMP_DAYS
from topline.demo.names import FORECAST_NOTES
from topline.demo.people import DIRECTOR_TEAM_ID, Org

Row = dict[str, Any]
FORECAST_ROUNDING_CENTS = 100_000
EPOCH = date(1970, 1, 1)


@dataclass(frozen=True)
class Quarters:
    """The quarters of the window, with the reps' employment and capacity in each."""

    index: Ints
    """Positions in `timeline.quarter_starts`."""
    employed: np.ndarray
    capacity: Floats
    growth: Floats


def window_quarters(org: Org, timeline: Timeline) -> Quarters:
    """Quarters from the one holding the window start to the one holding `as_of`."""
    first, last = timeline.quarter_of(np.array([0.0, timeline.as_of_b]))
    index = np.arange(first, last + 1)
    starts = timeline.quarter_start_b[index].astype(np.float64)
    ends = timeline.quarter_start_b[index + 1].astype(np.float64)
    reps = org.reps
    low = np.maximum(np.maximum(starts[None, :], 0.0), reps.hired_b[:, None])
    high = np.minimum(ends[None, :], reps.left_b[:, None])
    share = np.clip(high - low, 0.0, None) / (ends - starts)[None, :]
    middle = (low + high) / 2
    ramp = np.clip((middle - reps.hired_b[:, None]) / RAMP_DAYS, 0.15, 1.0)
    return Quarters(
        index=index,
        employed=high > low,
        capacity=share * ramp,
        growth=(1.0 + ANNUAL_GROWTH) ** (((starts + ends) / 2) / 261.0),
    )


def quota_rows(org: Org, tally: Tally, quarters: Quarters, timeline: Timeline) -> list[Row]:
    """A quota for every rep for every quarter they were employed, and one per team."""
    reps = org.reps
    booked = tally.won_by_quarter[:, quarters.index]
    weighted = quarters.capacity * quarters.growth[None, :]
    quota = np.zeros_like(weighted)
    for team in range(3):
        members = reps.members(team)
        rate = booked[members].sum() / max(weighted[members].sum(), 1e-9)
        quota[members] = rate * weighted[members] * QUOTA_STRETCH
    quota = np.maximum(np.round(quota / QUOTA_ROUNDING_CENTS), 1) * QUOTA_ROUNDING_CENTS
    quota = np.where(quarters.employed, quota, 0.0)
    rows: list[Row] = []
    for q, position in enumerate(quarters.index.tolist()):
        period = _period(timeline, position)
        for rep in np.flatnonzero(quarters.employed[:, q]).tolist():
            rows.append(_quota(period, int(quota[rep, q]), user_id=int(reps.user_id[rep])))
        for team in range(3):
            total = int(quota[reps.team == team, q].sum())
            rows.append(_quota(period, total, team_id=DIRECTOR_TEAM_ID + 1 + team))
        rows.append(_quota(period, int(quota[:, q].sum()), team_id=DIRECTOR_TEAM_ID))
    return rows


def _period(timeline: Timeline, position: int) -> tuple[date, date]:
    """The half-open date range of one quarter."""
    return timeline.quarter_starts[position], timeline.quarter_starts[position + 1]


def _quota(
    period: tuple[date, date],
    amount: int,
    *,
    user_id: int | None = None,
    team_id: int | None = None,
) -> Row:
    """One quota row for a rep or a team."""
    return {
        "user_id": user_id,
        "team_id": team_id,
        "period_start": period[0],
        "period_end": period[1],
        "amount_cents": amount,
    }


def forecast_rows(
    rng: np.random.Generator, org: Org, tally: Tally, quarters: Quarters, timeline: Timeline
) -> list[Row]:
    """Weekly forecast calls of reps, managers' adjustments, and the roll-ups."""
    booked_to_day = np.cumsum(tally.booked_by_day, axis=1)
    first_day = int(timeline.start.timestamp()) // SECONDS_PER_DAY
    rows: list[Row] = []
    for position in quarters.index.tolist():
        period = _period(timeline, position)
        start_day, end_day = ((d - EPOCH).days for d in period)
        # Thursdays: day numbers where (day + 3) % 7 == 3.
        thursday = start_day + (3 - (start_day + 3) % 7) % 7
        for day in range(thursday, end_day, 7):
            b = float(timeline.b_of_day_number(np.array([day]))[0]) + 0.6
            if b < 0 or b + 0.5 > timeline.as_of_b:
                continue
            before = np.clip([start_day - first_day - 1, day - first_day - 1], -1, None)
            booked = _booked_between(booked_to_day, before)
            week = _WeekCall(position, period, b, booked, tally, timeline)
            rows.extend(week.rows(rng, org))
    return rows


def _booked_between(cumulative: Floats, before: np.ndarray) -> Floats:
    """Per rep, bookings on days `before[0] + 1 .. before[1]` (from cumulative sums)."""
    upto = cumulative[:, before[1]] if before[1] >= 0 else np.zeros(len(cumulative))
    since = cumulative[:, before[0]] if before[0] >= 0 else np.zeros(len(cumulative))
    result: Floats = upto - since
    return result


@dataclass(frozen=True)
class _WeekCall:
    """The forecast calls of one week of one quarter."""

    quarter: int
    period: tuple[date, date]
    b: float
    booked: Floats
    tally: Tally
    timeline: Timeline

    def rows(self, rng: np.random.Generator, org: Org) -> list[Row]:
        """Reps' calls, managers' adjustments of biased reps, team and director roll-ups."""
        reps = org.reps
        active = np.flatnonzero((reps.hired_b <= self.b) & (self.b < reps.left_b))
        calls = self._rep_calls(rng, org, active)
        rows = [
            self._row(rng, reps.user_id[rep], reps.user_id[rep], calls[i], 0.0)
            for i, rep in enumerate(active.tolist())
        ]
        team_totals = np.zeros((3, 3))
        for i, rep in enumerate(active.tolist()):
            team = int(reps.team[rep])
            manager = int(org.team_manager_ids[team])
            call = calls[i]
            if abs(reps.bias[rep] - 1.0) > 0.12 and rng.random() < 0.3:
                call = self.booked[rep] + (call - self.booked[rep]) / reps.bias[rep]
                rows.append(self._row(rng, reps.user_id[rep], manager, call, 0.2))
            team_totals[team] += call
        for team in range(3):
            manager = int(org.team_manager_ids[team])
            total = team_totals[team] * org.manager_bias[team]
            rows.append(self._row(rng, manager, manager, total, 0.35))
            team_totals[team] = total
        director = org.teams[0].manager_id
        total = team_totals.sum(axis=0) * org.manager_bias[3]
        rows.append(self._row(rng, director, director, total, 0.45))
        return rows

    def _rep_calls(self, rng: np.random.Generator, org: Org, active: Ints) -> Floats:
        """Commit, best case and pipeline (rows of 3) of each active rep."""
        reps = org.reps
        starts = self.timeline.quarter_start_b
        left = (starts[self.quarter + 1] - self.b) / (
            starts[self.quarter + 1] - starts[self.quarter]
        )
        booked = self.booked[active]
        remaining = np.maximum(self.tally.won_by_quarter[active, self.quarter] - booked, 0.0)
        n = len(active)
        confidence = (0.85 + 0.15 * (1.0 - left)) * rng.lognormal(0.0, 0.25 * left + 0.03, n)
        commit = booked + remaining * reps.bias[active] * confidence
        best = commit + remaining * rng.uniform(0.2, 0.5, n) * reps.bias[active]
        pipeline = best + remaining * rng.uniform(1.0, 2.0, n)
        return np.column_stack([commit, best, pipeline])

    def _row(
        self, rng: np.random.Generator, user_id: int, by: int, call: Floats, later: float
    ) -> Row:
        """One submission, `later` business days after the reps' Thursday call."""
        cents = np.round(np.maximum(call, 0.0) / FORECAST_ROUNDING_CENTS).astype(np.int64)
        cents *= FORECAST_ROUNDING_CENTS
        seconds = int(self.timeline.seconds(np.array([self.b + later + rng.uniform(0, 0.05)]))[0])
        return {
            "user_id": int(user_id),
            "submitted_by_id": int(by),
            "period_start": self.period[0],
            "period_end": self.period[1],
            "commit_cents": int(cents[0]),
            "best_case_cents": int(cents[1]),
            "pipeline_cents": int(cents[2]),
            "note": FORECAST_NOTES[int(rng.integers(0, len(FORECAST_NOTES)))],
            "submitted_at": datetime.fromtimestamp(seconds, self.timeline.as_of.tzinfo),
        }
