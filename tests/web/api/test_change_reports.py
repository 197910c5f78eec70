"""Slippage and waterfall over HTTP: scope, `since`, and refusals.

The `org` fixture's deals are created on 2025-01-06 09:00 and close on 2025-03-31 (2025Q1):
Rita 10,000 Prospecting and 25,000 Proposal, Ray 40,000 Proposal and 15,000 Negotiation, Olga
100,000 Discovery; Rita's 500,000 deal is won on 2025-02-03. Here Ray's Proposal is also pushed
to 2025-04-30 on 2025-02-10.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, date, datetime

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select
from sqlalchemy.orm import Session

from tests.factories import SalesOrg
from topline.auth.models import User
from topline.crm.deals import update_deal
from topline.crm.models import Deal
from topline.crm.schemas import DealUpdate

ApiAs = Callable[[User], TestClient]

URL = "/api/v1/reports"
WINDOW = {"period": "2025Q1", "since": "2025-01-10T00:00:00Z", "as_of": "2025-03-01T00:00:00Z"}


@pytest.fixture
def pushed(session: Session, org: SalesOrg) -> Deal:
    deal = session.scalars(select(Deal).where(Deal.name == "Ray Proposal")).one()
    update_deal(
        session,
        deal,
        changes=DealUpdate(close_date=date(2025, 4, 30)),
        actor=org.ray,
        at=datetime(2025, 2, 10, tzinfo=UTC),
    )
    return deal


def test_slippage_lists_the_pushed_deal(api_as: ApiAs, org: SalesOrg, pushed: Deal) -> None:
    body = api_as(org.admin).get(f"{URL}/slippage", params=WINDOW).json()
    assert body["report"] == "slippage"
    assert body["rows"] == [
        {
            "deal_id": pushed.id,
            "name": "Ray Proposal",
            "owner_id": org.ray.id,
            "owner": "Ray",
            "from_close_date": "2025-03-31",
            "to_close_date": "2025-04-30",
            "pushes": 1,
            "amount_cents": 40_000_00,
            "back_in_period": False,
        }
    ]
    summary = body["summary"]
    assert summary["since"] == "2025-01-10T00:00:00Z"
    # Open at since: the five open deals (190,000) and Rita's deal not yet won (500,000).
    assert (summary["pipeline_at_since_cents"], summary["slipped_at_since_cents"]) == (
        690_000_00,
        40_000_00,
    )
    assert summary["slipped_share"] == pytest.approx(40 / 690)


def test_waterfall_reconciles_in_each_scope(api_as: ApiAs, org: SalesOrg, pushed: Deal) -> None:
    admin = api_as(org.admin).get(f"{URL}/waterfall", params=WINDOW).json()
    rows = {row["category"]: row["amount_cents"] for row in admin["rows"]}
    assert rows == {
        "created": 0,
        "pulled_in": 0,
        "increased": 0,
        "decreased": 0,
        "pushed_out": 40_000_00,
        "won": 500_000_00,
        "lost": 0,
        "other": 0,
    }
    summary = admin["summary"]
    assert (summary["open_at_since_cents"], summary["open_at_as_of_cents"]) == (
        690_000_00,
        150_000_00,
    )
    assert summary["reconciles"] is True
    assert summary["equation"].endswith("= open_at_as_of 15000000")

    maria = api_as(org.maria).get(f"{URL}/waterfall", params=WINDOW).json()
    assert maria["scope"]["kind"] == "team"
    assert (maria["summary"]["open_at_since_cents"], maria["summary"]["open_at_as_of_cents"]) == (
        590_000_00,
        50_000_00,
    )
    olga = api_as(org.olga).get(f"{URL}/slippage", params=WINDOW).json()
    assert (olga["rows"], olga["summary"]["pipeline_at_since_cents"]) == ([], 100_000_00)


def test_since_defaults_to_the_period_start(api_as: ApiAs, org: SalesOrg, pushed: Deal) -> None:
    params = {"period": "2025Q1", "as_of": "2025-03-01T00:00:00Z"}
    body = api_as(org.admin).get(f"{URL}/waterfall", params=params).json()
    # Nothing existed on 01-01: the deals open or won at as_of were all created; Ray's pushed
    # deal came and went in the window and moves nothing.
    assert body["summary"]["since"] == "2025-01-01T00:00:00Z"
    created = next(row for row in body["rows"] if row["category"] == "created")
    assert (created["deals"], created["amount_cents"]) == (5, 650_000_00)
    assert body["summary"]["open_at_since_cents"] == 0
    assert body["summary"]["reconciles"] is True


def test_a_scope_out_of_sight_is_404(api_as: ApiAs, org: SalesOrg) -> None:
    rita = api_as(org.rita)
    assert rita.get(f"{URL}/slippage", params={"rep_id": org.ray.id}).status_code == 404
    assert rita.get(f"{URL}/waterfall", params={"team_of": org.maria.id}).status_code == 404


@pytest.mark.parametrize("report", ["slippage", "waterfall"])
@pytest.mark.parametrize(
    ("params", "message"),
    [
        ({"since": "2025-03-02T00:00:00Z", "as_of": "2025-03-01T00:00:00Z"}, "is after as_of"),
        ({"since": "2025-01-10T00:00:00"}, ""),
        ({"since": "last week"}, ""),
        ({"period": "2025Q1", "start": "2025-01-01", "end": "2025-02-01"}, "not both"),
    ],
)
def test_bad_parameters_are_422(
    api_as: ApiAs, org: SalesOrg, report: str, params: dict[str, str], message: str
) -> None:
    response = api_as(org.admin).get(f"{URL}/{report}", params=params)
    assert response.status_code == 422
    assert message in response.json()["error"]["message"]


def test_change_reports_need_a_token(api_as: ApiAs, org: SalesOrg) -> None:
    client = api_as(org.admin)
    response = client.get(f"{URL}/waterfall", headers={"Authorization": ""})
    assert response.status_code == 401


def test_the_openapi_schema_types_both_reports(api_as: ApiAs, org: SalesOrg) -> None:
    paths = api_as(org.admin).get("/api/v1/openapi.json").json()["paths"]
    for name in ("slippage", "waterfall"):
        operation = paths[f"{URL}/{name}"]["get"]
        assert "since" in {parameter["name"] for parameter in operation["parameters"]}
        schema = operation["responses"]["200"]["content"]["application/json"]["schema"]
        assert name.capitalize() in schema["$ref"]
