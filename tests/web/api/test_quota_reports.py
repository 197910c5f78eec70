"""Quota reports over HTTP: the caller's scope, the figures, and refusals.

On top of the `org` fixture (deals closing 2025-03-31; Rita won 500,000 on 2025-02-03; open:
Rita 10,000 Prospecting and 25,000 Proposal, Ray 40,000 Proposal and 15,000 Negotiation, Olga
100,000 Discovery), the quotas for 2025Q1: the team East led by Maria 1,500,000, Rita
1,000,000, Ray 200,000, Olga 300,000.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import date

import pytest
from fastapi.testclient import TestClient
from sqlalchemy.orm import Session

from tests.factories import SalesOrg
from topline.auth.models import Team, User
from topline.quotas.service import set_quota

ApiAs = Callable[[User], TestClient]

URL = "/api/v1/reports"
Q1 = {"period": "2025Q1", "as_of": "2025-03-01T00:00:00Z"}


@pytest.fixture
def quotas(session: Session, org: SalesOrg) -> SalesOrg:
    east = Team(name="East", manager_id=org.maria.id)
    session.add(east)
    session.flush()
    start, end = date(2025, 1, 1), date(2025, 4, 1)
    set_quota(session, team=east, amount_cents=1_500_000_00, period_start=start, period_end=end)
    for rep, dollars in ((org.rita, 1_000_000), (org.ray, 200_000), (org.olga, 300_000)):
        set_quota(session, user=rep, amount_cents=dollars * 100, period_start=start, period_end=end)
    return org


def test_a_rep_sees_their_own_coverage(api_as: ApiAs, quotas: SalesOrg) -> None:
    body = api_as(quotas.rita).get(f"{URL}/coverage", params=Q1).json()
    assert body["report"] == "coverage"
    assert body["scope"] == {"kind": "rep", "id": quotas.rita.id, "name": "Rita"}
    assert body["summary"] == {
        "quota_cents": 1_000_000_00,
        "won_cents": 500_000_00,
        "remaining_quota_cents": 500_000_00,
        "open_pipeline_cents": 35_000_00,
        "weighted_pipeline_cents": 16_000_00,  # 10 % of 10,000 and 60 % of 25,000
        "coverage": 0.07,
        "note": None,
    }
    assert [row["name"] for row in body["rows"]] == ["Rita"]


def test_a_manager_sees_the_team_against_its_team_quota(api_as: ApiAs, quotas: SalesOrg) -> None:
    body = api_as(quotas.maria).get(f"{URL}/attainment", params=Q1).json()
    assert body["scope"]["kind"] == "team" and body["scope"]["id"] == quotas.maria.id
    summary = body["summary"]
    assert (summary["quota_cents"], summary["won_cents"]) == (1_500_000_00, 500_000_00)
    assert summary["attainment"] == pytest.approx(1 / 3)
    assert [(row["name"], row["attainment"], row["note"]) for row in body["rows"]] == [
        ("Rita", 0.5, None),
        ("Ray", 0.0, None),
    ]


def test_the_leaderboard_of_the_org(api_as: ApiAs, quotas: SalesOrg) -> None:
    body = api_as(quotas.admin).get(f"{URL}/leaderboard", params=Q1).json()
    assert [(row["rank"], row["name"], row["won_cents"]) for row in body["rows"]] == [
        (1, "Rita", 500_000_00),
        (2, "Olga", 0),
        (3, "Ray", 0),
    ]
    rita = body["rows"][0]
    assert (rita["deals_won"], rita["win_rate"], rita["average_deal_size_cents"]) == (
        1,
        1.0,
        500_000_00,
    )
    # The org's quota sums the reps': 1,000,000 + 200,000 + 300,000.
    assert body["summary"]["quota_cents"] == 1_500_000_00
    # Before Rita's win nothing was won.
    before = {**Q1, "as_of": "2025-02-01T00:00:00Z"}
    early = api_as(quotas.admin).get(f"{URL}/leaderboard", params=before).json()
    assert early["summary"]["won_cents"] == 0 and early["summary"]["win_rate"] is None


def test_a_scope_out_of_sight_is_404(api_as: ApiAs, quotas: SalesOrg) -> None:
    rita = api_as(quotas.rita)
    assert rita.get(f"{URL}/coverage", params={"rep_id": quotas.ray.id}).status_code == 404
    assert rita.get(f"{URL}/attainment", params={"team_of": quotas.maria.id}).status_code == 404
    maria = api_as(quotas.maria)
    assert maria.get(f"{URL}/leaderboard", params={"rep_id": quotas.olga.id}).status_code == 404
    ray = maria.get(f"{URL}/coverage", params={**Q1, "rep_id": quotas.ray.id}).json()
    assert ray["summary"]["quota_cents"] == 200_000_00
    assert ray["summary"]["open_pipeline_cents"] == 55_000_00


@pytest.mark.parametrize("report", ["coverage", "attainment", "leaderboard"])
def test_bad_parameters_are_422_and_a_token_is_needed(
    api_as: ApiAs, quotas: SalesOrg, report: str
) -> None:
    client = api_as(quotas.admin)
    response = client.get(f"{URL}/{report}", params={"start": "2025-01-01"})
    assert response.status_code == 422
    assert "needs both start and end" in response.json()["error"]["message"]
    assert client.get(f"{URL}/{report}", params={"period": "2025Q5"}).status_code == 422
    assert client.get(f"{URL}/{report}", headers={"Authorization": ""}).status_code == 401


def test_the_reports_are_in_the_openapi_schema(api_as: ApiAs, quotas: SalesOrg) -> None:
    paths = api_as(quotas.admin).get("/api/v1/openapi.json").json()["paths"]
    for report in ("coverage", "attainment", "leaderboard"):
        schema = paths[f"{URL}/{report}"]["get"]["responses"]["200"]["content"]
        assert "$ref" in schema["application/json"]["schema"]
