"""Turning change events into history rows, without a database."""

from __future__ import annotations

from datetime import UTC, date, datetime

import numpy as np

from topline.demo.calendar import build_timeline
from topline.demo.config import BEST_CASE, COMMIT, PIPELINE, WON_STAGE
from topline.demo.history import CategoryStyle, build_history, forecast_category, round_amounts
from topline.demo.lifecycle import CLOSE, CREATED, PUSH, REVIEW, STAGE, EventLog

TIMELINE = build_timeline(datetime(2026, 11, 26, 12, 0, tzinfo=UTC))
CLOSE_DAY = (date(2025, 3, 31) - date(1970, 1, 1)).days
STYLE = CategoryStyle(
    optimistic=np.array([False, False]),
    sandbag=np.array([True, False]),
    downgrade=np.array([False, False]),
)


def _one(values: list[float] | list[int]) -> np.ndarray:
    return np.array(values)


def _history(log: EventLog) -> dict[str, list[object]]:
    history = build_history(
        log.arrays(), log_amount=np.log([1_000_000.0, 500_000.0]), style=STYLE, timeline=TIMELINE
    )
    return {
        "deal": history.deal.tolist(),
        "fields": history.changed_fields.tolist(),
        "stage": history.stage.tolist(),
        "amount": history.amount_cents.tolist(),
        "category": history.category.tolist(),
        "valid_from": history.valid_from.tolist(),
        "valid_to": history.valid_to.tolist(),
        "current": history.is_current.tolist(),
    }


def _created(log: EventLog) -> None:
    log.add(
        CREATED,
        _one([0, 1]),
        _one([10.0, 11.0]),
        stage=_one([1, 1]),
        close_day=_one([CLOSE_DAY, CLOSE_DAY]),
        owner=_one([0, 1]),
    )


def test_simultaneous_changes_become_one_row_naming_every_field() -> None:
    log = EventLog()
    _created(log)
    log.add(STAGE, _one([0]), _one([12.5]), stage=_one([4]), log_factor=_one([np.log(1.2)]))
    log.add(PUSH, _one([0]), _one([12.5]), close_day=_one([CLOSE_DAY + 30]))

    rows = _history(log)

    assert rows["deal"] == [0, 0, 1]
    assert rows["fields"] == ["created", "stage,amount,close_date,forecast_category", "created"]
    assert rows["amount"] == [1_000_000, 1_200_000, 500_000]
    assert rows["category"] == [PIPELINE, BEST_CASE, PIPELINE]
    assert rows["valid_to"][0] == rows["valid_from"][1]
    assert rows["current"] == [False, True, True]


def test_events_that_change_nothing_leave_no_row() -> None:
    log = EventLog()
    _created(log)
    # Deal 1 does not hold back, so its late review moves nothing.
    log.add(STAGE, _one([0, 1]), _one([13.0, 13.0]), stage=_one([5, 5]))
    log.add(REVIEW, _one([0, 1]), _one([14.0, 14.0]))

    rows = _history(log)

    assert rows["deal"] == [0, 0, 0, 1, 1]
    assert rows["fields"][1:3] == ["stage,forecast_category", "forecast_category"]
    assert rows["category"][1:3] == [BEST_CASE, COMMIT]
    assert rows["fields"][4] == "stage,forecast_category"


def test_events_after_as_of_have_not_happened_yet() -> None:
    log = EventLog()
    _created(log)
    log.add(CLOSE, _one([0, 1]), _one([20.0, 10_000.0]), stage=_one([WON_STAGE, WON_STAGE]))

    rows = _history(log)

    assert rows["deal"] == [0, 0, 1]
    assert rows["stage"] == [1, WON_STAGE, 1]
    assert rows["current"] == [False, True, True]


def test_forecast_category_downgrades_slipping_deals_of_cautious_reps() -> None:
    style = CategoryStyle(np.array([True]), np.array([False]), np.array([True]))
    state = {
        "stage": np.array([4, 4, 5, 3]),
        "pushes": np.array([0, 2, 2, 5]),
        "reviewed": np.array([0, 0, 1, 0]),
    }
    categories = forecast_category(state, style, np.zeros(4, dtype=np.int64))
    assert categories.tolist() == [COMMIT, BEST_CASE, BEST_CASE, PIPELINE]


def test_amounts_round_to_fifty_dollars_with_a_floor() -> None:
    amounts = round_amounts(np.log(np.array([1_234_567.0, 10.0])))
    assert amounts.tolist() == [1_235_000, 50_000]
