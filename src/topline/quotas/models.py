"""Sales quotas per rep or team and period."""

from __future__ import annotations

from datetime import date

from sqlalchemy import BigInteger, CheckConstraint, Date, ForeignKey, Index
from sqlalchemy.orm import Mapped, mapped_column

from topline.storage.base import Base, IdMixin
from topline.storage.types import BigId


class Quota(IdMixin, Base):
    """The bookings target of one rep or one team over `[period_start, period_end)`."""

    __tablename__ = "quotas"
    __table_args__ = (
        CheckConstraint("(user_id IS NULL) <> (team_id IS NULL)", name="exactly_one_owner"),
        CheckConstraint("period_end > period_start", name="period_order"),
        CheckConstraint("amount_cents >= 0", name="amount_non_negative"),
        Index("ix_quotas_user_period", "user_id", "period_start", unique=True),
        Index("ix_quotas_team_period", "team_id", "period_start", unique=True),
    )

    user_id: Mapped[int | None] = mapped_column(BigId, ForeignKey("users.id"))
    team_id: Mapped[int | None] = mapped_column(BigId, ForeignKey("teams.id"))
    period_start: Mapped[date] = mapped_column(Date)
    period_end: Mapped[date] = mapped_column(Date)
    amount_cents: Mapped[int] = mapped_column(BigInteger)
