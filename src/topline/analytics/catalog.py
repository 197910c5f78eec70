"""Every report module, imported so that `REPORTS` holds every report."""

from __future__ import annotations

from topline.analytics import (
    changes,  # noqa: F401  (registers slippage, waterfall)
    funnel,  # noqa: F401  (registers funnel, velocity)
    people,  # noqa: F401  (registers reps, concentration)
    quota,  # noqa: F401  (registers coverage, attainment, leaderboard)
    reports,  # noqa: F401  (registers pipeline, win-rate, cycle)
    revenue,  # noqa: F401  (registers ramp, mrr)
)
from topline.analytics.registry import REPORTS

__all__ = ["REPORTS"]
