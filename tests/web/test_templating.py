"""Formatting filters of the pages (pure)."""

from __future__ import annotations

from datetime import UTC, date, datetime

import pytest

from topline.web.templating import format_date, format_money, format_percent


@pytest.mark.parametrize(
    ("cents", "currency", "expected"),
    [
        (0, "USD", "$0"),
        (1_234_500, "USD", "$12,345"),
        (1_234_550, "USD", "$12,346"),
        (1_234_549, "USD", "$12,345"),
        (-50_000_00, "USD", "-$50,000"),
        (123_456_789_00, "usd", "$123,456,789"),
        (99_00, "EUR", "€99"),
        (1_200_00, "SEK", "1,200 SEK"),
        (None, "USD", "—"),
    ],
)
def test_format_money(cents: int | None, currency: str, expected: str) -> None:
    assert format_money(cents, currency) == expected


@pytest.mark.parametrize(
    ("ratio", "decimals", "expected"),
    [(0.4, 0, "40%"), (0.1, 0, "10%"), (1.0, 0, "100%"), (0.125, 1, "12.5%"), (0.005, 0, "1%")],
)
def test_format_percent(ratio: float, decimals: int, expected: str) -> None:
    assert format_percent(ratio, decimals) == expected


def test_format_percent_of_nothing() -> None:
    assert format_percent(None) == "—"


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (date(2025, 3, 31), "Mar 31, 2025"),
        (date(2025, 12, 1), "Dec 1, 2025"),
        (datetime(2025, 7, 4, 23, 0, tzinfo=UTC), "Jul 4, 2025"),
        (None, "—"),
    ],
)
def test_format_date(value: date | datetime | None, expected: str) -> None:
    assert format_date(value) == expected
