"""A forecast made at a moment cannot see anything after it: every method's number, range and
drivers for a past moment are the same after everything recorded later is removed."""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import UTC, datetime

import pytest
from sqlalchemy import Engine, delete, func, or_, select, update
from sqlalchemy.orm import Session

from topline.analytics.reports import fiscal_start_month
from topline.crm.models import Account, Activity, Contact, Deal, DealHistory, DealStay, Lead
from topline.crm.stays import rebuild_stays
from topline.demo import build_demo
from topline.forecasting.models import ForecastSnapshot, ForecastSubmission
from topline.forecasting.projection import (
    METHODS,
    PROJECTION,
    TOP_DRIVERS,
    History,
    Projection,
    ended_before,
    fit_forecasters,
    project,
    quarters_between,
    training_set,
)
from topline.scoring.models import DealScore, LeadScore
from topline.storage.db import make_engine

# Builds a demo org.
pytestmark = pytest.mark.slow

# Five weeks and a bit into 2025Q3; the demo's history runs from late 2024 to late 2026.
MOMENT = datetime(2025, 8, 6, 15, 30, 17, tzinfo=UTC)


@pytest.fixture(scope="module")
def demo_engine(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Engine]:
    """The small demo org (two years of selling) in a SQLite file."""
    engine = make_engine(f"sqlite:///{tmp_path_factory.mktemp('no_peeking') / 'org.sqlite'}")
    build_demo(engine, size="small", seed=3)
    yield engine
    engine.dispose()


def forecast_at(session: Session, moment: datetime) -> Projection:
    """The org's forecast of the quarter holding `moment`, fitted on the quarters ended by it."""
    first = session.scalar(select(func.min(DealHistory.valid_from)))
    assert first is not None
    quarters = quarters_between(first, moment, fiscal_start_month(session))
    history = History(session)
    forecasters = fit_forecasters(training_set(history, ended_before(quarters, moment)))
    assert forecasters.shortage is None
    return project(history.moment(quarters[-1], moment), forecasters)


def truncate_after(session: Session, moment: datetime) -> int:
    """Make the database what it was at `moment`: everything recorded later goes, history rows
    current then become current, and the deals table holds their state. Returns the number of
    rows removed or changed."""
    history = DealHistory.__table__
    later_deals = select(Deal.id).where(Deal.created_at > moment).scalar_subquery()
    later_leads = select(Lead.id).where(
        or_(Lead.created_at > moment, Lead.converted_deal_id.in_(later_deals))
    )
    later_contacts = select(Contact.id).where(Contact.created_at > moment)
    later_accounts = select(Account.id).where(Account.created_at > moment)
    statements = [
        delete(Activity).where(
            or_(
                Activity.occurred_at > moment,
                Activity.deal_id.in_(later_deals),
                Activity.lead_id.in_(later_leads),
                Activity.contact_id.in_(later_contacts),
                Activity.account_id.in_(later_accounts),
            )
        ),
        delete(DealScore).where(
            or_(DealScore.scored_at > moment, DealScore.deal_id.in_(later_deals))
        ),
        delete(LeadScore).where(LeadScore.scored_at > moment),
        delete(ForecastSubmission).where(ForecastSubmission.submitted_at > moment),
        delete(ForecastSnapshot).where(ForecastSnapshot.taken_at > moment),
        delete(Lead).where(Lead.id.in_(later_leads)),
        update(Lead)
        .where(Lead.converted_at > moment)
        .values(
            converted_at=None,
            converted_account_id=None,
            converted_contact_id=None,
            converted_deal_id=None,
        ),
        delete(DealHistory).where(DealHistory.deal_id.in_(later_deals)),
        delete(DealStay).where(DealStay.deal_id.in_(later_deals)),
        delete(Deal).where(Deal.id.in_(later_deals)),
        delete(DealHistory).where(history.c.valid_from > moment),
        update(DealHistory).where(history.c.valid_to > moment).values(valid_to=None),
        update(Deal).where(Deal.contact_id.in_(later_contacts)).values(contact_id=None),
        delete(Contact).where(Contact.id.in_(later_contacts)),
        delete(Account).where(Account.id.in_(later_accounts)),
    ]
    changed = sum(session.execute(statement).rowcount for statement in statements)  # type: ignore[attr-defined]
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
            )
        )
    session.flush()
    session.expire_all()
    return changed


def test_the_future_cannot_change_a_forecast(demo_engine: Engine) -> None:
    with Session(demo_engine) as session:
        before = forecast_at(session, MOMENT)
        # Every method is there, with a range, drivers and a run rate of new deals.
        assert set(before.methods) == set(METHODS)
        ranged = before.methods[PROJECTION]
        assert ranged.p10 is not None and ranged.p90 is not None
        assert ranged.p10 < ranged.expected < ranged.p90
        assert before.drivers and before.new_deals_cents > 0
        assert before.won_cents > 0 and before.open_deals > 0
        # The deals that move the projection most, largest first, with phrased factors.
        assert len(before.drivers) == TOP_DRIVERS
        expected = [driver.expected_cents for driver in before.drivers]
        assert expected == sorted(expected, reverse=True)
        for driver in before.drivers:
            assert driver.expected_cents == pytest.approx(driver.amount_cents * driver.probability)
            assert driver.factors
            assert all(re.fullmatch(r".+: [+−]\d+ pts?", factor) for factor in driver.factors)

        removed = truncate_after(session, MOMENT)
        # Not vacuous: a year of later selling is gone.
        assert removed > 1000
        assert session.scalar(select(func.max(DealHistory.valid_from))) <= MOMENT  # type: ignore[operator]
        after = forecast_at(session, MOMENT)
        session.rollback()

    assert after.methods == before.methods
    assert after.drivers == before.drivers
    assert (after.won_cents, after.open_deals, after.new_deals_cents) == (
        before.won_cents,
        before.open_deals,
        before.new_deals_cents,
    )
    assert after == before
