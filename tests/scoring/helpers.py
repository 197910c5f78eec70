"""Synthetic closed deals for scoring tests: a known signal in a few fields, plus noise."""

from __future__ import annotations

import numpy as np
import pandas as pd

REGIONS = ("North", "South", "East", "West")
# Log-odds each region adds: the signal a scorer should find.
REGION_EFFECT = {"North": 1.5, "South": -1.5, "East": 0.0, "West": 0.3}


def synthetic_deals(rows: int = 1500, seed: int = 7) -> tuple[pd.DataFrame, np.ndarray]:
    """Deal fields (region, source, amount, employees band) and won (1) / lost (0).

    Won deals favour the North, small amounts and referrals; a few fields are missing.
    """
    rng = np.random.default_rng(seed)
    region = rng.choice(REGIONS, size=rows)
    source = rng.choice(["web", "referral", "event", "cold call"], size=rows)
    amount = np.round(rng.lognormal(mean=10, sigma=1, size=rows), -2)
    employees = rng.integers(1, 6, size=rows)
    log_odds = (
        np.vectorize(REGION_EFFECT.get)(region)
        + np.where(source == "referral", 1.0, 0.0)
        - 0.8 * (np.log(amount + 1) - 10)
        + 0.1 * employees
        - 0.5
    )
    won = (rng.random(rows) < 1 / (1 + np.exp(-log_odds))).astype(int)
    frame = pd.DataFrame(
        {
            "region": region.astype(object),
            "source": source.astype(object),
            "amount": amount,
            "employees": employees,
        }
    )
    frame.loc[rng.random(rows) < 0.05, "source"] = None
    frame.loc[rng.random(rows) < 0.05, "amount"] = np.nan
    return frame, won
