"""Read-side queries of the CRM core: aggregates pushed down to the database.

Every function takes the viewer's scope as `owner_ids` (from `auth.service.visible_user_ids`):
None means every owner, a list restricts to deals owned by those users.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta

from sqlalchemy import ColumnElement, and_, case, exists, func, or_, select, true
from sqlalchemy.orm import Session

from topline.auth.models import User
from topline.crm.enums import StageType
from topline.crm.models import Account, Activity, Deal, Stage


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


@dataclass(frozen=True)
class CloseWindow:
    """Open deals expected to close between two days (both included; None leaves that side
    open)."""

    start: date | None = None
    end: date | None = None

    def condition(self) -> ColumnElement[bool]:
        conditions = []
        if self.start is not None:
            conditions.append(Deal.close_date >= self.start)
        if self.end is not None:
            conditions.append(Deal.close_date <= self.end)
        return and_(true(), *conditions)


ANY_CLOSE = CloseWindow()


def open_pipeline_by_stage(
    session: Session,
    *,
    owner_ids: Sequence[int] | None,
    pipeline_id: int,
    closing: CloseWindow = ANY_CLOSE,
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
        .outerjoin(
            Deal,
            and_(Deal.stage_id == Stage.id, _owner_filter(owner_ids), closing.condition()),
        )
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
    session: Session,
    *,
    owner_ids: Sequence[int] | None,
    pipeline_id: int,
    limit: int = 10,
    closing: CloseWindow = ANY_CLOSE,
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
            closing.condition(),
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


# --- deals at risk ---------------------------------------------------------------------------

# A deal with no activity and no change for this many days has gone quiet.
STALE_DAYS = 30
# A close date moved later within this many days is a slip.
SLIPPED_DAYS = 30
RISK_FLAGS = ("past_close_date", "no_next_step", "stale", "slipped")


@dataclass(frozen=True)
class AtRiskDeal:
    """An open deal with the warning signs it shows (see `deals_at_risk`)."""

    deal_id: int
    name: str
    owner_name: str
    stage_name: str
    amount_cents: int
    close_date: date
    flags: tuple[str, ...]


@dataclass(frozen=True)
class DealsAtRisk:
    """The riskiest open deals, and how many open deals show each warning sign."""

    deals: list[AtRiskDeal]
    total: int
    by_flag: dict[str, int]


def risk_signs(now: datetime) -> dict[str, ColumnElement[bool]]:
    """Each warning sign (see `deals_at_risk`) as a condition on `Deal`, as of `now`."""
    today = now.date()
    quiet_since = now - timedelta(days=STALE_DAYS)
    slipped_since = now - timedelta(days=SLIPPED_DAYS)
    return {
        "past_close_date": Deal.close_date < today,
        "no_next_step": or_(Deal.next_step.is_(None), func.trim(Deal.next_step) == ""),
        "stale": and_(
            Deal.updated_at < quiet_since,
            ~exists().where(Activity.deal_id == Deal.id, Activity.occurred_at >= quiet_since),
        ),
        # The deal keeps when its close date was last pushed out (see `Deal`).
        "slipped": Deal.last_pushed_at >= slipped_since,
    }


def deals_at_risk(
    session: Session,
    *,
    owner_ids: Sequence[int] | None,
    now: datetime,
    limit: int = 20,
    deal_ids: Sequence[int] | None = None,
) -> DealsAtRisk:
    """Open deals that show a warning sign, most signs and largest amount first:

    - `past_close_date`: the expected close date is before today (UTC);
    - `no_next_step`: no next step written down;
    - `stale`: nothing logged on the deal and no change to it in `STALE_DAYS` days;
    - `slipped`: its close date was moved later in the last `SLIPPED_DAYS` days.

    Two queries whatever the number of deals: the id, amount and signs of every open deal
    showing one (counted and ranked in Python), and the top `limit` in full.
    `deal_ids` narrows it to those deals (a deal page asks about its own).
    """
    signs = risk_signs(now)
    flags = [case((sign, 1), else_=0).label(name) for name, sign in signs.items()]
    # Each open deal's signs are worked out once: the flagged deals come back as (id, amount,
    # signs) and are counted and ranked here; only the top `limit` are read in full.
    open_deals = (
        select(Deal.id, Deal.amount_cents, *flags)
        .join(Stage, Stage.id == Deal.stage_id)
        .where(
            Stage.type == StageType.OPEN,
            _owner_filter(owner_ids),
            true() if deal_ids is None else Deal.id.in_(deal_ids),
        )
        .subquery("open_deals")
    )
    # Filtering on the computed flags, not on the signs themselves: PostgreSQL plans an OR of
    # the signs' subqueries three times slower (measured on the large demo org).
    any_flag = or_(*(open_deals.c[name] == 1 for name in RISK_FLAGS))
    flagged = [
        (row[0], row[1], tuple(row[2:]))
        for row in session.execute(select(open_deals).where(any_flag))
    ]
    by_flag = {name: sum(on[i] for _, _, on in flagged) for i, name in enumerate(RISK_FLAGS)}
    top = sorted(flagged, key=lambda deal: (-sum(deal[2]), -deal[1], deal[0]))[:limit]
    shown = {deal_id: on for deal_id, _, on in top}
    details = {
        row[0]: row
        for row in session.execute(
            select(
                Deal.id, Deal.name, User.name, Stage.name, Deal.amount_cents, Deal.close_date
            )
            .join(Stage, Stage.id == Deal.stage_id)
            .join(User, User.id == Deal.owner_id)
            .where(Deal.id.in_(list(shown)))
        )
    } if shown else {}  # fmt: skip
    deals = [
        AtRiskDeal(
            deal_id=deal_id,
            name=details[deal_id][1],
            owner_name=details[deal_id][2],
            stage_name=details[deal_id][3],
            amount_cents=details[deal_id][4],
            close_date=details[deal_id][5],
            flags=tuple(name for name, on in zip(RISK_FLAGS, shown[deal_id], strict=True) if on),
        )
        for deal_id, _, _ in top
    ]
    return DealsAtRisk(deals, len(flagged), by_flag)


# --- the pipeline board ----------------------------------------------------------------------


@dataclass(frozen=True)
class BoardCard:
    """An open deal as the pipeline board shows it."""

    deal_id: int
    name: str
    owner_name: str
    stage_id: int
    amount_cents: int
    close_date: date
    version: int


def board_cards(
    session: Session,
    *,
    owner_ids: Sequence[int] | None,
    pipeline_id: int,
    per_stage: int = 25,
    closing: CloseWindow = ANY_CLOSE,
) -> list[BoardCard]:
    """The largest `per_stage` open deals of each stage of `pipeline_id` (one query)."""
    rank = (
        func.row_number()
        .over(partition_by=Deal.stage_id, order_by=(Deal.amount_cents.desc(), Deal.id))
        .label("rank")
    )
    ranked = (
        select(Deal.id, rank)
        .join(Stage, Stage.id == Deal.stage_id)
        .where(
            Deal.pipeline_id == pipeline_id,
            Stage.type == StageType.OPEN,
            _owner_filter(owner_ids),
            closing.condition(),
        )
        .subquery("ranked")
    )
    stmt = (
        select(
            Deal.id, Deal.name, User.name, Deal.stage_id, Deal.amount_cents, Deal.close_date,
            Deal.version,
        )
        .join(ranked, ranked.c.id == Deal.id)
        .join(User, User.id == Deal.owner_id)
        .where(ranked.c.rank <= per_stage)
        .order_by(Deal.stage_id, Deal.amount_cents.desc(), Deal.id)
    )  # fmt: skip
    return [BoardCard(*row) for row in session.execute(stmt)]
