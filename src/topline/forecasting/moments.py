"""What was known about a period at a moment: won so far, the open pipeline, and the outcome.

Everything is read from `deal_history` as of the moment (never the `deals` table, which is
today's state), so a forecast made for a past moment sees exactly what a person saw then.

A period's won amount is the amount of the deals whose close as won falls in the period, as
recorded by the period's end. A deal reopened and closed again later counts where its close
in force at the period's end falls.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

import numpy as np
import pandas as pd
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from topline.analytics.history import closed_as_of, created_in
from topline.analytics.periods import Period
from topline.auth.models import User
from topline.clock import ensure_utc
from topline.crm.enums import StageType
from topline.crm.models import Stage
from topline.forecasting.models import ForecastSubmission
from topline.scoring.features import deal_features

# Columns the forecast adds to `deal_features`' frame.
STAGE_PROBABILITY = "stage_probability"
CLOSES_IN_PERIOD = "closes_in_period"


@dataclass(frozen=True)
class PeriodMoment:
    """A period as it stood at a moment (`as_of`, inside the period or before it).

    `won_by_owner`: cents won so far in the period, per owner at the close (a Series indexed
    by owner id). `deals`: the deals open at `as_of`, one row each, with the columns of
    `topline.scoring.features.deal_features` (including `days_to_period_end`) plus
    `stage_probability` (the stage's default probability) and `closes_in_period` (1 when the
    expected close date falls in the period, else 0).
    """

    period: Period
    as_of: datetime
    won_by_owner: pd.Series
    deals: pd.DataFrame

    @property
    def won_cents(self) -> int:
        """Cents won so far in the period."""
        return int(self.won_by_owner.sum())

    def for_owners(self, owners: Collection[int] | None) -> PeriodMoment:
        """The same moment restricted to deals owned by `owners` (None: everyone)."""
        if owners is None:
            return self
        keep = list(owners)
        won = self.won_by_owner[self.won_by_owner.index.isin(keep)]
        deals = self.deals[self.deals["owner_id"].isin(keep)].reset_index(drop=True)
        return PeriodMoment(self.period, self.as_of, won, deals)


def period_moment(session: Session, period: Period, as_of: datetime) -> PeriodMoment:
    """The whole org's period as it stood at `as_of`: won so far and the open deals."""
    as_of = ensure_utc(as_of)
    won_until = min(as_of, period.end_at)
    won = won_by_owner(session, period.start_at, won_until, as_of)
    deals = deal_features(session, as_of, period_end=period.end)
    probabilities = {row[0]: row[1] for row in session.execute(select(Stage.id, Stage.probability))}
    deals[STAGE_PROBABILITY] = deals["stage_id"].map(probabilities).astype(np.float64)
    deals[CLOSES_IN_PERIOD] = _closes_in(deals["close_date"], period).astype(np.float64)
    return PeriodMoment(period, as_of, won, deals)


def _closes_in(close_dates: pd.Series, period: Period) -> pd.Series:
    days: list[date | None] = close_dates.tolist()
    return pd.Series(
        [day is not None and period.start <= day < period.end for day in days],
        index=close_dates.index,
        dtype=bool,
    )


def won_by_owner(session: Session, start: datetime, end: datetime, as_of: datetime) -> pd.Series:
    """Cents of deals won with their close in `[start, end)`, as recorded at `as_of`, per
    owner (a Series of int64 indexed by owner id; owners without wins are absent)."""
    if end <= start:
        return pd.Series(dtype=np.int64)
    closed = closed_as_of(ensure_utc(as_of), ensure_utc(start), ensure_utc(end))
    stmt = (
        select(closed.c.owner_id, func.sum(closed.c.amount_cents))
        .where(closed.c.stage_type == StageType.WON)
        .group_by(closed.c.owner_id)
    )
    return _by_owner(session.execute(stmt).all())


def _by_owner(rows: Sequence[Any]) -> pd.Series:
    """(owner id, cents) rows as a Series of cents indexed by owner id."""
    return pd.Series(
        [int(row[1]) for row in rows],
        index=pd.Index([int(row[0]) for row in rows], dtype=np.int64),
        dtype=np.int64,
    )


def won_deal_ids(session: Session, start: datetime, end: datetime, as_of: datetime) -> set[int]:
    """The deals won with their close in `[start, end)`, as recorded at `as_of`."""
    closed = closed_as_of(ensure_utc(as_of), ensure_utc(start), ensure_utc(end))
    stmt = select(closed.c.deal_id).where(closed.c.stage_type == StageType.WON)
    return {int(deal_id) for deal_id in session.scalars(stmt)}


def new_deals_won_by_owner(session: Session, period: Period, after: datetime) -> pd.Series:
    """Cents the period won, as recorded at its end, from deals created after `after`: the
    part of a period's result no open deal at `after` could show (per owner at the close)."""
    end = period.end_at
    created = created_in(ensure_utc(after), end, end)
    closed = closed_as_of(end, ensure_utc(after), end)
    stmt = (
        select(closed.c.owner_id, func.sum(closed.c.amount_cents))
        .join(created, created.c.deal_id == closed.c.deal_id)
        .where(closed.c.stage_type == StageType.WON)
        .group_by(closed.c.owner_id)
    )
    return _by_owner(session.execute(stmt).all())


def people_call(
    session: Session, period: Period, as_of: datetime, user_ids: Collection[int] | None = None
) -> int | None:
    """The forecast call (commit, cents) for exactly `period` as it stood at `as_of`: the
    latest call for the number of each of `user_ids` (by default everyone at the top of the
    reporting line, i.e. without a manager: the org's number), summed; None when none of them
    had called it."""
    as_of = ensure_utc(as_of)
    whose = User.manager_id.is_(None) if user_ids is None else User.id.in_(list(user_ids))
    latest = (
        select(
            ForecastSubmission.user_id,
            func.max(ForecastSubmission.submitted_at).label("submitted_at"),
        )
        .join(User, User.id == ForecastSubmission.user_id)
        .where(
            whose,
            ForecastSubmission.period_start == period.start,
            ForecastSubmission.period_end == period.end,
            ForecastSubmission.submitted_at <= as_of,
        )
        .group_by(ForecastSubmission.user_id)
        .subquery()
    )
    # Two calls for one number in the same instant: the later-written one (higher id) holds.
    last = (
        select(func.max(ForecastSubmission.id))
        .join(
            latest,
            (latest.c.user_id == ForecastSubmission.user_id)
            & (latest.c.submitted_at == ForecastSubmission.submitted_at),
        )
        .where(
            ForecastSubmission.period_start == period.start,
            ForecastSubmission.period_end == period.end,
        )
        .group_by(ForecastSubmission.user_id)
    )
    stmt = select(func.sum(ForecastSubmission.commit_cents), func.count()).where(
        ForecastSubmission.id.in_(last)
    )
    total, count = session.execute(stmt).one()
    return int(total) if count else None
