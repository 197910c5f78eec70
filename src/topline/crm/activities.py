"""Logging calls, emails, meetings, notes and tasks."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy.orm import Session

from topline.auth.models import User
from topline.clock import ensure_utc, utcnow
from topline.crm.enums import ActivityType
from topline.crm.errors import InvalidActivity
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
    """Record a touch with a customer or prospect.

    It must concern at least one deal, contact, account or lead; a deal's account is filled in
    when not given. Email engagement (opened, clicked, replied) applies to emails only, and a
    click or reply implies the email was opened. Activities cannot be logged in the future.
    """
    now = ensure_utc(at or utcnow())
    occurred_at = ensure_utc(occurred_at)
    if not subject.strip():
        raise InvalidActivity("an activity needs a subject")
    if deal is None and contact is None and account is None and lead is None:
        raise InvalidActivity("an activity must concern a deal, contact, account or lead")
    if occurred_at > now:
        raise InvalidActivity("an activity cannot be logged in the future; create a task instead")
    if duration_minutes is not None and duration_minutes < 0:
        raise InvalidActivity("duration must not be negative")
    engagement = (email_opened, email_clicked, email_replied)
    if type != ActivityType.EMAIL and any(flag is not None for flag in engagement):
        raise InvalidActivity("email engagement applies to emails only")
    if (email_clicked or email_replied) and email_opened is False:
        raise InvalidActivity("an email that was clicked or replied to was opened")
    if type == ActivityType.EMAIL and (email_clicked or email_replied):
        email_opened = True
    account_id = account.id if account else (deal.account_id if deal else None)
    if contact is not None and account_id is not None and contact.account_id != account_id:
        raise InvalidActivity("the contact belongs to another account than the activity")
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
