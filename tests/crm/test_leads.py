from __future__ import annotations

from datetime import date, timedelta

import pytest
from sqlalchemy import Table, func, select, update
from sqlalchemy.orm import Session

from tests.factories import T0, make_account, make_lead, make_pipeline, make_user
from topline.crm.enums import BuyingRole, LeadStatus
from topline.crm.errors import InvalidLead, InvalidLeadTransition, StaleLead
from topline.crm.history import deal_history
from topline.crm.leads import convert_lead, disqualify_lead, qualify_lead, start_working_lead
from topline.crm.models import Account, Lead

DAY = timedelta(days=1)


def test_new_lead_is_new_and_normalised(session: Session) -> None:
    lead = make_lead(session, email=" Lee@Example.COM ", source="Web", country="de")
    assert lead.status == LeadStatus.NEW
    assert (lead.email, lead.source, lead.country) == ("lee@example.com", "web", "DE")


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"last_name": " "}, "last name"),
        ({"company": ""}, "needs a company"),
        ({"source": ""}, "needs a source"),
        ({"email": "not-an-email"}, "invalid email"),
        ({"employees": -3}, "must not be negative"),
        ({"country": "Germany"}, "two-letter"),
    ],
)
def test_create_lead_rejects_bad_values(session: Session, overrides: dict, message: str) -> None:
    with pytest.raises(InvalidLead, match=message):
        make_lead(session, **overrides)


def test_lead_goes_through_mql_and_sql(session: Session) -> None:
    rep = make_user(session)
    lead = make_lead(session)
    start_working_lead(session, lead, owner=rep)

    qualify_lead(session, lead, level=LeadStatus.MQL, actor=None, at=T0 + DAY)
    qualify_lead(
        session,
        lead,
        level=LeadStatus.SQL,
        actor=rep,
        budget=True,
        authority=True,
        need=True,
        at=T0 + 3 * DAY,
    )

    assert lead.status == LeadStatus.SQL
    assert (lead.mql_at, lead.sql_at) == (T0 + DAY, T0 + 3 * DAY)
    assert lead.owner_id == rep.id


def test_sql_needs_three_bant_criteria_and_names_the_missing(session: Session) -> None:
    lead = make_lead(session)
    with pytest.raises(InvalidLeadTransition, match="missing: authority, timeline"):
        qualify_lead(session, lead, level=LeadStatus.SQL, actor=None, budget=True, need=True, at=T0)
    assert (lead.status, lead.sql_at) == (LeadStatus.NEW, None)


def test_direct_sql_also_stamps_mql(session: Session) -> None:
    lead = make_lead(session)
    qualify_lead(
        session,
        lead,
        level=LeadStatus.SQL,
        actor=None,
        budget=True,
        need=True,
        timeline=True,
        at=T0 + DAY,
    )
    assert lead.mql_at == lead.sql_at == T0 + DAY


def test_qualification_only_moves_forward(session: Session) -> None:
    lead = make_lead(session)
    qualify_lead(
        session,
        lead,
        level=LeadStatus.SQL,
        actor=None,
        budget=True,
        authority=True,
        need=True,
        at=T0,
    )
    with pytest.raises(InvalidLeadTransition, match="already sql"):
        qualify_lead(session, lead, level=LeadStatus.MQL, actor=None, at=T0 + DAY)


def test_disqualify_needs_reason_and_closes_lead(session: Session) -> None:
    lead = make_lead(session)
    with pytest.raises(InvalidLead, match="needs a reason"):
        disqualify_lead(session, lead, reason=" ", actor=None, at=T0)
    disqualify_lead(session, lead, reason="Student", actor=None, at=T0 + DAY)
    assert lead.status == LeadStatus.DISQUALIFIED
    with pytest.raises(InvalidLeadTransition, match="it is disqualified"):
        qualify_lead(session, lead, level=LeadStatus.MQL, actor=None, at=T0 + 2 * DAY)


def test_convert_creates_linked_account_contact_and_deal(session: Session) -> None:
    make_pipeline(session)
    rep = make_user(session)
    lead = make_lead(session, company="Acme Robotics", company_domain="acme.example", employees=120)

    result = convert_lead(
        session,
        lead,
        actor=rep,
        owner=rep,
        deal_name="Acme — platform",
        amount_cents=48_000_00,
        close_date=date(2025, 3, 31),
        buying_role=BuyingRole.CHAMPION,
        at=T0 + 2 * DAY,
    )

    assert result.account.name == "Acme Robotics"
    assert result.account.employees == 120
    assert result.contact.account_id == result.account.id
    assert result.contact.buying_role == BuyingRole.CHAMPION
    assert result.deal.account_id == result.account.id
    assert result.deal.contact_id == result.contact.id
    assert result.deal.source == "web"
    assert len(deal_history(session, result.deal.id)) == 1
    assert lead.status == LeadStatus.CONVERTED
    assert (lead.converted_account_id, lead.converted_contact_id, lead.converted_deal_id) == (
        result.account.id,
        result.contact.id,
        result.deal.id,
    )
    with pytest.raises(InvalidLeadTransition, match="it is converted"):
        convert_lead(
            session,
            lead,
            actor=rep,
            owner=rep,
            deal_name="again",
            amount_cents=1,
            close_date=date(2025, 3, 31),
            at=T0 + 3 * DAY,
        )


def test_convert_into_existing_account(session: Session) -> None:
    make_pipeline(session)
    rep = make_user(session)
    account = make_account(session, owner=rep)
    lead = make_lead(session)

    result = convert_lead(
        session,
        lead,
        actor=rep,
        owner=rep,
        account=account,
        deal_name="Upsell",
        amount_cents=5_000_00,
        close_date=date(2025, 2, 28),
        at=T0,
    )

    assert result.account.id == account.id


def test_failed_conversion_leaves_lead_open(session: Session) -> None:
    make_pipeline(session)
    rep = make_user(session)
    lead = make_lead(session)
    from topline.crm.errors import InvalidDeal

    with pytest.raises(InvalidDeal, match="must not be negative"), session.begin_nested():
        convert_lead(
            session,
            lead,
            actor=rep,
            owner=rep,
            deal_name="Bad",
            amount_cents=-1,
            close_date=date(2025, 3, 31),
            at=T0,
        )
    session.refresh(lead)
    assert lead.status == LeadStatus.NEW
    assert lead.converted_deal_id is None


class TestVersions:
    def test_every_step_raises_the_version(self, session: Session) -> None:
        rep = make_user(session)
        lead = make_lead(session)
        assert lead.version == 1

        start_working_lead(session, lead, owner=rep, expected_version=1)
        qualify_lead(
            session, lead, level=LeadStatus.MQL, actor=rep, at=T0 + DAY, expected_version=2
        )
        disqualify_lead(
            session, lead, reason="No budget", actor=rep, at=T0 + DAY, expected_version=3
        )

        assert session.scalar(select(Lead.version).where(Lead.id == lead.id)) == 4

    def test_a_stale_expected_version_is_refused_before_anything_changes(
        self, session: Session
    ) -> None:
        rep = make_user(session)
        lead = make_lead(session)
        start_working_lead(session, lead, owner=rep)

        with pytest.raises(StaleLead, match=r"lead \d+ changed since version 1 \(now 2\)"):
            disqualify_lead(session, lead, reason="Student", actor=rep, expected_version=1)

        assert (lead.status, lead.disqualified_at, lead.version) == (LeadStatus.WORKING, None, 2)

    def test_a_stale_conversion_creates_nothing(self, session: Session) -> None:
        make_pipeline(session)
        rep = make_user(session)
        lead = make_lead(session)
        start_working_lead(session, lead, owner=rep)
        accounts_before = session.scalar(select(func.count()).select_from(Account))

        with pytest.raises(StaleLead):
            convert_lead(
                session, lead, actor=rep, owner=rep, deal_name="First", amount_cents=1_000_00,
                close_date=date(2025, 3, 31), at=T0, expected_version=1,
            )  # fmt: skip

        assert session.scalar(select(func.count()).select_from(Account)) == accounts_before
        assert lead.status == LeadStatus.WORKING

    def test_a_step_overtaken_after_the_read_is_stale(self, session: Session) -> None:
        rep = make_user(session)
        lead = make_lead(session)
        table = Lead.__table__
        assert isinstance(table, Table)
        # Another transaction takes the lead after ours read it at version 1.
        session.execute(
            update(table)
            .where(table.c.id == lead.id)
            .values(status="working", owner_id=rep.id, version=2)
        )

        with pytest.raises(StaleLead, match="changed by someone else"), session.begin_nested():
            qualify_lead(
                session, lead, level=LeadStatus.MQL, actor=rep, at=T0 + DAY, expected_version=1
            )

        session.refresh(lead)
        assert (lead.status, lead.mql_at, lead.version) == (LeadStatus.WORKING, None, 2)
