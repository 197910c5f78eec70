"""Sizes of the demo org and the sales assumptions its simulation runs on.

Segments are numbered 0 (SMB), 1 (mid-market), 2 (enterprise); each has one team. Deal types
are numbered 0 (new business), 1 (expansion), 2 (renewal). Stage positions follow
`DEFAULT_STAGES`: 1..5 are the open stages, 6 is won and 7 is lost.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from topline.crm.enums import DealType, ForecastCategory, Segment


@dataclass(frozen=True)
class SizeSpec:
    """How big a demo org is: deals over two years, reps per team, touches per deal."""

    name: str
    deals: int
    reps_per_team: tuple[int, int, int]
    activity_scale: float
    """Multiplies the calls, emails and meetings logged per deal."""


SIZES: dict[str, SizeSpec] = {
    # "tiny" exists for fast tests (determinism checks); it is not offered by the CLI.
    "tiny": SizeSpec("tiny", 300, (5, 4, 3), 1.0),
    "small": SizeSpec("small", 2_000, (10, 8, 6), 1.0),
    "medium": SizeSpec("medium", 60_000, (12, 10, 8), 1.0),
    # Large keeps fewer touches per deal so the build stays within its time budget.
    "large": SizeSpec("large", 1_000_000, (18, 15, 12), 0.6),
}

SEGMENTS = (Segment.SMB, Segment.MID_MARKET, Segment.ENTERPRISE)
TEAM_NAMES = ("SMB", "Mid-Market", "Enterprise")
DEAL_TYPES = (DealType.NEW_BUSINESS, DealType.EXPANSION, DealType.RENEWAL)
FORECAST_CATEGORIES = (
    ForecastCategory.PIPELINE,
    ForecastCategory.BEST_CASE,
    ForecastCategory.COMMIT,
    ForecastCategory.CLOSED,
    ForecastCategory.OMITTED,
)
PIPELINE, BEST_CASE, COMMIT, CLOSED, OMITTED = range(5)
WON_STAGE, LOST_STAGE = 6, 7
OPEN_STAGES = 5

# Share of pipeline per segment, and deals per account over two years.
SEGMENT_DEAL_SHARE = np.array([0.55, 0.30, 0.15])
DEALS_PER_ACCOUNT = np.array([3.0, 4.0, 6.0])
CONTACTS_BASE = np.array([1, 2, 3])
CONTACTS_EXTRA_MEAN = np.array([1.0, 1.5, 2.5])
# Deal size is lognormal: median annual contract value in cents and spread, per segment.
AMOUNT_MEDIAN_CENTS = np.array([900_000.0, 4_000_000.0, 15_000_000.0])
AMOUNT_SIGMA = np.array([0.55, 0.60, 0.70])
# Reps quote round numbers: amounts are whole multiples of $50.
AMOUNT_ROUNDING_CENTS = 5_000
MINIMUM_AMOUNT_CENTS = 50_000
TYPE_SHARE = np.array([0.60, 0.25, 0.15])
TYPE_AMOUNT_FACTOR = np.array([1.0, 0.45, 0.9])
TYPE_SPEED = np.array([1.0, 0.7, 0.5])
# Most deals are subscriptions; the recurring amount is the monthly share of the annual value.
SUBSCRIPTION_SHARE = np.array([0.8, 0.85, 1.0])
# Median business days a deal spends in each open stage, per segment.
STAGE_DAYS = np.array(
    [
        [3.0, 4.0, 6.0, 6.0, 4.0],
        [5.0, 8.0, 12.0, 12.0, 8.0],
        [8.0, 14.0, 22.0, 22.0, 14.0],
    ]
)
STAGE_DAYS_SIGMA = 0.6
# A deal about to be lost lingers longer in its last stage than one that moves on.
LOSS_LINGER = 1.5
# Probability to move on from each open stage (the last one: to win), per deal type.
ADVANCE_PROBABILITY = np.array(
    [
        [0.55, 0.62, 0.68, 0.70, 0.78],
        [0.80, 0.82, 0.82, 0.85, 0.85],
        [0.95, 0.95, 0.93, 0.93, 0.92],
    ]
)
# Big deals within a segment are harder to win: exponent per standard deviation of log size.
SIZE_PENALTY = 0.15

LOSS_REASONS = (
    "Price",
    "Lost to competitor",
    "No decision",
    "Timing",
    "Budget cut",
    "Product fit",
)
# Early deals die of no decision or poor fit; late ones of price and competitors.
LOSS_REASON_WEIGHTS = np.array(
    [
        [0.05, 0.10, 0.40, 0.20, 0.05, 0.20],
        [0.05, 0.15, 0.35, 0.20, 0.05, 0.20],
        [0.15, 0.25, 0.25, 0.15, 0.10, 0.10],
        [0.30, 0.30, 0.15, 0.10, 0.10, 0.05],
        [0.35, 0.30, 0.10, 0.10, 0.12, 0.03],
    ]
)

DEAL_SOURCES = ("Outbound", "Partner", "Event", "Referral", "Customer success")
# Source of deals not from a converted lead: new business by channel, the rest from customers.
NEW_BUSINESS_SOURCE_WEIGHTS = np.array([0.55, 0.15, 0.15, 0.15, 0.0])

# Share of deals already open at go-live, imported from the previous system.
IMPORTED_SHARE = 0.04
# Reps ramp to full productivity over this many business days (about six months).
RAMP_DAYS = 125.0
# Quotas are set this much above what a fully ramped rep books on average.
QUOTA_STRETCH = 1.12
QUOTA_ROUNDING_CENTS = 500_000
