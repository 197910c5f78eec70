"""Personal API tokens over HTTP: create (shown once), list, revoke."""

from __future__ import annotations

from datetime import timedelta
from typing import Annotated, Literal

from fastapi import APIRouter, Path, Query, Response, status
from sqlalchemy import select
from sqlalchemy.orm import Session

from topline.auth import tokens as token_service
from topline.auth.enums import Role
from topline.auth.models import ApiToken, User
from topline.auth.schemas import TokenCreate, TokenCreated, TokenRead
from topline.clock import utcnow
from topline.types import MAX_ID
from topline.web.api.common import ApiUser, Cursor, Limit, Page, WithTotal, audit, errors, paginate
from topline.web.deps import DbSession
from topline.web.routing import TransactionRoute

router = APIRouter(prefix="/tokens", tags=["tokens"], route_class=TransactionRoute)

TokenId = Annotated[int, Path(ge=1, le=MAX_ID, description="Token id.")]
TokenSort = Literal["created_at", "-created_at", "id", "-id"]
SORT_COLUMNS = {"created_at": ApiToken.created_at, "id": ApiToken.id}


@router.post(
    "", response_model=TokenCreated, status_code=status.HTTP_201_CREATED, responses=errors()
)
def create_token(session: DbSession, user: ApiUser, body: TokenCreate) -> TokenCreated:
    """A new personal API token for the caller.

    The response holds the token itself. It is shown this once and stored only as a hash.
    """
    return issue_token(session, user, body)


@router.get("", response_model=Page[TokenRead], responses=errors(404))
def list_tokens(
    session: DbSession,
    user: ApiUser,
    user_id: Annotated[
        int | None, Query(ge=1, le=MAX_ID, description="Tokens of this person (admins).")
    ] = None,
    revoked: Annotated[bool | None, Query(description="Only revoked (or unrevoked).")] = None,
    sort: TokenSort = "-created_at",
    cursor: Cursor = None,
    limit: Limit = 50,
    with_total: WithTotal = True,
) -> Page[TokenRead]:
    """The caller's own tokens; an admin sees everyone's. Tokens themselves are never shown."""
    stmt = select(ApiToken)
    if user.role != Role.ADMIN:
        stmt = stmt.where(ApiToken.user_id == user.id)
    if user_id is not None:
        stmt = stmt.where(ApiToken.user_id == user_id)
    if revoked is not None:
        column = ApiToken.revoked_at
        stmt = stmt.where(column.is_not(None) if revoked else column.is_(None))
    rows, next_cursor, total = paginate(
        session,
        stmt,
        sort_column=SORT_COLUMNS[sort.lstrip("-")],
        id_column=ApiToken.id,
        descending=sort.startswith("-"),
        cursor=cursor,
        limit=limit,
        with_total=with_total,
    )
    return Page[TokenRead](
        items=[TokenRead.model_validate(t) for t in rows], next_cursor=next_cursor, total=total
    )


@router.delete(
    "/{token_id:int}",
    status_code=status.HTTP_204_NO_CONTENT,
    response_class=Response,
    responses=errors(404),
)
def revoke_token(session: DbSession, user: ApiUser, token_id: TokenId) -> Response:
    """Revoke a token: it stops working from the very next request.

    People revoke their own tokens, admins anyone's. Revoking a revoked token changes nothing.
    """
    withdraw_token(session, user, token_id)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


def issue_token(session: Session, actor: User, body: TokenCreate) -> TokenCreated:
    """A new personal API token for the actor, recorded in the audit log (the API's and pages'
    write). The plain token is in the answer only."""
    now = utcnow()
    expires_at = now + timedelta(days=body.expires_in_days) if body.expires_in_days else None
    token, plain = token_service.create_token(
        session, user=actor, name=body.name, expires_at=expires_at, at=now
    )
    shown = TokenRead.model_validate(token)
    # The audit trail records the token's prefix and metadata, never the token itself.
    audit(session, actor, action="create", entity="api_token", entity_id=token.id, after=shown)
    return TokenCreated(**shown.model_dump(), token=plain)


def withdraw_token(session: Session, actor: User, token_id: int) -> TokenRead:
    """Revoke a token the actor may revoke, recorded in the audit log when it changed (the
    API's and pages' write)."""
    existing = session.get(ApiToken, token_id)
    before = TokenRead.model_validate(existing) if existing is not None else None
    token = token_service.revoke_token(session, token_id, actor=actor)
    after = TokenRead.model_validate(token)
    if after != before:
        audit(
            session, actor, action="revoke", entity="api_token", entity_id=token.id,
            before=before, after=after,
        )  # fmt: skip
    return after
