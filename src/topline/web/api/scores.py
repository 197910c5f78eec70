"""Win probability over HTTP: a deal's latest score with the factors behind it, and the
scoring models with their accuracy."""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Path, Query
from sqlalchemy import select

from topline import access
from topline.auth.enums import Role
from topline.crm.models import Deal
from topline.scoring.models import ScoringModel
from topline.scoring.schemas import DealScoreRead, FactorsRead, ScoreModelRef, ScoringModelRead
from topline.scoring.service import deal_score
from topline.types import MAX_ID
from topline.web.api.common import ApiUser, Cursor, Limit, Page, WithTotal, errors, paginate
from topline.web.deps import DbSession
from topline.web.routing import TransactionRoute

router = APIRouter(tags=["scores"], route_class=TransactionRoute)

DealId = Annotated[int, Path(ge=1, le=MAX_ID, description="Deal id.")]


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


@router.get("/scoring/models", response_model=Page[ScoringModelRead], responses=errors(403, 404))
def list_scoring_models(
    session: DbSession,
    user: ApiUser,
    kind: Annotated[Literal["deal_win"] | None, Query(description="What they predict.")] = None,
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
