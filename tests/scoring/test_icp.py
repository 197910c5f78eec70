"""ICP fit: a hand-computed example of the smoothed lifts and points, and which accounts count
as customers as of a moment."""

from __future__ import annotations

import math
import random
from datetime import UTC, datetime

import pandas as pd
import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from tests.factories import make_account, make_deal, make_lead
from topline.analytics.history import state_as_of
from topline.clock import utcnow
from topline.crm.deals import close_deal_won
from topline.crm.enums import Segment, StageType
from topline.crm.models import Account, Deal, DealHistory
from topline.scoring.errors import NoCustomersYet
from topline.scoring.icp import IcpModel, account_icp, icp_model, lead_icp, size_band

# Four accounts, two of them customers. Base rate (2 + 1) / (4 + 2) = 1/2. Lifts: smb 3/5 → 1.2,
# enterprise 1/3 → 2/3; Software 3/4 → 1.5, Retail 1/4 → 0.5; each size band seen once, 2/3 →
# 4/3 for a customer's band, 1/3 → 2/3 otherwise; US 1.2, DE 2/3. The log ranges per field are
# ln 1.8, ln 3, ln 2 and ln 1.8: ln 19.44 in all.
PROFILES = pd.DataFrame(
    {
        "segment": ["smb", "smb", "enterprise", "smb"],
        "industry": ["Software", "Software", "Retail", "Retail"],
        "size_band": ["1-49", "50-199", "5000+", None],
        "country": ["US", "US", "DE", "US"],
        "customer": [1, 1, 0, 0],
    }
)
SPAN = math.log(19.44)


def profile(row: int) -> dict[str, object]:
    values: dict[str, object] = PROFILES.drop(columns="customer").iloc[row].to_dict()
    return values


class TestIcpModel:
    def test_counts_and_lifts(self) -> None:
        model = IcpModel.fit_frame(PROFILES)
        assert (model.customers, model.accounts, model.base_rate) == (2, 4, 0.5)
        assert model.counts["segment"] == {"enterprise": (0, 1), "smb": (2, 3)}
        assert model.counts["size_band"]["unknown"] == (0, 1)
        assert model.lift("segment", "smb") == pytest.approx(1.2)
        assert model.lift("industry", "Retail") == pytest.approx(0.5)
        assert model.lift("industry", "Mining") == 1.0  # never seen: neutral

    def test_the_most_and_least_customer_like_accounts_are_100_and_0(self) -> None:
        model = IcpModel.fit_frame(PROFILES)
        assert model.explain(profile(0)).fit == pytest.approx(100)
        assert model.explain(profile(2)).fit == pytest.approx(0)

    def test_a_mixed_account_adds_the_points_of_its_fields(self) -> None:
        result = IcpModel.fit_frame(PROFILES).explain(profile(3))
        # smb and US at their field's top (ln 1.8 each); Retail and an unknown size at the
        # bottom: 100 × ln 3.24 / ln 19.44.
        assert result.fit == pytest.approx(100 * math.log(3.24) / SPAN, abs=0.01)
        assert result.fit == pytest.approx(39.62, abs=0.01)
        top = result.factors[0]
        assert (top.field, top.value) == ("segment", "smb")
        assert top.points == pytest.approx(19.81, abs=0.01)
        assert top.text == "Segment smb: 1.2× the usual customer share"
        assert [f.field for f in result.factors[2:]] == ["industry", "size_band"]
        assert result.factors[-1].points == 0

    def test_an_unseen_value_counts_as_neutral(self) -> None:
        result = IcpModel.fit_frame(PROFILES).explain({**profile(2), "industry": "Mining"})
        assert result.fit == pytest.approx(100 * math.log(2) / SPAN, abs=0.01)


@pytest.mark.parametrize(
    ("employees", "band"),
    [(None, None), (1, "1-49"), (49, "1-49"), (50, "50-199"), (999, "200-999"), (5000, "5000+")],
)
def test_size_band(employees: int | None, band: str | None) -> None:
    assert size_band(employees) == band


AS_OF = datetime(2025, 3, 1, tzinfo=UTC)


def account_profiles(session: Session, as_of: datetime) -> pd.DataFrame:
    """Independently of the model's queries: one row per account created by `as_of` with its
    fields and whether a deal of it with an amount was won by then, as the history records."""
    won = state_as_of(as_of, DealHistory.__table__.c.stage_type == StageType.WON)
    customers = set(
        session.scalars(
            select(Deal.account_id)
            .join(won, won.c.deal_id == Deal.id)
            .where(won.c.amount_cents > 0, Deal.account_id.is_not(None))
        )
    )
    rows = session.execute(
        select(Account.id, Account.segment, Account.industry, Account.employees, Account.country)
        .where(Account.created_at <= as_of)
        .order_by(Account.id)
    ).all()
    return pd.DataFrame(
        {
            "account_id": [row.id for row in rows],
            "segment": [None if row.segment is None else str(row.segment.value) for row in rows],
            "industry": [row.industry for row in rows],
            "size_band": [size_band(row.employees) for row in rows],
            "country": [row.country for row in rows],
            "customer": [int(row.id in customers) for row in rows],
        }
    )


def test_customers_are_accounts_with_revenue_won_before_the_moment(session: Session) -> None:
    early = make_account(session, industry="Software", segment=Segment.SMB, employees=20)
    late = make_account(session, industry="Retail")
    make_account(session, industry="Software", created_at=datetime(2025, 4, 1, tzinfo=UTC))
    close_deal_won(session, make_deal(session, account=early), actor=None,
                   at=datetime(2025, 2, 1, tzinfo=UTC))  # fmt: skip
    close_deal_won(session, make_deal(session, account=late), actor=None,
                   at=datetime(2025, 3, 5, tzinfo=UTC))  # fmt: skip

    profiles = account_profiles(session, AS_OF).set_index("account_id")
    assert profiles["customer"].to_dict() == {early.id: 1, late.id: 0}
    assert profiles.loc[early.id, ["segment", "size_band"]].tolist() == ["smb", "1-49"]

    view = account_icp(session, early, as_of=AS_OF)
    assert (view.model.customers, view.model.accounts) == (1, 2)
    assert view.result.fit == pytest.approx(100)
    # A lead of the same company domain reads that account's fit.
    lead = make_lead(session, company_domain=early.domain.upper() if early.domain else None)
    assert lead_icp(session, lead, as_of=AS_OF).account_id == early.id
    # One without an account is compared by its own firmographics.
    other = make_lead(session, industry="Retail", company_domain="nowhere.example.com")
    own = lead_icp(session, other, as_of=AS_OF)
    assert own.account_id is None and own.result.fit < 50


def test_without_customers_there_is_no_fit(session: Session) -> None:
    make_account(session)
    with pytest.raises(NoCustomersYet, match="no account has won revenue yet"):
        icp_model(session, AS_OF)


def test_the_database_counts_the_same_model_as_the_accounts_frame(session: Session) -> None:
    rng = random.Random(7)
    accounts = [
        make_account(
            session, industry=rng.choice(["Software", "Retail", None]),
            segment=rng.choice([Segment.SMB, Segment.ENTERPRISE, None]),
            employees=rng.choice([None, 0, 1, 49, 50, 199, 200, 999, 1000, 4999, 5000, 80000]),
            country=rng.choice(["US", "DE", None]),
        )
        for _ in range(60)
    ]  # fmt: skip
    for account in rng.sample(accounts, 20):
        deal = make_deal(session, account=account, amount_cents=rng.choice([0, 5_000_00]))
        close_deal_won(session, deal, actor=None, at=datetime(2025, 2, rng.randint(1, 28),
                       tzinfo=UTC))  # fmt: skip

    for moment in (AS_OF, datetime(2025, 2, 14, tzinfo=UTC), utcnow()):
        counted = icp_model(session, moment)
        framed = IcpModel.fit_frame(account_profiles(session, moment))
        assert (counted.customers, counted.accounts) == (framed.customers, framed.accounts)
        assert counted.counts == framed.counts
