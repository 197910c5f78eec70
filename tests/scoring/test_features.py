"""Deal features as of a moment: hand-checked values, and proof that nothing after the moment
can reach them."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta

import numpy as np
import pandas as pd
import pytest
from sqlalchemy import delete, insert, select, update
from sqlalchemy.orm import Session

from tests.factories import T0, make_account, make_contact, make_deal, make_pipeline, make_user
from topline.auth.models import User
from topline.crm.activities import log_activity
from topline.crm.deals import (
    close_deal_lost,
    close_deal_won,
    move_deal_to_stage,
    reopen_deal,
    update_deal,
)
from topline.crm.enums import (
    ActivityType,
    BuyingRole,
    DealType,
    ForecastCategory,
    Segment,
    StageType,
)
from topline.crm.models import Activity, Contact, Deal, DealHistory, DealStay, Pipeline, Stage
from topline.crm.pipelines import list_stages
from topline.crm.schemas import DealUpdate
from topline.crm.stays import rebuild_stays
from topline.scoring.features import (
    FEATURES,
    IDENTIFIERS,
    PERIOD_FEATURE,
    deal_features,
    deal_outcomes,
    describe_feature,
)

AS_OF = T0 + timedelta(days=45)


def day(n: float) -> datetime:
    """`n` days after T0 (Monday 2025-01-06 09:00 UTC)."""
    return T0 + timedelta(days=n)


@dataclass
class TinyOrg:
    """Rita's deal A, worked and pushed up to AS_OF and changed on after it; closes that rate
    the owners; Ray's bare deal F and Gus's deal G, whose owner has closed nothing."""

    pipeline: Pipeline
    rita: User
    ray: User
    gus: User
    deal_a: Deal
    deal_f: Deal
    deal_g: Deal


def stage(session: Session, pipeline: Pipeline, name: str) -> Stage:
    return next(s for s in list_stages(session, pipeline.id) if s.name == name)


def log(session: Session, user: User, deal: Deal, kind: ActivityType, at: datetime, **kw):  # type: ignore[no-untyped-def]
    return log_activity(
        session, user=user, type=kind, subject=kind.value, occurred_at=at, deal=deal, at=at, **kw
    )


@pytest.fixture
def tiny(session: Session) -> TinyOrg:
    pipeline = make_pipeline(session)
    rita = make_user(session, name="Rita", hired_at=day(-100))
    ray = make_user(session, name="Ray", hired_at=day(-400))
    gus = make_user(session, name="Gus", hired_at=day(-10))
    acme = make_account(
        session, owner=rita, segment=Segment.MID_MARKET, industry="Software", employees=250
    )
    boss = make_contact(
        session, account=acme, buying_role=BuyingRole.DECISION_MAKER, created_at=day(-10)
    )
    user = make_contact(session, account=acme, buying_role=BuyingRole.USER, created_at=T0)
    a = make_deal(
        session, owner=rita, pipeline=pipeline, account=acme, amount_cents=10_000_00,
        close_date=date(2025, 3, 31), source="Referral", at=T0,
    )  # fmt: skip
    move_deal_to_stage(session, a, stage=stage(session, pipeline, "Qualification"), actor=rita,
                       at=day(5))  # fmt: skip
    update_deal(session, a, actor=rita, at=day(10), changes=DealUpdate(
        amount_cents=12_000_00, close_date=date(2025, 4, 30)))  # fmt: skip
    update_deal(
        session, a, changes=DealUpdate(close_date=date(2025, 4, 15)), actor=rita, at=day(12)
    )
    update_deal(session, a, actor=rita, at=day(30), changes=DealUpdate(
        close_date=date(2025, 5, 15), forecast_category=ForecastCategory.BEST_CASE))  # fmt: skip
    log(session, rita, a, ActivityType.CALL, day(1))
    log(session, rita, a, ActivityType.EMAIL, day(20), contact=boss, email_opened=True,
        email_replied=True)  # fmt: skip
    log(session, rita, a, ActivityType.MEETING, day(40), contact=user)
    # Closes that rate the owners: Rita won one and lost one, Ray lost two (org: 1 of 4).
    for owner, won, at in ((rita, True, 20), (rita, False, 25), (ray, False, 21), (ray, False, 22)):
        closed = make_deal(session, owner=owner, pipeline=pipeline, at=T0)
        if won:
            close_deal_won(session, closed, actor=owner, at=day(at))
        else:
            close_deal_lost(session, closed, loss_reason="Price", actor=owner, at=day(at))
    f = make_deal(session, owner=ray, pipeline=pipeline, amount_cents=0, at=day(44),
                  type=DealType.RENEWAL)  # fmt: skip
    g = make_deal(session, owner=gus, pipeline=pipeline, at=day(40))
    # What happens after AS_OF: none of it may show in the features as of AS_OF.
    champion = make_contact(
        session, account=acme, buying_role=BuyingRole.CHAMPION, created_at=day(50)
    )
    log(session, rita, a, ActivityType.EMAIL, day(50), contact=champion, email_clicked=True)
    log(session, rita, a, ActivityType.MEETING, AS_OF)  # at the moment itself: not before it
    update_deal(session, a, changes=DealUpdate(amount_cents=20_000_00, close_date=date(2025, 6, 1)),
                actor=rita, at=day(50))  # fmt: skip
    move_deal_to_stage(session, a, stage=stage(session, pipeline, "Proposal"), actor=rita,
                       at=day(55))  # fmt: skip
    close_deal_won(session, a, actor=rita, at=day(60))
    close_deal_lost(session, f, loss_reason="No decision", actor=ray, at=day(70))
    make_deal(session, owner=gus, pipeline=pipeline, at=day(46))
    return TinyOrg(pipeline, rita, ray, gus, a, f, g)


class TestHandChecked:
    def test_only_the_deals_open_at_the_moment_appear(
        self, session: Session, tiny: TinyOrg
    ) -> None:
        frame = deal_features(session, AS_OF)
        assert frame["deal_id"].tolist() == [tiny.deal_a.id, tiny.deal_f.id, tiny.deal_g.id]
        assert list(frame.columns) == [*IDENTIFIERS, *FEATURES]

    def test_the_worked_deal_reads_as_it_stood(self, session: Session, tiny: TinyOrg) -> None:
        row = deal_features(session, AS_OF).set_index("deal_id").loc[tiny.deal_a.id]
        expected = {
            "owner_id": tiny.rita.id,
            "close_date": date(2025, 5, 15),
            "stage": "Qualification",
            "stage_position": 2,
            "forecast_category": "best_case",
            "deal_type": "new_business",
            "source": "Referral",
            "segment": "mid_market",
            "industry": "Software",
            "employees": 250.0,
            "age_days": 45.0,
            "days_in_stage": 40.0,
            "days_since_change": 15.0,
            "amount_cents": 12_000_00.0,
            "amount_change_pct": 20.0,
            "amount_changes": 1.0,
            # 2025-03-31 → 04-30 and 04-15 → 05-15 push; 04-30 → 04-15 pulls in.
            "close_date_pushes": 2.0,
            "days_to_close": float((date(2025, 5, 15) - AS_OF.date()).days),
            # Rita won 1 of 2 closes; the org 1 of 4; ten pseudo-deals at the org's rate.
            "owner_win_rate": (1 + 10 * 0.25) / (2 + 10),
            "owner_closes": 2.0,
            "owner_tenure_days": 145.0,
            "activities": 3.0,
            "activities_30d": 2.0,
            "activities_90d": 3.0,
            "meetings": 1.0,
            "emails": 1.0,
            "emails_opened": 1.0,
            "emails_clicked": 0.0,
            "emails_replied": 1.0,
            "contacts_engaged": 2.0,
            "days_since_activity": 5.0,
            "contacts": 2.0,
            "buying_roles": 2.0,
            "has_decision_maker": 1.0,
            "has_champion": 0.0,
        }
        assert {name: row[name] for name in expected} == pytest.approx(expected)
        assert row["days_to_close"] == 84

    def test_a_bare_deal_has_zero_counts_and_missing_recency(
        self, session: Session, tiny: TinyOrg
    ) -> None:
        frame = deal_features(session, AS_OF).set_index("deal_id")
        bare = frame.loc[tiny.deal_f.id]
        assert bare["activities"] == 0 and bare["contacts"] == 0 and bare["close_date_pushes"] == 0
        assert np.isnan(bare["days_since_activity"])
        assert np.isnan(bare["amount_change_pct"])  # created at zero
        assert pd.isna(bare["account_id"]) and pd.isna(bare["segment"])
        assert bare["deal_type"] == "renewal"
        assert bare["owner_win_rate"] == pytest.approx((0 + 10 * 0.25) / (2 + 10))
        # An owner without closes has the org's rate.
        new_rep = frame.loc[tiny.deal_g.id]
        assert new_rep["owner_win_rate"] == pytest.approx(0.25)
        assert new_rep["owner_closes"] == 0

    def test_deal_ids_and_period_end(self, session: Session, tiny: TinyOrg) -> None:
        frame = deal_features(
            session, AS_OF, deal_ids=[tiny.deal_g.id, 999_999], period_end=date(2025, 4, 1)
        )
        assert frame["deal_id"].tolist() == [tiny.deal_g.id]
        assert frame[PERIOD_FEATURE].tolist() == [(date(2025, 4, 1) - AS_OF.date()).days]

    def test_before_any_deal_the_frame_is_empty_with_every_column(
        self, session: Session, tiny: TinyOrg
    ) -> None:
        frame = deal_features(session, day(-1))
        assert frame.empty
        assert list(frame.columns) == [*IDENTIFIERS, *FEATURES]
        assert frame["amount_cents"].dtype == np.float64

    def test_a_reopened_deal_is_open_again(self, session: Session, tiny: TinyOrg) -> None:
        reopen_deal(session, tiny.deal_f, stage=stage(session, tiny.pipeline, "Discovery"),
                    close_date=date(2025, 6, 30), actor=tiny.ray, at=day(80))  # fmt: skip
        assert tiny.deal_f.id not in deal_features(session, day(75))["deal_id"].tolist()
        row = deal_features(session, day(81)).set_index("deal_id").loc[tiny.deal_f.id]
        assert row["stage"] == "Discovery" and row["days_in_stage"] == 1
        # Reopening sets a new close date; it is not a push of an open deal.
        assert row["close_date_pushes"] == 0


class TestNoLeakage:
    def test_features_ignore_everything_after_the_moment(
        self, session: Session, tiny: TinyOrg
    ) -> None:
        before = deal_features(session, AS_OF)
        later = deal_features(session, day(52))
        # Not vacuous: what happens after AS_OF does change the features of later moments.
        a_later = later.set_index("deal_id").loc[tiny.deal_a.id]
        assert a_later["amount_changes"] == 2 and a_later["has_champion"] == 1

        truncate_after(session, AS_OF)

        after = deal_features(session, AS_OF)
        pd.testing.assert_frame_equal(before, after)

    def test_shuffled_insertion_order_gives_the_same_features(
        self, session: Session, tiny: TinyOrg
    ) -> None:
        before = deal_features(session, AS_OF)
        # Rewrite every history row with new ids in reverse order: ids carry no meaning.
        rows = session.execute(select(DealHistory.__table__)).mappings().all()
        session.execute(delete(DealHistory))
        top = max(row["id"] for row in rows)
        session.execute(
            insert(DealHistory),
            [{**row, "id": top + len(rows) - n} for n, row in enumerate(rows)],
        )
        pd.testing.assert_frame_equal(before, deal_features(session, AS_OF))


def truncate_after(session: Session, moment: datetime) -> None:
    """Make the database what it was at `moment`: later history, activities, contacts and
    deals go, rows current then become current, and the deals table holds their state."""
    history = DealHistory.__table__
    session.execute(delete(Activity).where(Activity.occurred_at >= moment))
    session.execute(delete(Contact).where(Contact.created_at >= moment))
    later_deals = select(Deal.id).where(Deal.created_at > moment)
    session.execute(delete(DealHistory).where(DealHistory.deal_id.in_(later_deals)))
    session.execute(delete(DealStay).where(DealStay.deal_id.in_(later_deals)))
    session.execute(delete(Deal).where(Deal.id.in_(later_deals)))
    session.execute(delete(DealHistory).where(history.c.valid_from > moment))
    session.execute(update(DealHistory).where(history.c.valid_to > moment).values(valid_to=None))
    rebuild_stays(session)
    for row in session.execute(select(history).where(history.c.valid_to.is_(None))).mappings():
        session.execute(
            update(Deal)
            .where(Deal.id == row["deal_id"])
            .values(
                stage_id=row["stage_id"],
                amount_cents=row["amount_cents"],
                close_date=row["close_date"],
                forecast_category=row["forecast_category"],
                owner_id=row["owner_id"],
                closed_at=row["closed_at"],
                version=Deal.version + 1,
            )
        )
    session.expire_all()


class TestOutcomes:
    def test_open_deals_are_labelled_by_their_state_at_the_label_moment(
        self, session: Session, tiny: TinyOrg
    ) -> None:
        outcomes = deal_outcomes(session, AS_OF, day(65)).set_index("deal_id")
        # A is won by day 65; F is still open then (lost on day 70); G stays open.
        assert outcomes["won"].to_dict() == {tiny.deal_a.id: 1}
        assert outcomes.loc[tiny.deal_a.id, "closed_at"] == pd.Timestamp(day(60))
        later = deal_outcomes(session, AS_OF, day(75)).set_index("deal_id")
        assert later["won"].to_dict() == {tiny.deal_a.id: 1, tiny.deal_f.id: 0}

    def test_deals_closed_before_the_moment_are_not_labelled(
        self, session: Session, tiny: TinyOrg
    ) -> None:
        labelled = deal_outcomes(session, day(30), day(75))["deal_id"].tolist()
        assert tiny.deal_a.id in labelled
        closed_before = session.scalars(
            select(DealHistory.deal_id).where(
                DealHistory.stage_type != StageType.OPEN, DealHistory.closed_at < day(30)
            )
        ).all()
        assert closed_before and not set(closed_before) & set(labelled)


@pytest.mark.parametrize(
    ("name", "value", "text"),
    [
        ("close_date_pushes", 3.0, "3 close-date pushes"),
        ("close_date_pushes", 1.0, "1 close-date push"),
        ("days_to_close", -4.0, "Close date 4 days past"),
        ("days_to_close", 1.0, "Closes in 1 day"),
        ("amount_change_pct", -20.4, "Amount −20 % since creation"),
        ("owner_win_rate", 0.341, "Owner's win rate 34%"),
        ("has_decision_maker", 0.0, "No decision maker known"),
        ("days_since_activity", float("nan"), "No activity yet"),
        ("deal_type", "new_business", "Type new business"),
        ("employees", None, "Employees unknown"),
        ("amount_cents", 4_873_000.0, "Amount 48,730"),
    ],
)
def test_describe_feature(name: str, value: object, text: str) -> None:
    assert describe_feature(name, value) == text


def test_moments_are_taken_in_utc(session: Session, tiny: TinyOrg) -> None:
    local = AS_OF.astimezone(UTC).replace(tzinfo=None)
    pd.testing.assert_frame_equal(deal_features(session, local), deal_features(session, AS_OF))
