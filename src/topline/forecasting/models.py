"""Forecast calls submitted by reps and managers."""

from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import BigInteger, CheckConstraint, Date, ForeignKey, Index, Text
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
