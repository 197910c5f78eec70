"""`topline.crm.queries` against both databases."""

from __future__ import annotations

from sqlalchemy.orm import Session

from tests.factories import SalesOrg, make_deal, make_pipeline, make_user, stage_named
from tests.helpers import assert_max_queries
from topline.crm.queries import (
    StageTotals,
    largest_open_deals,
    open_pipeline_by_stage,
    pipeline_totals,
)


def test_by_stage_is_one_query_in_stage_order(session: Session, org: SalesOrg) -> None:
    session.expunge_all()

    with assert_max_queries(session, 1):
        stages = open_pipeline_by_stage(session, owner_ids=None, pipeline_id=org.pipeline.id)

    assert [(s.stage_name, s.deal_count, s.amount_cents) for s in stages] == [
        ("Prospecting", 1, 10_000_00),
        ("Qualification", 0, 0),
        ("Discovery", 1, 100_000_00),
        ("Proposal", 2, 65_000_00),
        ("Negotiation", 1, 15_000_00),
    ]
    assert all(type(s.amount_cents) is int for s in stages)


def test_by_stage_respects_owner_scope(session: Session, org: SalesOrg) -> None:
    stages = open_pipeline_by_stage(
        session, owner_ids=[org.ray.id, org.olga.id], pipeline_id=org.pipeline.id
    )

    assert pipeline_totals(stages).amount_cents == 155_000_00


def test_empty_scope_gives_zero_rows_not_an_error(session: Session, org: SalesOrg) -> None:
    stages = open_pipeline_by_stage(session, owner_ids=[], pipeline_id=org.pipeline.id)

    assert pipeline_totals(stages).deal_count == 0
    assert len(stages) == 5


def test_weighted_amount_rounds_half_cents_up(session: Session) -> None:
    pipeline = make_pipeline(session)
    rep = make_user(session)
    make_deal(
        session, owner=rep, stage=stage_named(session, pipeline, "Prospecting"), amount_cents=5
    )
    make_deal(
        session, owner=rep, stage=stage_named(session, pipeline, "Proposal"), amount_cents=333
    )

    stages = open_pipeline_by_stage(session, owner_ids=[rep.id], pipeline_id=pipeline.id)

    # 5 × 10 % = 0.5 -> 1 cent; 333 × 60 % = 199.8 -> 200 cents
    assert [s.weighted_amount_cents for s in stages if s.deal_count] == [1, 200]
    assert pipeline_totals(stages).weighted_amount_cents == 201


def test_stage_totals_weighting_is_pure() -> None:
    row = StageTotals(
        stage_id=1, stage_name="Proposal", probability=0.6, deal_count=3, amount_cents=1_000_000
    )

    assert row.weighted_amount_cents == 600_000


def test_largest_open_deals_orders_by_amount_then_close_date(
    session: Session, org: SalesOrg
) -> None:
    session.expunge_all()

    with assert_max_queries(session, 1):
        deals = largest_open_deals(session, owner_ids=None, pipeline_id=org.pipeline.id, limit=3)

    assert [(d.name, d.owner_name, d.stage_name) for d in deals] == [
        ("Olga Discovery", "Olga", "Discovery"),
        ("Ray Proposal", "Ray", "Proposal"),
        ("Rita Proposal", "Rita", "Proposal"),
    ]
    assert deals[0].account_name == "Olga Discovery Inc"
