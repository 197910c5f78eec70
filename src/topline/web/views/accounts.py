"""Accounts: the list the viewer may see, and an account's page with its ICP fit, buying
committee, deals and recent activities."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Path, Query, Request
from fastapi.responses import HTMLResponse
from sqlalchemy import func, select

from topline import access
from topline.auth.models import User
from topline.clock import utcnow
from topline.crm.enums import StageType
from topline.crm.models import Account, Activity, Contact, Deal, Stage
from topline.scoring.errors import NoCustomersYet
from topline.scoring.icp import account_icp
from topline.storage.sql import names_by_id
from topline.types import MAX_ID
from topline.web.deps import CurrentUser, DbSession
from topline.web.routing import TransactionRoute
from topline.web.templating import templates

router = APIRouter(route_class=TransactionRoute)

PAGE_SIZE = 100
RECENT_ACTIVITIES = 20


@router.get("/accounts", response_class=HTMLResponse)
def accounts_page(
    request: Request,
    session: DbSession,
    user: CurrentUser,
    q: Annotated[str | None, Query(max_length=100)] = None,
) -> HTMLResponse:
    """The accounts the viewer may see, by name, with their open pipeline and won amount."""
    stmt = access.scoped(select(Account), Account, user)
    if q and q.strip():
        stmt = stmt.where(Account.name.icontains(q.strip(), autoescape=True))
    accounts = list(session.scalars(stmt.order_by(Account.name, Account.id).limit(PAGE_SIZE)))
    ids = [account.id for account in accounts]
    totals: dict[int, dict[str, int]] = {account_id: {"open": 0, "won": 0} for account_id in ids}
    if ids:
        sums = session.execute(
            select(Deal.account_id, Stage.type, func.sum(Deal.amount_cents))
            .join(Stage, Stage.id == Deal.stage_id)
            .where(Deal.account_id.in_(ids), Stage.type.in_([StageType.OPEN, StageType.WON]))
            .group_by(Deal.account_id, Stage.type)
        )
        for account_id, kind, cents in sums:
            if account_id is None:
                continue
            totals[account_id]["open" if kind == StageType.OPEN else "won"] = int(cents or 0)
    owners = names_by_id(session, User, {a.owner_id for a in accounts})
    context: dict[str, Any] = {
        "accounts": accounts, "totals": totals, "owners": owners, "query": q or "",
        "more": len(accounts) == PAGE_SIZE,
    }  # fmt: skip
    return templates.TemplateResponse(request, "crm/accounts.html", context)


@router.get("/accounts/{account_id}", response_class=HTMLResponse)
def account_page(
    request: Request,
    session: DbSession,
    user: CurrentUser,
    account_id: Annotated[int, Path(ge=1, le=MAX_ID)],
) -> HTMLResponse:
    """One account the viewer may see (else 404)."""
    account = access.get_visible(session, Account, account_id, user)
    contacts = list(
        session.scalars(
            access.scoped(select(Contact), Contact, user)
            .where(Contact.account_id == account.id)
            .order_by(Contact.last_name, Contact.first_name, Contact.id)
        )
    )
    deals = session.execute(
        access.scoped(select(Deal), Deal, user)
        .add_columns(Stage.name, Stage.type)
        .join(Stage, Stage.id == Deal.stage_id)
        .where(Deal.account_id == account.id)
        .order_by(Deal.close_date.desc(), Deal.id.desc())
    ).all()
    activities = session.execute(
        access.scoped(select(Activity), Activity, user)
        .add_columns(User.name)
        .join(User, User.id == Activity.user_id)
        .where(Activity.account_id == account.id)
        .order_by(Activity.occurred_at.desc(), Activity.id.desc())
        .limit(RECENT_ACTIVITIES)
    ).all()
    try:
        icp = account_icp(session, account, as_of=utcnow()).result
    except NoCustomersYet:
        icp = None
    roles = sorted({c.buying_role.value for c in contacts if c.buying_role})
    context: dict[str, Any] = {
        "account": account,
        "owner": names_by_id(session, User, [account.owner_id]).get(
            account.owner_id or 0, "Nobody"
        ),
        "contacts": contacts,
        "deals": deals,
        "activities": activities,
        "icp": icp,
        "roles": roles,
        "missing_roles": [r for r in ("decision_maker", "champion") if r not in roles],
    }
    return templates.TemplateResponse(request, "crm/account.html", context)
