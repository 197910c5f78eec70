"""The simulation's business calendar."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import numpy as np

from topline.demo.calendar import build_timeline

AS_OF = datetime(2026, 11, 26, 12, 0, tzinfo=UTC)


def test_business_times_land_on_weekdays_in_working_hours_in_order() -> None:
    timeline = build_timeline(AS_OF)
    b = np.sort(np.random.default_rng(1).uniform(0, timeline.window_days, 5_000))
    moments = [datetime.fromtimestamp(s, UTC) for s in timeline.seconds(b).tolist()]
    assert all(m.weekday() < 5 and 13 <= m.hour < 22 for m in moments)
    assert moments == sorted(moments)
    assert moments[0] > AS_OF - timedelta(days=730)


def test_as_of_b_is_the_last_business_moment_not_after_as_of() -> None:
    for as_of in (AS_OF, AS_OF.replace(hour=18), datetime(2026, 11, 29, 10, tzinfo=UTC)):
        timeline = build_timeline(as_of)
        limit = timeline.as_of_b
        at_limit, past_limit = timeline.seconds(np.array([limit, limit + 0.01]))
        assert at_limit <= as_of.timestamp() < past_limit


def test_quarters_cover_the_window() -> None:
    timeline = build_timeline(AS_OF)
    first, last = timeline.quarter_of(np.array([0.0, timeline.as_of_b]))
    assert timeline.quarter_starts[first].isoformat() == "2024-10-01"
    assert timeline.quarter_starts[last].isoformat() == "2026-10-01"
