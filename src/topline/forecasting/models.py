"""Forecast calls submitted by reps and managers."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    CheckConstraint,
    Date,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column

from topline.storage.base import Base, IdMixin
from topline.storage.types import BigId, UTCDateTime


class ForecastSubmission(IdMixin, Base):
    """A forecast call for one person's number in one period, as submitted at one moment.

    A rep submits their own number (`user_id == submitted_by_id`). A manager submits the
    roll-up of their team under their own `user_id`, and adjusts a report's number by submitting
    under that report's `user_id`. The latest submission per (user, period) is the current call.
    """

    __tablename__ = "forecast_submissions"
    __table_args__ = (
        CheckConstraint("period_end > period_start", name="period_order"),
        CheckConstraint(
            "commit_cents >= 0 AND best_case_cents >= 0 AND pipeline_cents >= 0",
            name="amounts_non_negative",
        ),
        Index("ix_forecast_submissions_user_period", "user_id", "period_start", "submitted_at"),
    )

    user_id: Mapped[int] = mapped_column(BigId, ForeignKey("users.id"))
    submitted_by_id: Mapped[int] = mapped_column(BigId, ForeignKey("users.id"), index=True)
    period_start: Mapped[date] = mapped_column(Date)
    period_end: Mapped[date] = mapped_column(Date)
    commit_cents: Mapped[int] = mapped_column(BigInteger)
    best_case_cents: Mapped[int] = mapped_column(BigInteger)
    pipeline_cents: Mapped[int] = mapped_column(BigInteger)
    note: Mapped[str | None] = mapped_column(Text)
    submitted_at: Mapped[datetime] = mapped_column(UTCDateTime)


class ForecastSnapshot(IdMixin, Base):
    """One forecast method's number for one scope's won amount in one period, as it stood on
    one day (`taken_on`, at `taken_at`).

    Kept so the forecast can be seen as it was on any past day and so its accuracy can be
    measured once the period has ended. `scope_key` names the scope ("org", "team:<manager
    id>", "rep:<user id>"); `scope_user_id` is that manager or rep (null for the org). Taking
    snapshots again on the same day replaces that day's. The ranged method fills the
    percentiles; `details` holds what explains the number (the deals that move it most, the
    run rate of deals not yet created, why a method is missing).
    """

    __tablename__ = "forecast_snapshots"
    __table_args__ = (
        UniqueConstraint(
            "scope_key",
            "period_start",
            "period_end",
            "method",
            "taken_on",
            name="uq_forecast_snapshots_day",
        ),
        CheckConstraint("period_end > period_start", name="period_order"),
        CheckConstraint("scope_kind IN ('org', 'team', 'rep')", name="scope_kind_known"),
        Index("ix_forecast_snapshots_period", "period_start", "period_end", "taken_on"),
    )

    scope_key: Mapped[str] = mapped_column(String(40))
    scope_kind: Mapped[str] = mapped_column(String(8))
    scope_user_id: Mapped[int | None] = mapped_column(BigId, ForeignKey("users.id"), index=True)
    period_start: Mapped[date] = mapped_column(Date)
    period_end: Mapped[date] = mapped_column(Date)
    method: Mapped[str] = mapped_column(String(40))
    taken_on: Mapped[date] = mapped_column(Date)
    taken_at: Mapped[datetime] = mapped_column(UTCDateTime)
    expected_cents: Mapped[int] = mapped_column(BigInteger)
    p10_cents: Mapped[int | None] = mapped_column(BigInteger)
    p50_cents: Mapped[int | None] = mapped_column(BigInteger)
    p90_cents: Mapped[int | None] = mapped_column(BigInteger)
    won_cents: Mapped[int] = mapped_column(BigInteger)
    open_deals: Mapped[int] = mapped_column(Integer)
    details: Mapped[dict[str, Any] | None] = mapped_column(JSON(none_as_null=True))
