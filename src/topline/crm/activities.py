"""Logging calls, emails, meetings, notes and tasks."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy.orm import Session

from topline.auth.models import User
from topline.clock import ensure_utc, utcnow
from topline.crm.enums import ActivityType
from topline.crm.errors import ContactAtOtherAccount, InvalidActivity
from topline.crm.models import Account, Activity, Contact, Deal, Lead


def log_activity(
    session: Session,
    *,
    user: User,
    type: ActivityType,
    subject: str,
    occurred_at: datetime,
    deal: Deal | None = None,
    contact: Contact | None = None,
    account: Account | None = None,
    lead: Lead | None = None,
    body: str | None = None,
    duration_minutes: int | None = None,
    outcome: str | None = None,
    email_opened: bool | None = None,
    email_clicked: bool | None = None,
    email_replied: bool | None = None,
    at: datetime | None = None,
) -> Activity:
    """Record a touch with a customer or prospect, or plan one.

    It must concern at least one deal, contact, account or lead; a deal's account is filled in
    when not given, and a contact must work at that account. A time in the future makes it a
    planned activity (a scheduled call or meeting, a task's due time), which anything
    evaluated `as_of` an earlier moment leaves out.
    Email engagement (opened, clicked, replied) applies to emails only. A click or a reply
    proves the email was opened, so it is recorded as opened even when tracking said it was
    not: open tracking misses every reader who blocks images.
    """
    now = ensure_utc(at or utcnow())
    occurred_at = ensure_utc(occurred_at)
    if not subject.strip():
        raise InvalidActivity("an activity needs a subject")
    if deal is None and contact is None and account is None and lead is None:
        raise InvalidActivity("an activity must concern a deal, contact, account or lead")
    if duration_minutes is not None and duration_minutes < 0:
        raise InvalidActivity("duration must not be negative")
    engagement = (email_opened, email_clicked, email_replied)
    if type != ActivityType.EMAIL and any(flag is not None for flag in engagement):
        raise InvalidActivity("email engagement applies to emails only")
    if email_clicked or email_replied:
        email_opened = True
    account_id = account.id if account else (deal.account_id if deal else None)
    if contact is not None and account_id is not None and contact.account_id != account_id:
        raise ContactAtOtherAccount(
            f"contact_id: contact {contact.id} works at another account than the activity's "
            f"(account {account_id}); name that account, or leave the contact out",
            details={"field": "contact_id"},
        )
    activity = Activity(
        type=type,
        subject=subject.strip(),
        body=body,
        occurred_at=occurred_at,
        user_id=user.id,
        deal_id=deal.id if deal else None,
        contact_id=contact.id if contact else None,
        account_id=account_id
        if account_id is not None
        else (contact.account_id if contact else None),
        lead_id=lead.id if lead else None,
        duration_minutes=duration_minutes,
        outcome=outcome,
        email_opened=email_opened,
        email_clicked=email_clicked,
        email_replied=email_replied,
        created_at=now,
    )
    session.add(activity)
    session.flush()
    return activity
