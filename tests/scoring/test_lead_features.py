"""Lead features as of a moment: a hand-checked tiny funnel, the labels, and proof that nothing
after the moment shows."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime

import numpy as np
import pandas as pd
import pytest
from sqlalchemy import delete, update
from sqlalchemy.orm import Session

from tests.factories import make_account, make_lead, make_pipeline, make_user
from topline.auth.models import User
from topline.crm.deals import close_deal_won
from topline.crm.enums import ActivityType, LeadStatus, Segment
from topline.crm.leads import convert_lead, disqualify_lead, qualify_lead
from topline.crm.models import Account, Activity, Lead
from topline.scoring.lead_features import (
    LEAD_FEATURES,
    LEAD_IDENTIFIERS,
    describe_lead_feature,
    lead_features,
    lead_outcomes,
)

AS_OF = datetime(2025, 3, 1, 12, tzinfo=UTC)


def at(month: int, day: int) -> datetime:
    return datetime(2025, month, day, 10, tzinfo=UTC)


@dataclass
class Funnel:
    rep: User
    account: Account
    a: Lead  # sales-qualified, worked, converted (and won) after AS_OF
    b: Lead  # new at AS_OF, qualified after it
    c: Lead  # disqualified before AS_OF
    d: Lead  # created after AS_OF
    e: Lead  # converted before AS_OF


def activity(session: Session, lead: Lead, user: User, kind: ActivityType, when: datetime,
             **flags: bool) -> None:  # fmt: skip
    session.add(
        Activity(type=kind, subject=kind.value, occurred_at=when, user_id=user.id,
                 lead_id=lead.id, created_at=when, **flags)
    )  # fmt: skip
    session.flush()


@pytest.fixture
def funnel(session: Session) -> Funnel:
    """Five leads around AS_OF (2025-03-01 12:00 UTC); lead A's values are worked out by hand
    in `test_a_worked_lead_reads_as_it_stood`."""
    rep = make_user(session)
    pipeline = make_pipeline(session)
    account = make_account(
        session, owner=rep, domain="acme.example.com", segment=Segment.MID_MARKET,
        created_at=at(1, 2),
    )  # fmt: skip
    a = make_lead(
        session, owner=rep, company_domain="Acme.example.com", source="Referral",
        industry="Software", employees=120, country="US", region="NA East", at=at(1, 10),
    )  # fmt: skip
    qualify_lead(session, a, level=LeadStatus.MQL, actor=rep, budget=True, need=True, at=at(2, 1))
    qualify_lead(session, a, level=LeadStatus.SQL, actor=rep, authority=True, at=at(2, 15))
    activity(session, a, rep, ActivityType.CALL, at(1, 15))
    activity(session, a, rep, ActivityType.EMAIL, at(2, 20), email_opened=True,
             email_replied=True)  # fmt: skip
    activity(session, a, rep, ActivityType.MEETING, at(3, 5))
    conversion = convert_lead(
        session, a, actor=rep, owner=rep, deal_name="Acme", amount_cents=100_000,
        close_date=date(2025, 4, 30), account=account, at=at(3, 10),
    )  # fmt: skip
    close_deal_won(session, conversion.deal, actor=rep, at=at(4, 20))
    b = make_lead(session, owner=rep, company_domain="other.example.com", at=at(2, 1))
    qualify_lead(session, b, level=LeadStatus.MQL, actor=rep, budget=True, at=at(3, 15))
    # An account for B's company appears only after AS_OF.
    make_account(session, owner=rep, domain="other.example.com", created_at=at(3, 20))
    c = make_lead(session, owner=rep, at=at(1, 20))
    disqualify_lead(session, c, reason="No budget", actor=rep, at=at(2, 10))
    d = make_lead(session, owner=rep, at=at(3, 5))
    e = make_lead(session, owner=rep, at=at(1, 5))
    convert_lead(
        session, e, actor=rep, owner=rep, deal_name="Early", amount_cents=5_000,
        close_date=date(2025, 3, 31), at=at(2, 20),
    )  # fmt: skip
    assert pipeline
    return Funnel(rep, account, a, b, c, d, e)


class TestLeadFeatures:
    def test_only_the_leads_open_at_the_moment_appear(
        self, session: Session, funnel: Funnel
    ) -> None:
        frame = lead_features(session, AS_OF)
        assert frame["lead_id"].tolist() == [funnel.a.id, funnel.b.id]
        assert list(frame.columns) == [*LEAD_IDENTIFIERS, *LEAD_FEATURES]

    def test_a_worked_lead_reads_as_it_stood(self, session: Session, funnel: Funnel) -> None:
        row = lead_features(session, AS_OF).set_index("lead_id").loc[funnel.a.id]
        expected = {
            "account_id": funnel.account.id,  # the domain matches, whatever the case
            "stage": "sql",
            "source": "referral",  # sources are kept in lower case
            "industry": "Software",
            "country": "US",
            "region": "NA East",
            "segment": "mid_market",
            "age_days": 50.0,  # 10 January to 1 March
            "days_since_mql": 28.0,  # 1 February
            "employees": 120.0,
            "known_account": 1.0,
            "bant_budget": 1.0,
            "bant_authority": 1.0,
            "bant_need": 1.0,
            "bant_timeline": 0.0,
            "bant_count": 3.0,
            "activities": 2.0,  # the meeting on 5 March comes later
            "activities_30d": 1.0,  # the email of 20 February
            "calls": 1.0,
            "meetings": 0.0,
            "emails": 1.0,
            "emails_opened": 1.0,
            "emails_clicked": 0.0,
            "emails_replied": 1.0,
            "days_since_activity": 9.0,
        }
        assert {name: row[name] for name in expected} == expected

    def test_a_lead_qualified_later_shows_no_qualification(
        self, session: Session, funnel: Funnel
    ) -> None:
        row = lead_features(session, AS_OF).set_index("lead_id").loc[funnel.b.id]
        assert row["stage"] == "new"
        assert np.isnan(row["days_since_mql"])
        # Its budget flag is set now, but BANT is read only for sales-qualified leads.
        assert funnel.b.bant_budget
        assert row[["bant_budget", "bant_count"]].isna().all()
        assert row["known_account"] == 0.0 and row["segment"] is None
        assert row["activities"] == 0.0 and np.isnan(row["days_since_activity"])

    def test_lead_ids_limit_the_frame(self, session: Session, funnel: Funnel) -> None:
        frame = lead_features(session, AS_OF, lead_ids=[funnel.b.id, funnel.c.id])
        assert frame["lead_id"].tolist() == [funnel.b.id]

    def test_before_any_lead_the_frame_is_empty_with_every_column(
        self, session: Session, funnel: Funnel
    ) -> None:
        frame = lead_features(session, at(1, 1))
        assert frame.empty
        assert list(frame.columns) == [*LEAD_IDENTIFIERS, *LEAD_FEATURES]


class TestNoLeakage:
    def test_features_ignore_everything_after_the_moment(
        self, session: Session, funnel: Funnel
    ) -> None:
        before = lead_features(session, AS_OF)
        # Not vacuous: later moments see B's qualification and its new account.
        later = lead_features(session, at(3, 25)).set_index("lead_id").loc[funnel.b.id]
        assert later["stage"] == "mql" and later["known_account"] == 1.0

        truncate_after(session, AS_OF)

        pd.testing.assert_frame_equal(before, lead_features(session, AS_OF))


def truncate_after(session: Session, moment: datetime) -> None:
    """Make the leads what they were at `moment`: later activities and accounts go, later
    funnel steps are undone, and the fields a later step sets are reset."""
    session.execute(delete(Activity).where(Activity.occurred_at >= moment))
    session.execute(
        update(Lead)
        .where(Lead.converted_at >= moment)
        .values(converted_at=None, converted_account_id=None, converted_contact_id=None,
                converted_deal_id=None, status=LeadStatus.SQL, score=99.0)
    )  # fmt: skip
    session.execute(
        update(Lead)
        .where(Lead.mql_at >= moment)
        .values(mql_at=None, status=LeadStatus.NEW, bant_budget=False, score=1.0)
    )
    session.execute(delete(Account).where(Account.created_at >= moment))
    session.expire_all()


class TestOutcomes:
    def test_conversion_within_the_horizon_and_won_deals(
        self, session: Session, funnel: Funnel
    ) -> None:
        outcomes = lead_outcomes(session, AS_OF, at(6, 30), horizon_days=90).set_index("lead_id")
        a = outcomes.loc[funnel.a.id]
        assert a["converted"] == 1 and a["converted_known_at"] == pd.Timestamp(at(3, 10))
        assert a["won"] == 1 and a["won_known_at"] == pd.Timestamp(at(4, 20))
        b = outcomes.loc[funnel.b.id]
        # Not converted within 90 days: known when the horizon ended (30 May).
        assert b["converted"] == 0 and b["won"] == 0
        assert b["converted_known_at"] == pd.Timestamp(datetime(2025, 5, 30, 12, tzinfo=UTC))

    def test_outcomes_not_known_at_the_label_moment_are_missing(
        self, session: Session, funnel: Funnel
    ) -> None:
        outcomes = lead_outcomes(session, AS_OF, at(4, 1)).set_index("lead_id")
        # A converted on 10 March but its deal was won only on 20 April; B's horizon runs on.
        assert outcomes.loc[funnel.a.id, "converted"] == 1
        assert np.isnan(outcomes.loc[funnel.a.id, "won"])
        assert outcomes.loc[funnel.b.id, ["converted", "won"]].isna().all()

    def test_a_short_horizon_misses_a_later_conversion(
        self, session: Session, funnel: Funnel
    ) -> None:
        outcomes = lead_outcomes(session, AS_OF, at(6, 30), horizon_days=5).set_index("lead_id")
        assert outcomes.loc[funnel.a.id, ["converted", "won"]].tolist() == [0, 0]


@pytest.mark.parametrize(
    ("name", "value", "text"),
    [
        ("stage", "mql", "Funnel stage MQL"),
        ("bant_count", 3.0, "3 of 4 BANT criteria confirmed"),
        ("bant_budget", float("nan"), "Not sales-qualified yet"),
        ("known_account", 1.0, "Company already an account"),
        ("emails_opened", 2.0, "2 emails opened"),
        ("source", "Referral", "Source Referral"),
        ("country", "US", "Country US"),
        ("region", None, "Region unknown"),
    ],
)
def test_describe_lead_feature(name: str, value: object, text: str) -> None:
    assert describe_lead_feature(name, value) == text
