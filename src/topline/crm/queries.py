"""Read-side queries of the CRM core: aggregates pushed down to the database.

Every function takes the viewer's scope as `owner_ids` (from `auth.service.visible_user_ids`):
None means every owner, a list restricts to deals owned by those users.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date

from sqlalchemy import ColumnElement, and_, func, select, true
from sqlalchemy.orm import Session

from topline.auth.models import User
from topline.crm.enums import StageType
from topline.crm.models import Account, Deal, Stage


@dataclass(frozen=True)
class StageTotals:
    """Open deals sitting in one stage: how many, how much, and how much weighted."""

    stage_id: int
    stage_name: str
    probability: float
    deal_count: int
    amount_cents: int

    @property
    def weighted_amount_cents(self) -> int:
        """The stage's amount at its win probability, in whole cents (halves round up)."""
        return math.floor(self.amount_cents * self.probability + 0.5)


@dataclass(frozen=True)
class PipelineTotals:
    """Open pipeline summed over stages."""

    deal_count: int
    amount_cents: int
    weighted_amount_cents: int


@dataclass(frozen=True)
class OpenDealRow:
    """One open deal as the pipeline tables list it."""

    deal_id: int
    name: str
    account_name: str | None
    owner_name: str
    stage_name: str
    amount_cents: int
    close_date: date


def _owner_filter(owner_ids: Sequence[int] | None) -> ColumnElement[bool]:
    return true() if owner_ids is None else Deal.owner_id.in_(list(owner_ids))


def open_pipeline_by_stage(
    session: Session, *, owner_ids: Sequence[int] | None, pipeline_id: int
) -> list[StageTotals]:
    """Open pipeline per open stage of `pipeline_id`, in stage order, empty stages included.

    One GROUP BY query. Weighted pipeline uses the stage's probability, so a stage's weighted
    amount is its total times that probability.
    """
    deal_count = func.count(Deal.id)
    amount = func.coalesce(func.sum(Deal.amount_cents), 0)
    stmt = (
        select(Stage.id, Stage.name, Stage.probability, deal_count, amount)
        .select_from(Stage)
        .outerjoin(Deal, and_(Deal.stage_id == Stage.id, _owner_filter(owner_ids)))
        .where(Stage.pipeline_id == pipeline_id, Stage.type == StageType.OPEN)
        .group_by(Stage.id, Stage.name, Stage.probability, Stage.position)
        .order_by(Stage.position)
    )
    return [
        StageTotals(
            stage_id=stage_id,
            stage_name=name,
            probability=probability,
            deal_count=int(count),
            # PostgreSQL sums BIGINT as NUMERIC; the value is still a whole number of cents.
            amount_cents=int(total),
        )
        for stage_id, name, probability, count, total in session.execute(stmt)
    ]


def pipeline_totals(stages: Sequence[StageTotals]) -> PipelineTotals:
    """The totals row of a by-stage pipeline: sums of the stage rows as shown."""
    return PipelineTotals(
        deal_count=sum(s.deal_count for s in stages),
        amount_cents=sum(s.amount_cents for s in stages),
        weighted_amount_cents=sum(s.weighted_amount_cents for s in stages),
    )


def largest_open_deals(
    session: Session, *, owner_ids: Sequence[int] | None, pipeline_id: int, limit: int = 10
) -> list[OpenDealRow]:
    """The biggest open deals of `pipeline_id`, ties broken by the earliest close date."""
    stmt = (
        select(
            Deal.id,
            Deal.name,
            Account.name,
            User.name,
            Stage.name,
            Deal.amount_cents,
            Deal.close_date,
        )
        .join(Stage, Stage.id == Deal.stage_id)
        .join(User, User.id == Deal.owner_id)
        .outerjoin(Account, Account.id == Deal.account_id)
        .where(
            Deal.pipeline_id == pipeline_id,
            Stage.type == StageType.OPEN,
            _owner_filter(owner_ids),
        )
        .order_by(Deal.amount_cents.desc(), Deal.close_date, Deal.id)
        .limit(limit)
    )
    return [
        OpenDealRow(
            deal_id=deal_id,
            name=name,
            account_name=account_name,
            owner_name=owner_name,
            stage_name=stage_name,
            amount_cents=amount_cents,
            close_date=close_date,
        )
        for deal_id, name, account_name, owner_name, stage_name, amount_cents, close_date in (
            session.execute(stmt)
        )
    ]
