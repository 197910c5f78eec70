"""Leads: capture, work, qualify (MQL, SQL with BANT), disqualify, convert into a deal.

Each step after capture takes `expected_version`, the version the caller read; another one
raises `StaleLead` before anything changes.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime

from sqlalchemy.orm import Session

from topline.auth.models import User
from topline.clock import ensure_utc, utcnow
from topline.crm.accounts import create_account, create_contact
from topline.crm.deals import create_deal
from topline.crm.enums import BuyingRole, DealType, LeadStatus
from topline.crm.errors import InvalidLead, InvalidLeadTransition, LeadNotFound, StaleLead
from topline.crm.models import Account, Contact, Deal, Lead, Stage
from topline.storage.locking import flush_versioned, require_version

# Sales accepts a lead once at least three of budget, authority, need and timeline are
# confirmed: the usual "3 of 4 BANT" rule.
SQL_MIN_BANT = 3
OPEN_STATUSES = frozenset({LeadStatus.NEW, LeadStatus.WORKING, LeadStatus.MQL, LeadStatus.SQL})
_ORDER = {LeadStatus.NEW: 0, LeadStatus.WORKING: 1, LeadStatus.MQL: 2, LeadStatus.SQL: 3}


@dataclass(frozen=True)
class LeadConversion:
    """What converting a lead produced."""

    lead: Lead
    account: Account
    contact: Contact
    deal: Deal


def get_lead(session: Session, lead_id: int) -> Lead:
    """The lead with `lead_id`, or `LeadNotFound`."""
    lead = session.get(Lead, lead_id)
    if lead is None:
        raise LeadNotFound(f"lead {lead_id} not found")
    return lead


def create_lead(
    session: Session,
    *,
    actor: User | None,
    first_name: str,
    last_name: str,
    company: str,
    source: str,
    email: str | None = None,
    phone: str | None = None,
    title: str | None = None,
    company_domain: str | None = None,
    industry: str | None = None,
    employees: int | None = None,
    country: str | None = None,
    region: str | None = None,
    owner: User | None = None,
    at: datetime | None = None,
) -> Lead:
    """Capture a new prospect. Needs a last name, a company and where the lead came from."""
    at = ensure_utc(at or utcnow())
    if not last_name.strip():
        raise InvalidLead("a lead needs a last name")
    if not company.strip():
        raise InvalidLead("a lead needs a company")
    if not source.strip():
        raise InvalidLead("a lead needs a source (web, event, referral, outbound, …)")
    if email is not None and "@" not in email:
        raise InvalidLead(f"invalid email address {email!r}")
    if employees is not None and employees < 0:
        raise InvalidLead("employees must not be negative")
    if country is not None and len(country) != 2:
        raise InvalidLead(f"country must be a two-letter ISO code, got {country!r}")
    lead = Lead(
        first_name=first_name.strip(),
        last_name=last_name.strip(),
        email=email.strip().lower() if email else None,
        phone=phone,
        title=title,
        company=company.strip(),
        company_domain=company_domain,
        industry=industry,
        employees=employees,
        country=country.upper() if country else None,
        region=region,
        source=source.strip().lower(),
        status=LeadStatus.NEW,
        owner_id=owner.id if owner else None,
        created_at=at,
    )
    session.add(lead)
    session.flush()
    return lead


def start_working_lead(
    session: Session,
    lead: Lead,
    *,
    owner: User,
    at: datetime | None = None,
    expected_version: int | None = None,
) -> Lead:
    """A rep picks up a new lead and starts working it."""
    require_version(lead, expected_version, stale=StaleLead)
    _ensure_status(lead, {LeadStatus.NEW}, "start working")
    lead.status = LeadStatus.WORKING
    lead.owner_id = owner.id
    flush_versioned(session, lead, stale=StaleLead)
    return lead


def qualify_lead(
    session: Session,
    lead: Lead,
    *,
    level: LeadStatus,
    actor: User | None,
    budget: bool | None = None,
    authority: bool | None = None,
    need: bool | None = None,
    timeline: bool | None = None,
    at: datetime | None = None,
    expected_version: int | None = None,
) -> Lead:
    """Qualify a lead as marketing-qualified (MQL) or sales-qualified (SQL).

    BANT answers given here are recorded first. SQL needs at least three of the four
    confirmed. Qualification only moves forward: an SQL cannot go back to MQL.
    """
    at = ensure_utc(at or utcnow())
    require_version(lead, expected_version, stale=StaleLead)
    if level not in (LeadStatus.MQL, LeadStatus.SQL):
        raise InvalidLead(f"a lead is qualified as mql or sql, not {level.value!r}")
    _ensure_status(lead, OPEN_STATUSES, f"qualify as {level.value}")
    if _ORDER[lead.status] >= _ORDER[level]:
        raise InvalidLeadTransition(
            f"lead {lead.id} is already {lead.status.value}; qualification only moves forward"
        )
    if at < lead.created_at:
        raise InvalidLead("qualification cannot predate the lead's creation")
    for field, value in (
        ("bant_budget", budget),
        ("bant_authority", authority),
        ("bant_need", need),
        ("bant_timeline", timeline),
    ):
        if value is not None:
            setattr(lead, field, value)
    if level == LeadStatus.SQL and lead.bant_count < SQL_MIN_BANT:  # with the answers on file
        missing = [
            name
            for name, ok in (
                ("budget", lead.bant_budget),
                ("authority", lead.bant_authority),
                ("need", lead.bant_need),
                ("timeline", lead.bant_timeline),
            )
            if not ok
        ]
        raise InvalidLeadTransition(
            f"an SQL needs at least {SQL_MIN_BANT} of 4 BANT criteria confirmed; "
            f"missing: {', '.join(missing)}"
        )
    if level == LeadStatus.MQL or lead.mql_at is None:
        lead.mql_at = at
    if level == LeadStatus.SQL:
        lead.sql_at = at
    lead.status = level
    flush_versioned(session, lead, stale=StaleLead)
    return lead


def disqualify_lead(
    session: Session,
    lead: Lead,
    *,
    reason: str,
    actor: User | None,
    at: datetime | None = None,
    expected_version: int | None = None,
) -> Lead:
    """Close a lead as not worth pursuing, with the reason."""
    at = ensure_utc(at or utcnow())
    require_version(lead, expected_version, stale=StaleLead)
    _ensure_status(lead, OPEN_STATUSES, "disqualify")
    reason = (reason or "").strip()
    if not reason:
        raise InvalidLead("disqualifying a lead needs a reason")
    lead.status = LeadStatus.DISQUALIFIED
    lead.disqualification_reason = reason
    lead.disqualified_at = at
    flush_versioned(session, lead, stale=StaleLead)
    return lead


def convert_lead(
    session: Session,
    lead: Lead,
    *,
    actor: User | None,
    owner: User,
    deal_name: str,
    amount_cents: int,
    close_date: date,
    account: Account | None = None,
    stage: Stage | None = None,
    buying_role: BuyingRole | None = None,
    at: datetime | None = None,
    expected_version: int | None = None,
) -> LeadConversion:
    """Turn an open lead into an account (new, or the given existing one), a contact and a deal.

    All three are linked back on the lead, which becomes `converted`.
    """
    at = ensure_utc(at or utcnow())
    require_version(lead, expected_version, stale=StaleLead)
    _ensure_status(lead, OPEN_STATUSES, "convert")
    if account is None:
        account = create_account(
            session,
            name=lead.company,
            domain=lead.company_domain,
            industry=lead.industry,
            employees=lead.employees,
            country=lead.country,
            region=lead.region,
            owner=owner,
            at=at,
        )
    contact = create_contact(
        session,
        account=account,
        first_name=lead.first_name,
        last_name=lead.last_name,
        email=lead.email,
        phone=lead.phone,
        title=lead.title,
        buying_role=buying_role,
        at=at,
    )
    deal = create_deal(
        session,
        actor=actor,
        name=deal_name,
        owner=owner,
        account=account,
        contact=contact,
        stage=stage,
        amount_cents=amount_cents,
        close_date=close_date,
        type=DealType.NEW_BUSINESS,
        source=lead.source,
        at=at,
    )
    lead.status = LeadStatus.CONVERTED
    lead.converted_at = at
    lead.converted_account_id = account.id
    lead.converted_contact_id = contact.id
    lead.converted_deal_id = deal.id
    lead.owner_id = owner.id
    flush_versioned(session, lead, stale=StaleLead)
    return LeadConversion(lead=lead, account=account, contact=contact, deal=deal)


def _ensure_status(lead: Lead, allowed: set[LeadStatus] | frozenset[LeadStatus], verb: str) -> None:
    if lead.status not in allowed:
        raise InvalidLeadTransition(f"cannot {verb} lead {lead.id}: it is {lead.status.value}")
