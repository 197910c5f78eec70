"""Columns of generated rows and how each database driver wants their values.

The generator produces whole columns as numpy arrays; these helpers turn them into the Python
values `sqlite3` binds (in SQLAlchemy's SQLite storage format, so the ORM reads them back
unchanged) or into PostgreSQL COPY text fields.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum
from functools import cache

import numpy as np
from numpy.typing import NDArray

from topline.demo.calendar import SECONDS_PER_DAY

PG_NULL = "\\N"
_NONE = np.array(None, dtype=object)


class Kind(Enum):
    """How a column's numpy values map to SQL values."""

    INT = "int"
    FLOAT = "float"
    TEXT = "text"
    BOOL = "bool"
    TIMESTAMP = "timestamp"
    """Epoch seconds, stored as a UTC datetime."""
    DATE = "date"
    """Days since 1970-01-01, stored as a calendar date."""


@dataclass(frozen=True)
class Column:
    """One column of rows to insert. Text columns hold None for NULL; others use `null`."""

    name: str
    kind: Kind
    values: NDArray[np.generic]
    null: NDArray[np.bool_] | None = None

    def null_mask(self) -> NDArray[np.bool_] | None:
        """Which rows are NULL, or None when none can be."""
        if self.kind is Kind.TEXT:
            mask: NDArray[np.bool_] = np.equal(self.values, _NONE)
            return mask if mask.any() else None
        if self.kind is Kind.FLOAT:
            nan: NDArray[np.bool_] = np.isnan(self.values.astype(np.float64))
            return nan if nan.any() else None
        return self.null

    def rows(self, start: int, stop: int) -> Column:
        """The same column restricted to rows `start..stop`."""
        null = None if self.null is None else self.null[start:stop]
        return Column(self.name, self.kind, self.values[start:stop], null)


Frame = list[Column]


def frame_length(frame: Frame) -> int:
    """Number of rows in a frame (all columns have the same length)."""
    return len(frame[0].values) if frame else 0


def sqlite_values(column: Column) -> list[object]:
    """The column as values the `sqlite3` driver binds, NULLs as None."""
    if column.kind is Kind.TIMESTAMP:
        values = _timestamps(column.values.astype(np.int64), _sqlite_times())
    elif column.kind is Kind.DATE:
        values = _dates(column.values.astype(np.int64))
    elif column.kind is Kind.BOOL:
        values = column.values.astype(np.int64).astype(object)
    elif column.kind is Kind.TEXT:
        return list(column.values.tolist())
    else:
        values = column.values.astype(object)
    mask = column.null_mask()
    if mask is not None:
        values[mask] = None
    return list(values.tolist())


def pg_values(column: Column) -> list[str]:
    """The column as PostgreSQL COPY text fields, NULLs as `\\N`."""
    if column.kind is Kind.TIMESTAMP:
        values = _timestamps(column.values.astype(np.int64), _pg_times())
    elif column.kind is Kind.DATE:
        values = _dates(column.values.astype(np.int64))
    elif column.kind is Kind.BOOL:
        values = np.where(column.values.astype(bool), "t", "f").astype(object)
    elif column.kind is Kind.TEXT:
        values = column.values.astype(object)
    else:
        values = column.values.astype(np.dtypes.StringDType()).astype(object)
    mask = column.null_mask()
    if mask is not None:
        values[mask] = PG_NULL
    return list(values.tolist())


def _timestamps(seconds: NDArray[np.int64], times: NDArray[np.object_]) -> NDArray[np.object_]:
    """Date-and-time strings of epoch seconds, built from per-day and per-second tables."""
    if len(seconds) == 0:
        return np.empty(0, dtype=object)
    days = seconds // SECONDS_PER_DAY
    first = int(days.min())
    table = _day_table(first, int(days.max())) + " "
    result: NDArray[np.object_] = table[days - first] + times[seconds % SECONDS_PER_DAY]
    return result


def _dates(days: NDArray[np.int64]) -> NDArray[np.object_]:
    """ISO date strings of day numbers."""
    if len(days) == 0:
        return np.empty(0, dtype=object)
    first = int(days.min())
    result: NDArray[np.object_] = _day_table(first, int(days.max()))[days - first]
    return result


def _day_table(first: int, last: int) -> NDArray[np.object_]:
    """ISO dates of the day numbers `first..last`."""
    days = np.arange(first, last + 1).astype("datetime64[D]")
    return np.datetime_as_string(days).astype(object)


@cache
def _sqlite_times() -> NDArray[np.object_]:
    """Times of day for each second, as SQLAlchemy's SQLite dialect stores them."""
    return _times_of_day(".000000")


@cache
def _pg_times() -> NDArray[np.object_]:
    """Times of day for each second, as UTC `timestamptz` literals."""
    return _times_of_day("+00")


def _times_of_day(suffix: str) -> NDArray[np.object_]:
    """`HH:MM:SS` plus `suffix` for every second of a day."""
    table = np.empty(SECONDS_PER_DAY, dtype=object)
    table[:] = [
        f"{h:02d}:{m:02d}:{s:02d}{suffix}" for h in range(24) for m in range(60) for s in range(60)
    ]
    return table
