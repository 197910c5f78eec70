"""API tokens: the signed-in person's own (create one, shown once; see them; revoke one), and
for admins everyone's, to revoke any of them.

Everyone, reps included, manages their own tokens at /settings/tokens; admins see and revoke
everyone's at /admin/tokens.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Form, Path, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from pydantic import ValidationError
from sqlalchemy import or_, select
from sqlalchemy.orm import Session

from topline import access
from topline.auth.enums import Role
from topline.auth.models import ApiToken, User
from topline.auth.schemas import TokenCreate, TokenCreated
from topline.auth.tokens import TokenNotFound
from topline.clock import utcnow
from topline.errors import ToplineError
from topline.types import MAX_ID
from topline.web.api.tokens import issue_token, withdraw_token
from topline.web.deps import CurrentUser, DbSession
from topline.web.routing import TransactionRoute
from topline.web.views.admin_forms import AdminForm, render
from topline.web.views.common import Blank

router = APIRouter(route_class=TransactionRoute)

SHOWN = 100
LIFETIMES = (("", "Never"), ("30", "In 30 days"), ("90", "In 90 days"), ("365", "In a year"))
MESSAGES = {
    "name": "Say what the token is for, such as “CRM sync” (up to 100 characters).",
    "expires_in_days": "Pick when the token stops working.",
}


@router.get("/settings/tokens", response_class=HTMLResponse)
def tokens_page(
    request: Request,
    session: DbSession,
    user: CurrentUser,
    revoked: Annotated[int | None, Query(ge=1, le=MAX_ID)] = None,
) -> HTMLResponse:
    """The viewer's own API tokens, newest first."""
    return _render(request, session, user, AdminForm({"expires_in_days": "90"}), revoked=revoked)


@router.post("/settings/tokens", response_class=HTMLResponse)
def create_token_page(
    request: Request,
    session: DbSession,
    user: CurrentUser,
    name: Annotated[str, Form(max_length=1000)] = "",
    expires_in_days: Annotated[str, Form(max_length=10)] = "",
) -> HTMLResponse:
    """A new token for the viewer, shown on this page only: it is stored as a hash."""
    form = AdminForm({"name": name, "expires_in_days": expires_in_days})
    days = int(expires_in_days) if expires_in_days.isdigit() else expires_in_days or None
    try:
        body = TokenCreate.model_validate({"name": name, "expires_in_days": days})
    except ValidationError as error:
        form.invalid(error, MESSAGES)
        return _render(request, session, user, form, status_code=422)
    try:
        created = issue_token(session, user, body)
    except ToplineError as error:
        form.refuse(error, ("name",))
        return _render(request, session, user, form, status_code=form.status_code)
    fresh = AdminForm({"expires_in_days": "90"})
    page = _render(request, session, user, fresh, created=created, status_code=201)
    # The page holds the token itself: no cache keeps a copy of it.
    page.headers["Cache-Control"] = "no-store"
    return page


@router.post("/settings/tokens/{token_id}/revoke", response_class=HTMLResponse)
def revoke_token_page(
    session: DbSession,
    user: CurrentUser,
    token_id: Annotated[int, Path(ge=1, le=MAX_ID)],
) -> Response:
    """Revoke one of the viewer's own tokens: it stops working at once."""
    token = session.get(ApiToken, token_id)
    if token is None or token.user_id != user.id:
        # This page is one's own tokens; admins revoke other people's at /admin/tokens.
        raise TokenNotFound(f"token {token_id} not found")
    withdraw_token(session, user, token_id)
    return RedirectResponse(f"/settings/tokens?revoked={token_id}", status_code=303)


def _render(
    request: Request,
    session: Session,
    viewer: User,
    form: AdminForm,
    *,
    created: TokenCreated | None = None,
    revoked: int | None = None,
    status_code: int = 200,
) -> HTMLResponse:
    tokens = list(
        session.scalars(
            select(ApiToken)
            .where(ApiToken.user_id == viewer.id)
            .order_by(ApiToken.created_at.desc(), ApiToken.id.desc())
            .limit(SHOWN)
        )
    )
    context: dict[str, Any] = {
        "tokens": tokens,
        "created": created,
        "revoked": next((t for t in tokens if t.id == revoked), None) if revoked else None,
        "now": utcnow(),
        "form": form,
        "lifetimes": LIFETIMES,
    }
    return render(request, "admin/tokens.html", context, status_code)


# --- everyone's tokens (admins) --------------------------------------------------------------

ALL_SHOWN = 200
TOKEN_STATES = (("active", "Working"), ("revoked", "Revoked"), ("all", "All"))
TokenState = Literal["active", "revoked", "all"]


@router.get("/admin/tokens", response_class=HTMLResponse)
def all_tokens_page(
    request: Request,
    session: DbSession,
    user: CurrentUser,
    person: Annotated[int | None, Query(ge=1, le=MAX_ID), Blank] = None,
    state: TokenState = "active",
    revoked: Annotated[int | None, Query(ge=1, le=MAX_ID)] = None,
) -> HTMLResponse:
    """Everyone's API tokens (admins): who holds which, when each was last used, and a button
    to revoke any of them at once, say when someone leaves or a token leaks."""
    access.require_role(user, Role.ADMIN)
    now = utcnow()
    stmt = select(ApiToken, User.name).join(User, User.id == ApiToken.user_id)
    if person is not None:
        stmt = stmt.where(ApiToken.user_id == person)
    if state == "active":
        stmt = stmt.where(
            ApiToken.revoked_at.is_(None),
            or_(ApiToken.expires_at.is_(None), ApiToken.expires_at > now),
        )
    elif state == "revoked":
        stmt = stmt.where(ApiToken.revoked_at.is_not(None))
    rows = session.execute(
        stmt.order_by(ApiToken.created_at.desc(), ApiToken.id.desc()).limit(ALL_SHOWN + 1)
    ).all()
    holders = session.execute(
        select(User.id, User.name)
        .where(User.id.in_(select(ApiToken.user_id).distinct()))
        .order_by(User.name, User.id)
    ).all()
    context: dict[str, Any] = {
        "rows": rows[:ALL_SHOWN],
        "more": len(rows) > ALL_SHOWN,
        "shown": ALL_SHOWN,
        "holders": holders,
        "person": person,
        "state": state,
        "states": TOKEN_STATES,
        "revoked": session.get(ApiToken, revoked) if revoked else None,
        "now": now,
    }
    return render(request, "admin/all_tokens.html", context)


@router.post("/admin/tokens/{token_id}/revoke", response_class=HTMLResponse)
def revoke_any_token_page(
    session: DbSession,
    user: CurrentUser,
    token_id: Annotated[int, Path(ge=1, le=MAX_ID)],
) -> Response:
    """Revoke anyone's token (admins): it stops working at once; the audit log records it."""
    access.require_role(user, Role.ADMIN)
    withdraw_token(session, user, token_id)
    return RedirectResponse(f"/admin/tokens?revoked={token_id}", status_code=303)
