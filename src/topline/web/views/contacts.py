"""Contacts: the people at the accounts the viewer may see, searchable by name or email and
filtered by buying-committee role or account, and a contact's page with their account's deals
and the activities with them."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any
from urllib.parse import urlencode

from fastapi import APIRouter, Path, Query, Request
from fastapi.responses import HTMLResponse
from sqlalchemy import Select, case, func, or_, select
from sqlalchemy.orm import Session, joinedload

from topline import access
from topline.auth.models import User
from topline.clock import utcnow
from topline.crm.enums import BuyingRole
from topline.crm.models import Account, Activity, Contact, Deal, Stage
from topline.errors import InvalidInput
from topline.storage.sql import names_by_id
from topline.types import MAX_ID
from topline.web.api.common import paginate
from topline.web.deps import CurrentUser, DbSession
from topline.web.routing import TransactionRoute
from topline.web.templating import templates

router = APIRouter(route_class=TransactionRoute)

PAGE_SIZE = 100
RECENT_ACTIVITIES = 50
Words = Annotated[str | None, Query(max_length=100)]


@router.get("/contacts", response_class=HTMLResponse)
def contacts_page(
    request: Request,
    session: DbSession,
    user: CurrentUser,
    q: Words = None,
    role: Annotated[str | None, Query(max_length=32)] = None,
    account: Words = None,
    account_id: Annotated[int | None, Query(ge=1, le=MAX_ID)] = None,
    cursor: Annotated[str | None, Query(max_length=200)] = None,
) -> HTMLResponse:
    """One page of the contacts the viewer may see, by last name, filtered."""
    words = q.strip() if q and q.strip() else None
    kind = _buying_role(role)
    account_words = account.strip() if account and account.strip() else None
    stmt = _contacts_query(
        user, words=words, role=kind, account_words=account_words, account_id=account_id
    )
    rows, next_cursor, total = paginate(
        session, stmt, sort_column=Contact.last_name, id_column=Contact.id, descending=False,
        cursor=cursor, limit=PAGE_SIZE, with_total=True, mappings=True,
    )  # fmt: skip
    given = {
        "q": words, "role": kind.value if kind else None, "account": account_words,
        "account_id": account_id,
    }  # fmt: skip
    kept = {key: value for key, value in given.items() if value is not None}
    context: dict[str, Any] = {
        "contacts": rows,
        "total": total,
        "filters": given,
        "filtered": bool(kept),
        "owners": names_by_id(session, User, {row["account_owner_id"] for row in rows}),
        "last_touch": _last_touches(session, user, [row["id"] for row in rows]),
        "roles": [kind.value for kind in BuyingRole],
        "account_name": _account_name(session, user, account_id),
        "without_account_link": _link({k: v for k, v in kept.items() if k != "account_id"}),
        "next_link": _link({**kept, "cursor": next_cursor}) if next_cursor else None,
        "first_link": None if cursor is None else _link(kept),
    }
    return templates.TemplateResponse(request, "crm/contacts.html", context)


# Made once so that the statement that loads the contact is reused (`access.get_visible`).
_WITH_ACCOUNT = (joinedload(Contact.account),)


@router.get("/contacts/{contact_id}", response_class=HTMLResponse)
def contact_page(
    request: Request,
    session: DbSession,
    user: CurrentUser,
    contact_id: Annotated[int, Path(ge=1, le=MAX_ID)],
) -> HTMLResponse:
    """One contact the viewer may see (else 404), with their account's deals and their
    activities."""
    # A contact is visible only through their account, so the account is visible too.
    contact = access.get_visible(session, Contact, contact_id, user, options=_WITH_ACCOUNT)
    account = contact.account
    deals = session.execute(
        access.scoped(select(Deal), Deal, user)
        .add_columns(Stage.name, Stage.type)
        .join(Stage, Stage.id == Deal.stage_id)
        .where(or_(Deal.account_id == account.id, Deal.contact_id == contact.id))
        # The deals the contact is the main contact of come first.
        .order_by(
            case((Deal.contact_id == contact.id, 0), else_=1),
            Deal.close_date.desc(),
            Deal.id.desc(),
        )
    ).all()
    activities = session.execute(
        access.scoped(select(Activity), Activity, user)
        .add_columns(User.name)
        .join(User, User.id == Activity.user_id)
        .where(Activity.contact_id == contact.id)
        .order_by(Activity.occurred_at.desc(), Activity.id.desc())
        .limit(RECENT_ACTIVITIES)
    ).all()
    context: dict[str, Any] = {
        "contact": contact,
        "account": account,
        "owner": names_by_id(session, User, [account.owner_id]).get(account.owner_id or 0),
        "deals": deals,
        # Activities name a deal by link only when the viewer may see it (it is listed here).
        "deal_names": {deal.id: deal.name for deal, _, _ in deals},
        "activities": activities,
        "bounded": len(activities) == RECENT_ACTIVITIES,
    }
    return templates.TemplateResponse(request, "crm/contact.html", context)


def _contacts_query(
    user: User,
    *,
    words: str | None,
    role: BuyingRole | None,
    account_words: str | None,
    account_id: int | None,
) -> Select[Any]:
    """The contacts' columns with their account's name and owner, in the viewer's scope."""
    stmt = access.scoped(
        select(
            Contact.__table__,
            Account.name.label("account_name"),
            Account.owner_id.label("account_owner_id"),
        ).join(Account, Account.id == Contact.account_id),
        Contact,
        user,
    )
    if words is not None:
        stmt = stmt.where(
            or_(
                (Contact.first_name + " " + Contact.last_name).icontains(words, autoescape=True),
                Contact.email.icontains(words, autoescape=True),
            )
        )
    if role is not None:
        stmt = stmt.where(Contact.buying_role == role)
    if account_words is not None:
        stmt = stmt.where(Account.name.icontains(account_words, autoescape=True))
    if account_id is not None:
        stmt = stmt.where(Contact.account_id == account_id)
    return stmt


def _last_touches(session: Session, user: User, contact_ids: list[int]) -> dict[int, datetime]:
    """When each contact was last touched, among the activities the viewer may see (one
    query)."""
    if not contact_ids:
        return {}
    rows = session.execute(
        access.scoped(select(Activity.contact_id), Activity, user)
        .add_columns(func.max(Activity.occurred_at))
        # Planned calls and meetings are not touches yet.
        .where(Activity.contact_id.in_(contact_ids), Activity.occurred_at <= utcnow())
        .group_by(Activity.contact_id)
    )
    return {row[0]: row[1] for row in rows if row[0] is not None}


def _buying_role(value: str | None) -> BuyingRole | None:
    """The role the list is filtered by; the form's "Any" sends an empty value."""
    if not value:
        return None
    try:
        return BuyingRole(value)
    except ValueError:
        roles = ", ".join(kind.value for kind in BuyingRole)
        raise InvalidInput(f"role must be one of {roles}") from None


def _account_name(session: Session, user: User, account_id: int | None) -> str | None:
    """The name of the account the list is narrowed to, if the viewer may see it."""
    if account_id is None:
        return None
    stmt = access.scoped(select(Account.name), Account, user).where(Account.id == account_id)
    name: str | None = session.scalar(stmt)
    return name


def _link(params: dict[str, Any]) -> str:
    return f"/contacts?{urlencode(params)}" if params else "/contacts"
