"""The one place the current time is read. Tests pass `as_of`/`at` instead of patching."""

from __future__ import annotations

from datetime import UTC, datetime


def utcnow() -> datetime:
    """The current moment, timezone-aware in UTC."""
    return datetime.now(UTC)


def ensure_utc(moment: datetime) -> datetime:
    """Return `moment` in UTC; naive datetimes are taken to be UTC already."""
    if moment.tzinfo is None:
        return moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC)
