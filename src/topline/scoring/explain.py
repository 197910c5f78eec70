"""Why a record got its score: the fields that push its probability up and down, in points.

Pure. LightGBM splits each record's log-odds into one contribution per field (plus a base
shared by all records); in a scorer blended with a logistic regression, each field's
contribution is the blend of its trees' push and its regression term, so the contributions
still add up to the log-odds. Log-odds mean little to a person, so each contribution is turned
into probability points on the calibrated scale: the record's probability with the
contribution minus its probability without it. Points of different fields need not add up
to the total (the calibration curve bends), but each says how much that one field moves this
record.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import pandas as pd

from topline.scoring.estimators import TabularScorer


@dataclass(frozen=True)
class Factor:
    """One field's push on one record's probability, in percentage points (+ up, − down)."""

    feature: str
    value: object
    points: float

    def describe(self) -> str:
        """The factor as a person reads it: "Region = Pacific: +4 pts"."""
        return f"{self.feature} = {format_value(self.value)}: {format_points(self.points)}"


@dataclass(frozen=True)
class Explanation:
    """A record's calibrated probability and the factors that raise and lower it most."""

    probability: float
    up: list[Factor]
    down: list[Factor]

    def describe(self) -> list[str]:
        """The factors as lines, the strongest push up first, then the strongest push down."""
        return [factor.describe() for factor in (*self.up, *self.down)]


def format_value(value: object) -> str:
    """A field value as shown to people: thousands separators, no trailing ".0", "missing"."""
    if value is None or (isinstance(value, float) and math.isnan(value)) or value is pd.NA:
        return "missing"
    if isinstance(value, bool | np.bool_):
        return "yes" if value else "no"
    if isinstance(value, int | np.integer):
        return f"{int(value):,}"
    if isinstance(value, float | np.floating):
        number = float(value)
        if number.is_integer():
            return f"{int(number):,}"
        return f"{number:,.2f}".rstrip("0").rstrip(".")
    text = str(value).strip()
    return text or "missing"


def format_points(points: float) -> str:
    """Signed whole percentage points with a true minus sign: "+4 pts", "−12 pts", "+1 pt"."""
    whole = round(points)
    sign = "−" if whole < 0 else "+"
    unit = "pt" if abs(whole) == 1 else "pts"
    return f"{sign}{abs(whole)} {unit}"


def explain(
    scorer: TabularScorer, records: pd.DataFrame, *, top: int = 3, min_points: float = 0.5
) -> list[Explanation]:
    """For each record, up to `top` fields raising and lowering its probability the most.

    Fields that move the probability by less than `min_points` are left out: a list of
    "+0 pts" would hide the factors that matter.
    """
    contributions = scorer.contributions(records)
    log_odds = contributions.sum(axis=1).to_numpy() + scorer.base_log_odds_
    with_all = scorer.probability_from_log_odds(log_odds)
    without_each = scorer.probability_from_log_odds(
        log_odds[:, np.newaxis] - contributions.to_numpy()
    )
    points = 100.0 * (with_all[:, np.newaxis] - without_each)
    columns = list(contributions.columns)
    explanations: list[Explanation] = []
    for row in range(len(records)):
        values = records.iloc[row]
        factors = [
            Factor(name, values[name], float(points[row, column]))
            for column, name in enumerate(columns)
            if abs(points[row, column]) >= min_points
        ]
        up = sorted((f for f in factors if f.points > 0), key=lambda f: -f.points)[:top]
        down = sorted((f for f in factors if f.points < 0), key=lambda f: f.points)[:top]
        explanations.append(Explanation(float(with_all[row]), up, down))
    return explanations
