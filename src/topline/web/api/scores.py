"""Scores over HTTP: a deal's win probability and a lead's conversion probability with the
factors behind them, ICP fit of accounts and leads, and the scoring models with their
accuracy."""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Path, Query
from sqlalchemy import select

from topline import access
from topline.auth.enums import Role
from topline.clock import utcnow
from topline.crm.models import Account, Deal, Lead
from topline.scoring.icp import IcpView, account_icp, lead_icp
from topline.scoring.models import ScoringModel
from topline.scoring.schemas import (
    DealScoreRead,
    FactorsRead,
    IcpFactorRead,
    IcpFitRead,
    LeadScoreRead,
    ScoreModelRef,
    ScoringModelRead,
)
from topline.scoring.service import LEAD_TARGETS, deal_score, lead_score
from topline.types import MAX_ID
from topline.web.api.common import ApiUser, Cursor, Limit, Page, WithTotal, errors, paginate
from topline.web.deps import DbSession
from topline.web.routing import TransactionRoute

router = APIRouter(tags=["scores"], route_class=TransactionRoute)

DealId = Annotated[int, Path(ge=1, le=MAX_ID, description="Deal id.")]
LeadId = Annotated[int, Path(ge=1, le=MAX_ID, description="Lead id.")]
AccountId = Annotated[int, Path(ge=1, le=MAX_ID, description="Account id.")]


@router.get("/deals/{deal_id:int}/score", response_model=DealScoreRead, responses=errors(404))
def get_deal_score(session: DbSession, user: ApiUser, deal_id: DealId) -> DealScoreRead:
    """The deal's latest win probability, the factors pushing it up and down, and the model
    that gave it. 404 when the deal is not visible to the caller or was never scored."""
    deal = access.get_visible(session, Deal, deal_id, user)
    score = deal_score(session, deal)
    model = score.model
    return DealScoreRead(
        deal_id=score.deal_id,
        probability=score.probability,
        scored_at=score.scored_at,
        model=ScoreModelRef(
            id=model.id, version=model.version, method=model.method, trained_at=model.trained_at
        ),
        factors=FactorsRead.model_validate(score.factors),
    )


@router.get("/leads/{lead_id:int}/score", response_model=LeadScoreRead, responses=errors(404))
def get_lead_score(
    session: DbSession,
    user: ApiUser,
    lead_id: LeadId,
    target: Annotated[
        Literal["converted", "won"],
        Query(description="converted: converts within the horizon; won: into a won deal."),
    ] = "converted",
) -> LeadScoreRead:
    """The lead's latest probability of converting (or of converting into a won deal), the
    factors pushing it up and down, and the model that gave it. 404 when the lead is not
    visible to the caller or was never scored for that target."""
    lead = access.get_visible(session, Lead, lead_id, user)
    score = lead_score(session, lead, kind=LEAD_TARGETS[target])
    return LeadScoreRead(
        lead_id=score.lead_id,
        target=target,
        horizon_days=score.model.metrics.get("horizon_days"),
        probability=score.probability,
        scored_at=score.scored_at,
        model=_ref(score.model),
        factors=FactorsRead.model_validate(score.factors),
    )


@router.get("/accounts/{account_id:int}/icp", response_model=IcpFitRead, responses=errors(404, 409))
def get_account_icp(session: DbSession, user: ApiUser, account_id: AccountId) -> IcpFitRead:
    """How closely the account resembles the accounts that became customers (0–100), and the
    firmographic fields behind it. 404 when not visible; 409 when no account has won revenue."""
    account = access.get_visible(session, Account, account_id, user)
    return _icp(account_icp(session, account, as_of=utcnow()))


@router.get("/leads/{lead_id:int}/icp", response_model=IcpFitRead, responses=errors(404, 409))
def get_lead_icp(session: DbSession, user: ApiUser, lead_id: LeadId) -> IcpFitRead:
    """The ICP fit of the lead's company: its account's where linked (converted into, or an
    account with its company domain), else from the lead's own firmographics."""
    lead = access.get_visible(session, Lead, lead_id, user)
    return _icp(lead_icp(session, lead, as_of=utcnow()))


def _icp(view: IcpView) -> IcpFitRead:
    return IcpFitRead(
        account_id=view.account_id,
        lead_id=view.lead_id,
        fit=view.result.fit,
        as_of=view.as_of,
        customers=view.model.customers,
        accounts=view.model.accounts,
        factors=[
            IcpFactorRead(
                field=f.field,
                value=f.value,
                lift=round(f.lift, 4),
                points=round(f.points, 2),
                text=f.text,
            )
            for f in view.result.factors
        ],
    )


def _ref(model: ScoringModel) -> ScoreModelRef:
    return ScoreModelRef(
        id=model.id, version=model.version, method=model.method, trained_at=model.trained_at
    )


@router.get("/scoring/models", response_model=Page[ScoringModelRead], responses=errors(403, 404))
def list_scoring_models(
    session: DbSession,
    user: ApiUser,
    kind: Annotated[
        Literal["deal_win", "lead_conversion", "lead_won"] | None,
        Query(description="What they predict."),
    ] = None,
    cursor: Cursor = None,
    limit: Limit = 50,
    with_total: WithTotal = True,
) -> Page[ScoringModelRead]:
    """The trained scoring models, newest first, with their data window, accuracy on the
    snapshots they were tested on, and what they learn most from. Admins and managers only."""
    access.require_role(user, Role.ADMIN, Role.MANAGER)
    stmt = select(ScoringModel)
    if kind is not None:
        stmt = stmt.where(ScoringModel.kind == kind)
    rows, next_cursor, total = paginate(
        session,
        stmt,
        sort_column=ScoringModel.id,
        id_column=ScoringModel.id,
        descending=True,
        cursor=cursor,
        limit=limit,
        with_total=with_total,
    )
    return Page[ScoringModelRead](
        items=[ScoringModelRead.model_validate(model) for model in rows],
        next_cursor=next_cursor,
        total=total,
    )
