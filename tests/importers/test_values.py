"""Cells to values: dates in the formats people export, money, yes/no, choices."""

from __future__ import annotations

from datetime import UTC, date, datetime

import pytest

from topline.crm.enums import DealType
from topline.importers.values import (
    BadValue,
    Formats,
    as_bool,
    as_cents,
    as_choice,
    as_country,
    as_date,
    as_datetime,
    as_email,
    as_int,
    as_text,
)

PLAIN = Formats()


@pytest.mark.parametrize(
    ("cell", "formats", "expected"),
    [
        ("2025-03-07", PLAIN, date(2025, 3, 7)),
        ("2025-03-07T16:30:00Z", PLAIN, date(2025, 3, 7)),
        ("7 Mar 2025", PLAIN, date(2025, 3, 7)),
        ("March 7, 2025", PLAIN, date(2025, 3, 7)),
        ("07-Mar-2025", PLAIN, date(2025, 3, 7)),
        ("31/03/2025", PLAIN, date(2025, 3, 31)),  # only one reading is a real date
        ("03/31/2025", PLAIN, date(2025, 3, 31)),
        ("03/07/2025", Formats(date_formats=("%m/%d/%Y",)), date(2025, 3, 7)),
        ("03/07/2025", Formats(date_formats=("%d/%m/%Y",)), date(2025, 7, 3)),
        ("7.3.2025", Formats(date_formats=("%d.%m.%Y",)), date(2025, 3, 7)),
        (datetime(2025, 3, 7, 23, 0), PLAIN, date(2025, 3, 7)),
    ],
)
def test_dates_in_the_formats_people_export(cell: object, formats: Formats, expected: date) -> None:
    assert as_date(cell, formats) == expected  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("cell", "message"),
    [
        ("03/07/2025", "ambiguous date"),
        ("2025-02-30", "not a real date"),
        ("31/31/2025", "not a real date"),
        ("soon", "not a date"),
    ],
)
def test_dates_that_cannot_be_read_say_why(cell: str, message: str) -> None:
    with pytest.raises(BadValue, match=message):
        as_date(cell, PLAIN)


def test_moments_are_utc_and_dates_start_the_day_in_the_sources_timezone() -> None:
    berlin = Formats(timezone="Europe/Berlin")

    assert as_datetime("2025-03-07T10:00:00+02:00", PLAIN) == datetime(2025, 3, 7, 8, tzinfo=UTC)
    assert as_datetime("2025-03-07 10:00", berlin) == datetime(2025, 3, 7, 9, tzinfo=UTC)
    assert as_datetime("2025-07-01", berlin) == datetime(2025, 6, 30, 22, tzinfo=UTC)


@pytest.mark.parametrize(
    ("cell", "formats", "cents"),
    [
        ("1234", PLAIN, 123_400),
        ("1,234.56", PLAIN, 123_456),
        ("$1,234.56", PLAIN, 123_456),
        ("USD 99.99", PLAIN, 9_999),
        ("1.234,56 €", Formats(decimal_separator=","), 123_456),
        (1234.5, PLAIN, 123_450),
        ("0", PLAIN, 0),
    ],
)
def test_money_becomes_cents(cell: object, formats: Formats, cents: int) -> None:
    assert as_cents(cell, formats) == cents  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("cell", "message"),
    [("-5", "negative"), ("(5)", "negative"), ("ten", "not a number"), ("NaN", "not a number")],
)
def test_bad_money_says_why(cell: str, message: str) -> None:
    with pytest.raises(BadValue, match=message):
        as_cents(cell, PLAIN)


def test_whole_numbers_yes_no_choices_countries_emails_and_text() -> None:
    assert as_int("1,200") == 1200
    assert as_int(12.0) == 12
    with pytest.raises(BadValue, match="whole number"):
        as_int("12.5")
    assert [as_bool(v) for v in ("Yes", "x", "0", "FALSE", 1)] == [True, True, False, False, True]
    with pytest.raises(BadValue, match="yes or no"):
        as_bool("maybe")
    assert as_choice("New Business", DealType) is DealType.NEW_BUSINESS
    assert as_choice("renewal", DealType) is DealType.RENEWAL
    with pytest.raises(BadValue, match="new_business, expansion, renewal"):
        as_choice("upsell", DealType)
    assert as_country("us") == "US"
    with pytest.raises(BadValue, match="two-letter country code"):
        as_country("United States")
    assert as_email(" Ana@Example.COM ") == "ana@example.com"
    with pytest.raises(BadValue, match="not an email"):
        as_email("ana at example")
    assert as_text(1234.0, max_length=10) == "1234"
    with pytest.raises(BadValue, match="longer than 3"):
        as_text("abcd", max_length=3)
