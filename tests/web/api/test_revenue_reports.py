"""Revenue reports over HTTP: the caller's scope, the figures, and refusals.

The `org` fixture's reps (Rita and Ray in Maria's team, Olga in Otto's) were all hired on
2025-01-06 09:00, so nobody has a year of tenure and nobody can ramp; Rita's 500,000 deal was
won on 2025-02-03, in her first month of tenure. On top of it, Rita's account Acme buys a
subscription: new business won on 2025-02-10 at 1,000 a month (12,000), and Ray's account
Zed 400 a month, won on 2025-02-12 (4,800).
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, date, datetime

import pytest
from fastapi.testclient import TestClient
from sqlalchemy.orm import Session

from tests.factories import SalesOrg, make_account, make_deal, stage_named
from topline.auth.models import User
from topline.crm.deals import close_deal_won

ApiAs = Callable[[User], TestClient]

URL = "/api/v1/reports"
MARCH = {"as_of": "2025-03-01T00:00:00Z"}
Q1 = {"period": "2025Q1", **MARCH}


@pytest.fixture
def subscriptions(session: Session, org: SalesOrg) -> SalesOrg:
    for rep, name, dollars, day in ((org.rita, "Acme", 1_000, 10), (org.ray, "Zed", 400, 12)):
        deal = make_deal(
            session, owner=rep, stage=stage_named(session, org.pipeline, "Proposal"),
            account=make_account(session, owner=rep, name=name), amount_cents=dollars * 1_200,
            recurring_amount_cents=dollars * 100, close_date=date(2025, 2, day),
        )  # fmt: skip
        close_deal_won(session, deal, actor=rep, at=datetime(2025, 2, day, 12, tzinfo=UTC))
    return org


def test_ramp_for_each_role(api_as: ApiAs, org: SalesOrg) -> None:
    admin = api_as(org.admin).get(f"{URL}/ramp", params=MARCH).json()
    assert admin["report"] == "ramp" and admin["scope"]["kind"] == "org"
    assert admin["period"] == {
        "label": "2024-03-01..2025-03-02",
        "start": "2024-03-01",
        "end": "2025-03-02",
    }
    assert admin["summary"] == {
        "window_months": 12,
        "new_reps": 3,
        "ramped_reps": 0,
        "tenured_reps": 0,
        "bar_cents": None,
        "tenured_monthly_median_cents": None,
        "median_ramp_days": None,
    }
    rita = next(row for row in admin["rows"] if row["name"] == "Rita")
    assert (rita["bookings_cents"], rita["ramp_days"], rita["ramped_on"]) == (
        500_000_00,
        None,
        None,
    )
    assert [(m["month"], m["start"], m["bookings_cents"]) for m in rita["months"]] == [
        (1, "2025-01-06", 500_000_00),
        (2, "2025-02-06", 0),
    ]
    maria = api_as(org.maria).get(f"{URL}/ramp", params=MARCH).json()
    assert sorted(row["name"] for row in maria["rows"]) == ["Ray", "Rita"]
    ray = api_as(org.ray).get(f"{URL}/ramp", params=MARCH).json()
    assert [row["name"] for row in ray["rows"]] == ["Ray"]
    assert ray["scope"] == {"kind": "rep", "id": org.ray.id, "name": "Ray"}


def test_ramp_window(api_as: ApiAs, org: SalesOrg) -> None:
    client = api_as(org.admin)
    # Hired on 2025-01-06: within two months of 2025-03-01, not within one.
    two = client.get(f"{URL}/ramp", params={**MARCH, "window": 2}).json()
    assert (two["summary"]["new_reps"], two["period"]["start"]) == (3, "2025-01-01")
    one = client.get(f"{URL}/ramp", params={**MARCH, "window": 1}).json()
    assert (one["summary"]["new_reps"], one["rows"]) == (0, [])
    for bad in (0, 121, "x"):
        assert client.get(f"{URL}/ramp", params={"window": bad}).status_code == 422


def test_mrr_for_each_role(api_as: ApiAs, subscriptions: SalesOrg) -> None:
    admin = api_as(subscriptions.admin).get(f"{URL}/mrr", params=Q1).json()
    assert admin["report"] == "mrr"
    assert admin["summary"] == {
        "mrr_cents": 1_400_00,
        "mrr_12_months_ago_cents": 0,
        "cohort_expansion_cents": 0,
        "cohort_contraction_cents": 0,
        "cohort_churn_cents": 0,
        "nrr": None,
        # Rita's 500,000 deal and the two subscriptions, all new business.
        "new_business_cents": 500_000_00 + 12_000_00 + 4_800_00,
        "expansion_cents": 0,
        "renewal_cents": 0,
    }
    assert [(row["key"], row["new_cents"], row["mrr_end_cents"]) for row in admin["rows"]] == [
        ("2025-01", 0, 0),
        ("2025-02", 1_400_00, 1_400_00),
        ("2025-03", 0, 1_400_00),
    ]
    rita = api_as(subscriptions.rita).get(f"{URL}/mrr", params={**Q1, "by": "account"}).json()
    assert [(row["key"], row["mrr_end_cents"]) for row in rita["rows"]] == [("Acme", 1_000_00)]
    maria = api_as(subscriptions.maria).get(f"{URL}/mrr", params={**Q1, "by": "account"}).json()
    assert [row["key"] for row in maria["rows"]] == ["Acme", "Zed"]
    assert maria["rows"][0]["id"] is not None and maria["rows"][0]["start"] is None


def test_a_scope_out_of_sight_is_404(api_as: ApiAs, org: SalesOrg) -> None:
    rita = api_as(org.rita)
    assert rita.get(f"{URL}/ramp", params={"rep_id": org.ray.id}).status_code == 404
    assert rita.get(f"{URL}/mrr", params={"team_of": org.maria.id}).status_code == 404
    maria = api_as(org.maria)
    assert maria.get(f"{URL}/mrr", params={"rep_id": org.olga.id}).status_code == 404
    assert maria.get(f"{URL}/ramp", params={"rep_id": org.ray.id}).status_code == 200


@pytest.mark.parametrize("report", ["ramp", "mrr"])
def test_bad_parameters_are_422_and_a_token_is_needed(
    api_as: ApiAs, org: SalesOrg, report: str
) -> None:
    client = api_as(org.admin)
    assert client.get(f"{URL}/{report}", params={"as_of": "2025-03-01"}).status_code == 422
    assert client.get(f"{URL}/{report}", params={"rep_id": 0}).status_code == 422
    assert client.get(f"{URL}/{report}", headers={"Authorization": ""}).status_code == 401


def test_mrr_refuses_a_bad_period_or_breakdown(api_as: ApiAs, org: SalesOrg) -> None:
    client = api_as(org.admin)
    response = client.get(f"{URL}/mrr", params={"start": "2025-01-01"})
    assert response.status_code == 422
    assert "needs both start and end" in response.json()["error"]["message"]
    assert client.get(f"{URL}/mrr", params={"period": "2025Q5"}).status_code == 422
    assert client.get(f"{URL}/mrr", params={"by": "rep"}).status_code == 422


def test_the_reports_are_in_the_openapi_schema(api_as: ApiAs, org: SalesOrg) -> None:
    paths = api_as(org.admin).get("/api/v1/openapi.json").json()["paths"]
    for report in ("ramp", "mrr"):
        schema = paths[f"{URL}/{report}"]["get"]["responses"]["200"]["content"]
        assert "$ref" in schema["application/json"]["schema"]
    parameters = {p["name"] for p in paths[f"{URL}/ramp"]["get"]["parameters"]}
    assert {"window", "as_of", "team_of", "rep_id"} <= parameters and "period" not in parameters
