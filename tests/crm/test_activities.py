from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy.orm import Session

from tests.factories import T0, make_account, make_contact, make_deal, make_lead, make_user
from topline.crm.activities import log_activity
from topline.crm.enums import ActivityType
from topline.crm.errors import ContactAtOtherAccount, InvalidActivity


def test_email_click_implies_open_and_deal_account_is_filled(session: Session) -> None:
    rep = make_user(session)
    account = make_account(session, owner=rep)
    deal = make_deal(session, owner=rep, account=account)

    activity = log_activity(
        session,
        user=rep,
        type=ActivityType.EMAIL,
        subject="Proposal",
        occurred_at=T0,
        deal=deal,
        email_clicked=True,
        at=T0 + timedelta(hours=1),
    )

    assert activity.email_opened is True
    assert activity.account_id == account.id


def test_contact_fills_account(session: Session) -> None:
    contact = make_contact(session)
    activity = log_activity(
        session,
        user=make_user(session),
        type=ActivityType.CALL,
        subject="Intro",
        occurred_at=T0,
        contact=contact,
        duration_minutes=15,
        at=T0,
    )
    assert activity.account_id == contact.account_id


def test_a_reply_records_the_email_as_opened_even_when_tracking_saw_no_open(
    session: Session,
) -> None:
    activity = log_activity(
        session,
        user=make_user(session),
        type=ActivityType.EMAIL,
        subject="Re: pricing",
        occurred_at=T0,
        lead=make_lead(session),
        email_opened=False,
        email_replied=True,
        at=T0,
    )

    assert (activity.email_opened, activity.email_clicked, activity.email_replied) == (
        True,
        None,
        True,
    )


def test_a_future_time_plans_the_activity(session: Session) -> None:
    activity = log_activity(
        session,
        user=make_user(session),
        type=ActivityType.TASK,
        subject="Send the contract",
        occurred_at=T0 + timedelta(days=7),
        lead=make_lead(session),
        at=T0,
    )

    assert activity.occurred_at == T0 + timedelta(days=7)
    assert activity.created_at == T0


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"subject": " "}, "needs a subject"),
        ({"lead": None}, "must concern"),
        ({"duration_minutes": -1}, "must not be negative"),
        ({"type": ActivityType.CALL, "email_opened": True}, "emails only"),
    ],
)
def test_log_activity_rejects_bad_values(session: Session, kwargs: dict, message: str) -> None:
    values = {
        "type": ActivityType.NOTE,
        "subject": "Note",
        "occurred_at": T0,
        "lead": make_lead(session),
    }
    values.update(kwargs)
    with pytest.raises(InvalidActivity, match=message):
        log_activity(session, user=make_user(session), at=T0 + timedelta(hours=1), **values)


def test_contact_of_other_account_is_a_conflict(session: Session) -> None:
    rep = make_user(session)
    with pytest.raises(ContactAtOtherAccount, match="another account"):
        log_activity(
            session,
            user=rep,
            type=ActivityType.MEETING,
            subject="Demo",
            occurred_at=T0,
            account=make_account(session, owner=rep),
            contact=make_contact(session),
            at=T0,
        )
