"""Contacts over HTTP: the people at accounts and their part in the buying committee."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Path, Query, Response, status
from sqlalchemy import Select, or_, select

from topline import access
from topline.auth.models import User
from topline.crm import accounts as account_service
from topline.crm.enums import BuyingRole
from topline.crm.errors import StaleContact
from topline.crm.models import Account, Contact
from topline.crm.schemas import ContactCreate, ContactPatch, ContactRead, ContactUpdate
from topline.exporters.tables import ExportFormat
from topline.types import MAX_ID, Text
from topline.web.api.common import (
    ApiCaller,
    ApiUser,
    Cursor,
    Limit,
    Page,
    WithTotal,
    audit,
    change_versioned,
    errors,
    paginate,
)
from topline.web.api.exports import export_columns, export_response, export_responses
from topline.web.deps import DbSession
from topline.web.routing import TransactionRoute, reads_one_record

router = APIRouter(prefix="/contacts", tags=["contacts"], route_class=TransactionRoute)

ContactId = Annotated[int, Path(ge=1, le=MAX_ID, description="Contact id.")]
ContactSort = Literal["last_name", "-last_name", "created_at", "-created_at", "id", "-id"]
SORT_COLUMNS = {
    "last_name": Contact.last_name,
    "created_at": Contact.created_at,
    "id": Contact.id,
}


@router.get("", response_model=Page[ContactRead], responses=errors(404))
def list_contacts(
    session: DbSession,
    user: ApiUser,
    account_id: Annotated[int | None, Query(ge=1, le=MAX_ID)] = None,
    buying_role: Annotated[list[BuyingRole] | None, Query()] = None,
    q: Annotated[
        Text | None,
        Query(min_length=1, max_length=100, description="First name, last name or email contains."),
    ] = None,
    sort: ContactSort = "last_name",
    cursor: Cursor = None,
    limit: Limit = 50,
    with_total: WithTotal = True,
) -> Page[ContactRead]:
    """Contacts at accounts the caller may see, filtered, in a stable order, page by page."""
    stmt = _contacts_query(user, account_id=account_id, buying_role=buying_role, q=q)
    rows, next_cursor, total = paginate(
        session,
        stmt,
        sort_column=SORT_COLUMNS[sort.lstrip("-")],
        id_column=Contact.id,
        descending=sort.startswith("-"),
        cursor=cursor,
        limit=limit,
        with_total=with_total,
        mappings=True,
    )
    return Page[ContactRead](
        items=[ContactRead.model_validate(c) for c in rows], next_cursor=next_cursor, total=total
    )


def _contacts_query(
    user: User, *, account_id: int | None, buying_role: list[BuyingRole] | None, q: str | None
) -> Select[Any]:
    """The columns of the contacts the caller may see, filtered (for the list and the export)."""
    stmt = access.scoped(select(Contact.__table__), Contact, user)
    if account_id is not None:
        stmt = stmt.where(Contact.account_id == account_id)
    if buying_role:
        stmt = stmt.where(Contact.buying_role.in_(buying_role))
    if q is not None:
        stmt = stmt.where(
            or_(
                Contact.first_name.icontains(q, autoescape=True),
                Contact.last_name.icontains(q, autoescape=True),
                Contact.email.icontains(q, autoescape=True),
            )
        )
    return stmt


EXPORT_COLUMNS = export_columns(ContactRead)


@router.get("/export", response_class=Response, responses=export_responses("contacts"))
def export_contacts(
    session: DbSession,
    user: ApiUser,
    format: ExportFormat = ExportFormat.CSV,
    account_id: Annotated[int | None, Query(ge=1, le=MAX_ID)] = None,
    buying_role: Annotated[list[BuyingRole] | None, Query()] = None,
    q: Annotated[
        Text | None,
        Query(min_length=1, max_length=100, description="First name, last name or email contains."),
    ] = None,
) -> Response:
    """Every contact the caller may see (with the list's filters) as CSV, XLSX or Parquet.

    Text a spreadsheet would run as a formula is neutralized.
    """
    stmt = _contacts_query(user, account_id=account_id, buying_role=buying_role, q=q)
    return export_response(session, stmt, EXPORT_COLUMNS, format, "contacts")


@router.post(
    "", response_model=ContactRead, status_code=status.HTTP_201_CREATED, responses=errors(404, 409)
)
def create_contact(session: DbSession, user: ApiUser, body: ContactCreate) -> ContactRead:
    """Add a person at an account the caller can see."""
    account = access.get_referenced(session, Account, body.account_id, user, field="account_id")
    assert account is not None  # account_id is required by ContactCreate
    contact = account_service.create_contact(
        session,
        account=account,
        first_name=body.first_name,
        last_name=body.last_name,
        email=body.email,
        phone=body.phone,
        title=body.title,
        buying_role=body.buying_role,
    )
    created = ContactRead.model_validate(contact)
    audit(session, user, action="create", entity="contact", entity_id=contact.id, after=created)
    return created


@router.get("/{contact_id:int}", response_model=ContactRead, responses=errors(404))
@reads_one_record
def get_contact(session: DbSession, user: ApiCaller, contact_id: ContactId) -> ContactRead:
    """One contact."""
    return ContactRead.model_validate(access.get_visible(session, Contact, contact_id, user))


@router.patch("/{contact_id:int}", response_model=ContactRead, responses=errors(404, 409))
def update_contact(
    session: DbSession, user: ApiUser, contact_id: ContactId, body: ContactPatch
) -> ContactRead:
    """Correct a contact's details or buying role.

    Contacts have no owner of their own: whoever can see the account may keep them current. A
    stale `version` is refused with the current contact in `details`.
    """
    contact = access.get_visible(session, Contact, contact_id, user)
    changes = ContactUpdate.model_validate(body.model_dump(exclude={"version"}, exclude_unset=True))
    before, _ = change_versioned(
        session, contact, body.version, read=ContactRead, stale=StaleContact,
        change=lambda: account_service.update_contact(
            session, contact, changes=changes, expected_version=body.version
        ),
    )  # fmt: skip
    after = ContactRead.model_validate(contact)
    audit(
        session, user, action="update", entity="contact", entity_id=contact.id,
        before=before, after=after,
    )  # fmt: skip
    return after
