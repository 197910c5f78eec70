"""Column values in each driver's format, checked against SQLAlchemy's own conversions."""

from __future__ import annotations

from datetime import UTC, date, datetime

import numpy as np
from sqlalchemy import Date, DateTime
from sqlalchemy.dialects import sqlite

from topline.demo.frames import Column, Kind, pg_values, sqlite_values

MOMENT = datetime(2026, 11, 26, 9, 5, 7, tzinfo=UTC)
SECONDS = np.array([int(MOMENT.timestamp()), 0])
DIALECT = sqlite.dialect()
DAYS = np.array([(date(2026, 2, 28) - date(1970, 1, 1)).days])


def test_sqlite_timestamps_match_sqlalchemys_storage_format() -> None:
    process = DateTime().dialect_impl(DIALECT).bind_processor(DIALECT)
    assert process is not None
    expected = process(MOMENT.replace(tzinfo=None))
    column = Column("at", Kind.TIMESTAMP, SECONDS, np.array([False, True]))
    assert sqlite_values(column) == [expected, None]


def test_sqlite_dates_match_sqlalchemys_storage_format() -> None:
    process = Date().dialect_impl(DIALECT).bind_processor(DIALECT)
    assert process is not None
    assert sqlite_values(Column("on", Kind.DATE, DAYS)) == [process(date(2026, 2, 28))]


def test_postgres_fields_are_copy_text() -> None:
    assert pg_values(Column("at", Kind.TIMESTAMP, SECONDS[:1])) == ["2026-11-26 09:05:07+00"]
    assert pg_values(Column("ok", Kind.BOOL, np.array([True, False]), np.array([False, True]))) == [
        "t",
        "\\N",
    ]
    text = np.array(["Acme", None], dtype=object)
    assert pg_values(Column("name", Kind.TEXT, text)) == ["Acme", "\\N"]
    assert pg_values(Column("n", Kind.INT, np.array([7, -1]), np.array([False, True]))) == [
        "7",
        "\\N",
    ]
    assert pg_values(Column("x", Kind.FLOAT, np.array([0.5, np.nan]))) == ["0.5", "\\N"]


def test_sqlite_values_are_plain_python_values() -> None:
    values = sqlite_values(Column("n", Kind.INT, np.array([3, 4])))
    assert values == [3, 4]
    assert all(type(v) is int for v in values)
    assert sqlite_values(Column("b", Kind.BOOL, np.array([True, False]))) == [1, 0]
