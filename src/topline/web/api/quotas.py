"""Quotas over HTTP: the bookings targets in the caller's scope; managers and admins set them."""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Query, Response, status
from sqlalchemy import select
from sqlalchemy.orm import Session

from topline import access
from topline.auth.enums import Role
from topline.auth.models import Team, User
from topline.auth.service import referenced_team
from topline.errors import PermissionDenied
from topline.quotas import service as quota_service
from topline.quotas.models import Quota
from topline.quotas.schemas import QuotaRead, QuotaSet, TeamQuotaSet, UserQuotaSet
from topline.types import MAX_ID, IsoDate
from topline.web.api.common import ApiUser, Cursor, Limit, Page, WithTotal, audit, errors, paginate
from topline.web.deps import DbSession
from topline.web.routing import TransactionRoute

router = APIRouter(prefix="/quotas", tags=["quotas"], route_class=TransactionRoute)

QuotaSort = Literal["period_start", "-period_start", "amount_cents", "-amount_cents", "id", "-id"]
SORT_COLUMNS = {
    "period_start": Quota.period_start,
    "amount_cents": Quota.amount_cents,
    "id": Quota.id,
}


@router.get("", response_model=Page[QuotaRead], responses=errors(404))
def list_quotas(
    session: DbSession,
    user: ApiUser,
    user_id: Annotated[int | None, Query(ge=1, le=MAX_ID)] = None,
    team_id: Annotated[int | None, Query(ge=1, le=MAX_ID)] = None,
    period_from: Annotated[
        IsoDate | None, Query(description="Quotas whose period ends after this day.")
    ] = None,
    period_to: Annotated[
        IsoDate | None, Query(description="Quotas whose period starts on or before this day.")
    ] = None,
    sort: QuotaSort = "period_start",
    cursor: Cursor = None,
    limit: Limit = 50,
    with_total: WithTotal = True,
) -> Page[QuotaRead]:
    """Quotas the caller may see: their own, their reporting subtree's and their teams'.

    `period_from`/`period_to` keep the quotas whose period overlaps those days (both included).
    """
    stmt = access.scoped(select(Quota), Quota, user)
    if user_id is not None:
        stmt = stmt.where(Quota.user_id == user_id)
    if team_id is not None:
        stmt = stmt.where(Quota.team_id == team_id)
    if period_from is not None:
        stmt = stmt.where(Quota.period_end > period_from)
    if period_to is not None:
        stmt = stmt.where(Quota.period_start <= period_to)
    rows, next_cursor, total = paginate(
        session,
        stmt,
        sort_column=SORT_COLUMNS[sort.lstrip("-")],
        id_column=Quota.id,
        descending=sort.startswith("-"),
        cursor=cursor,
        limit=limit,
        with_total=with_total,
    )
    return Page[QuotaRead](
        items=[QuotaRead.model_validate(q) for q in rows], next_cursor=next_cursor, total=total
    )


@router.post(
    "",
    response_model=QuotaRead,
    responses={
        201: {"model": QuotaRead, "description": "Set for the first time"},
        **errors(403, 404, 409),
    },
)
def set_quota(session: DbSession, user: ApiUser, body: QuotaSet, response: Response) -> QuotaRead:
    """Set the quota of a rep or a team for whole months: 201 when new, 200 when replaced.

    A quota with the same owner and first month is replaced in place. Admins set any quota;
    managers those of the people strictly below them and of the teams led by them or by
    someone below them; reps none. An owner the caller cannot see is 404.
    """
    after, created = put_quota(session, user, body)
    if created:
        response.status_code = status.HTTP_201_CREATED
    return after


def put_quota(
    session: Session, actor: User, body: UserQuotaSet | TeamQuotaSet
) -> tuple[QuotaRead, bool]:
    """Set a quota the actor may set and record it in the audit log (the API's and pages'
    write). Returns the quota and whether it is new (rather than replaced)."""
    if actor.role == Role.REP:
        raise PermissionDenied("reps cannot set quotas; ask your manager")
    owner: User | None = None
    team: Team | None = None
    if isinstance(body, UserQuotaSet):
        owner = access.resolve_user(session, actor, body.user_id, field="user_id")
    else:
        team = referenced_team(session, body.team_id, field="team_id")
    quota_service.require_quota_setter(session, actor, user=owner, team=team)
    existing = quota_service.find_quota(
        session, period_start=body.period_start, user=owner, team=team
    )
    before = QuotaRead.model_validate(existing) if existing is not None else None
    quota = quota_service.set_quota(
        session,
        amount_cents=body.amount_cents,
        period_start=body.period_start,
        period_end=body.period_end,
        user=owner,
        team=team,
    )
    after = QuotaRead.model_validate(quota)
    if after != before:
        audit(
            session, actor, action="set" if before is None else "update", entity="quota",
            entity_id=quota.id, before=before, after=after,
        )  # fmt: skip
    return after, before is None
