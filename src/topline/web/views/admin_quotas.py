"""Quotas: the bookings targets of the people and teams in the viewer's scope, newest period
first, and setting one for a month, a quarter, a half or a year.

Admins set any quota; managers those of the people strictly below them and of the teams led by
them or someone below them (the API's rule, `quotas.service.require_quota_setter`).
"""

from __future__ import annotations

from datetime import timedelta
from typing import Annotated, Any
from urllib.parse import urlencode

from fastapi import APIRouter, Form, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from pydantic import ValidationError
from sqlalchemy import select
from sqlalchemy.orm import Session

from topline import access
from topline.auth.enums import Role
from topline.auth.models import Team, User
from topline.auth.service import visible_user_ids
from topline.clock import utcnow
from topline.errors import ToplineError
from topline.quotas.models import Quota
from topline.quotas.schemas import TeamQuotaSet, UserQuotaSet
from topline.storage.sql import names_by_id
from topline.types import MAX_ID
from topline.web.api.common import paginate
from topline.web.api.quotas import put_quota
from topline.web.deps import CurrentUser, DbSession
from topline.web.routing import TransactionRoute
from topline.web.views.admin_forms import PAGE_SIZE, AdminForm, parse_cents, render, require_staff

router = APIRouter(route_class=TransactionRoute)

FIELDS = ("owner", "start_month", "months", "amount")
ALIASES = {"user_id": "owner", "team_id": "owner", "period_start": "start_month"}
LENGTHS = (("1", "A month"), ("3", "A quarter"), ("6", "Half a year"), ("12", "A year"))
MESSAGES = {
    "start_month": "Enter the first month as YYYY-MM, such as 2025-07.",
    "months": "Pick how long the period lasts.",
    "amount_cents": "Enter an amount of zero or more dollars.",
}
Owner = Annotated[str | None, Query(max_length=40, pattern=r"^(user|team):[0-9]{1,16}$")]


@router.get("/admin/quotas", response_class=HTMLResponse)
def quotas_page(
    request: Request,
    session: DbSession,
    user: CurrentUser,
    owner: Owner = None,
    cursor: Annotated[str | None, Query(max_length=500)] = None,
    saved: Annotated[int | None, Query(ge=1, le=MAX_ID)] = None,
) -> HTMLResponse:
    """The quotas the viewer may see, newest period first; one owner's with `owner`."""
    require_staff(user)
    form = AdminForm({"months": "3", "owner": owner or ""})
    return _render(request, session, user, form, owner=owner, cursor=cursor, saved=saved)


@router.post("/admin/quotas", response_class=HTMLResponse, response_model=None)
def set_quota_page(
    request: Request,
    session: DbSession,
    user: CurrentUser,
    owner: Annotated[str, Form(max_length=40)] = "",
    start_month: Annotated[str, Form(max_length=40)] = "",
    months: Annotated[str, Form(max_length=5)] = "",
    amount: Annotated[str, Form(max_length=40)] = "",
) -> Response:
    """Set (or replace) a quota the viewer may set; a refusal keeps what was typed."""
    require_staff(user)
    form = AdminForm(
        {"owner": owner, "start_month": start_month, "months": months, "amount": amount}
    )
    kind, _, owner_id = owner.partition(":")
    if kind not in ("user", "team") or not owner_id.isdigit() or not 1 <= int(owner_id) <= MAX_ID:
        form.errors["owner"] = "Pick the person or team the quota is for."
    cents = parse_cents(form, "amount")
    body: UserQuotaSet | TeamQuotaSet | None = None
    if not form.failed:
        values: dict[str, Any] = {
            f"{kind}_id": int(owner_id),
            "start_month": start_month.strip(),
            "months": int(months) if months.isdigit() else months,
            "amount_cents": cents,
        }
        try:
            shape = UserQuotaSet if kind == "user" else TeamQuotaSet
            body = shape.model_validate(values)
        except ValidationError as error:
            form.invalid(error, MESSAGES)
            if "amount_cents" in form.errors:
                form.errors["amount"] = form.errors.pop("amount_cents")
    if body is not None and not form.failed:
        try:
            quota, _created = put_quota(session, user, body)
        except ToplineError as error:
            form.refuse(error, FIELDS, ALIASES)
        else:
            return RedirectResponse(f"/admin/quotas?saved={quota.id}", status_code=303)
    return _render(request, session, user, form, status_code=form.status_code)


def _render(
    request: Request,
    session: Session,
    viewer: User,
    form: AdminForm,
    *,
    owner: str | None = None,
    cursor: str | None = None,
    saved: int | None = None,
    status_code: int = 200,
) -> HTMLResponse:
    stmt = access.scoped(select(Quota), Quota, viewer)
    if owner:
        kind, _, owner_id = owner.partition(":")
        column = Quota.user_id if kind == "user" else Quota.team_id
        stmt = stmt.where(column == int(owner_id))
    quotas, next_cursor, total = paginate(
        session, stmt, sort_column=Quota.period_start, id_column=Quota.id, descending=True,
        cursor=cursor, limit=PAGE_SIZE, with_total=True,
    )  # fmt: skip
    people = names_by_id(session, User, {quota.user_id for quota in quotas})
    teams = names_by_id(session, Team, {quota.team_id for quota in quotas})
    choices = _owner_choices(session, viewer)
    context: dict[str, Any] = {
        "quotas": quotas,
        "total": total,
        "people": people,
        "teams": teams,
        "last_day": lambda quota: quota.period_end - timedelta(days=1),
        "months_of": _months,
        "owner": owner or "",
        "filter_choices": choices,
        "owner_choices": [(value, label) for value, label, settable in choices if settable],
        "lengths": LENGTHS,
        "next_link": _next(owner, next_cursor),
        "first_page": cursor is None,
        "saved": next((q for q in quotas if q.id == saved), None) if saved else None,
        "form": form,
        "this_month": utcnow().strftime("%Y-%m"),
    }
    return render(request, "admin/quotas.html", context, status_code)


def _owner_choices(session: Session, viewer: User) -> list[tuple[str, str, bool]]:
    """People and teams whose quotas the viewer may see: (value, label, may set it).

    A manager sees their own quota but sets only those strictly below them, and the teams
    led by them or someone below them (two queries).
    """
    scope = visible_user_ids(session, viewer)
    people = select(User.id, User.name, User.active).order_by(User.name, User.id)
    teams = select(Team.id, Team.name).order_by(Team.name, Team.id)
    if scope is not None:
        people = people.where(User.id.in_(scope))
        teams = teams.where(Team.manager_id.in_(scope))
    admin = viewer.role == Role.ADMIN
    choices = [
        (f"user:{row.id}", row.name + ("" if row.active else " (left)"),
         row.active and (admin or row.id != viewer.id))
        for row in session.execute(people)
    ]  # fmt: skip
    choices += [(f"team:{row.id}", f"Team {row.name}", True) for row in session.execute(teams)]
    return choices


def _months(quota: Quota) -> int:
    start, end = quota.period_start, quota.period_end
    return (end.year - start.year) * 12 + end.month - start.month


def _next(owner: str | None, cursor: str | None) -> str | None:
    if cursor is None:
        return None
    query = {"owner": owner, "cursor": cursor} if owner else {"cursor": cursor}
    return f"/admin/quotas?{urlencode(query)}"
