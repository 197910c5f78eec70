"""Accounts and their contacts."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy.orm import Session

from topline.auth.models import User
from topline.clock import ensure_utc, utcnow
from topline.crm.enums import BuyingRole, Segment
from topline.crm.errors import AccountNotFound, ContactNotFound, StaleAccount, StaleContact
from topline.crm.models import Account, Contact
from topline.crm.schemas import AccountUpdate, ContactUpdate
from topline.errors import InvalidInput
from topline.storage.locking import flush_versioned, require_version


def get_account(session: Session, account_id: int) -> Account:
    """The account with `account_id`, or `AccountNotFound`."""
    account = session.get(Account, account_id)
    if account is None:
        raise AccountNotFound(f"account {account_id} not found")
    return account


def get_contact(session: Session, contact_id: int) -> Contact:
    """The contact with `contact_id`, or `ContactNotFound`."""
    contact = session.get(Contact, contact_id)
    if contact is None:
        raise ContactNotFound(f"contact {contact_id} not found")
    return contact


def create_account(
    session: Session,
    *,
    name: str,
    owner: User | None = None,
    domain: str | None = None,
    industry: str | None = None,
    segment: Segment | None = None,
    employees: int | None = None,
    annual_revenue_cents: int | None = None,
    country: str | None = None,
    region: str | None = None,
    postal_code: str | None = None,
    territory: str | None = None,
    at: datetime | None = None,
) -> Account:
    """Add a company the team sells to."""
    name = name.strip()
    if not name:
        raise InvalidInput("account name must not be empty")
    if employees is not None and employees < 0:
        raise InvalidInput("employees must not be negative")
    if annual_revenue_cents is not None and annual_revenue_cents < 0:
        raise InvalidInput("annual revenue must not be negative")
    if country is not None and len(country) != 2:
        raise InvalidInput(f"country must be a two-letter ISO code, got {country!r}")
    account = Account(
        name=name,
        domain=domain.strip().lower() if domain else None,
        industry=industry,
        segment=segment,
        employees=employees,
        annual_revenue_cents=annual_revenue_cents,
        country=country.upper() if country else None,
        region=region,
        postal_code=postal_code,
        territory=territory,
        owner_id=owner.id if owner else None,
        created_at=ensure_utc(at or utcnow()),
    )
    session.add(account)
    session.flush()
    return account


def create_contact(
    session: Session,
    *,
    account: Account,
    first_name: str,
    last_name: str,
    email: str | None = None,
    phone: str | None = None,
    title: str | None = None,
    buying_role: BuyingRole | None = None,
    at: datetime | None = None,
) -> Contact:
    """Add a person at an account, with their part in the buying committee."""
    if not last_name.strip():
        raise InvalidInput("a contact needs a last name")
    if email is not None and "@" not in email:
        raise InvalidInput(f"invalid email address {email!r}")
    contact = Contact(
        account_id=account.id,
        first_name=first_name.strip(),
        last_name=last_name.strip(),
        email=email.strip().lower() if email else None,
        phone=phone,
        title=title,
        buying_role=buying_role,
        created_at=ensure_utc(at or utcnow()),
    )
    session.add(contact)
    session.flush()
    return contact


def update_account(
    session: Session,
    account: Account,
    *,
    changes: AccountUpdate,
    owner: User | None = None,
    expected_version: int | None = None,
) -> Account:
    """Correct or enrich what the team knows about an account, or hand it to a new owner.

    Only the fields given are applied. The name cannot be cleared; other facts can be set to
    None when no longer known. Domains are stored lowercase and countries uppercase.
    `expected_version` is the version the editor read; another one raises `StaleAccount`.
    """
    require_version(account, expected_version, stale=StaleAccount)
    values = changes.model_dump(exclude_unset=True)
    if "name" in values:
        values["name"] = (values["name"] or "").strip()
        if not values["name"]:
            raise InvalidInput(
                "name: an account's name cannot be cleared", details={"field": "name"}
            )
    if values.get("domain"):
        values["domain"] = values["domain"].strip().lower()
    if values.get("country"):
        values["country"] = values["country"].upper()
    for field, value in values.items():
        setattr(account, field, value)
    if owner is not None:
        account.owner_id = owner.id
    flush_versioned(session, account, stale=StaleAccount)
    return account


def update_contact(
    session: Session,
    contact: Contact,
    *,
    changes: ContactUpdate,
    expected_version: int | None = None,
) -> Contact:
    """Correct what the team knows about a person at an account, or their buying role.

    Only the fields given are applied. The last name cannot be cleared (the first name may be
    empty); emails are stored lowercase. `expected_version` is the version the editor read;
    another one raises `StaleContact`.
    """
    require_version(contact, expected_version, stale=StaleContact)
    values = changes.model_dump(exclude_unset=True)
    for field in ("first_name", "last_name"):
        if field in values:
            if values[field] is None:
                raise InvalidInput(f"{field}: cannot be cleared", details={"field": field})
            values[field] = values[field].strip()
    if "last_name" in values and not values["last_name"]:
        raise InvalidInput("last_name: a contact needs a last name", details={"field": "last_name"})
    if values.get("email"):
        values["email"] = values["email"].strip().lower()
    for field, value in values.items():
        setattr(contact, field, value)
    flush_versioned(session, contact, stale=StaleContact)
    return contact
