"""People reports over HTTP: the caller's scope, the figures, and refusals.

On top of the `org` fixture (deals created on 2025-01-06 09:00, closing 2025-03-31: Rita 10,000
Prospecting and 25,000 Proposal, Ray 40,000 Proposal and 15,000 Negotiation, Olga 100,000
Discovery; Rita's 500,000 deal without an account, created in Negotiation, won on 2025-02-03),
Ray wins 100,000 at Acme (created in Proposal on 01-10, won 02-15), Rita logs two calls and
Ray an email in February. Maria manages Rita and Ray and owns no deal.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime

import pytest
from fastapi.testclient import TestClient
from sqlalchemy.orm import Session

from tests.factories import SalesOrg, make_account, make_deal, stage_named
from topline.auth.models import User
from topline.crm.activities import log_activity
from topline.crm.deals import close_deal_won
from topline.crm.enums import ActivityType

ApiAs = Callable[[User], TestClient]

URL = "/api/v1/reports"
Q1 = {"period": "2025Q1", "as_of": "2025-03-01T00:00:00Z"}


@pytest.fixture
def sales(session: Session, org: SalesOrg) -> SalesOrg:
    acme = make_account(session, owner=org.ray, name="Acme")
    won = make_deal(
        session, owner=org.ray, stage=stage_named(session, org.pipeline, "Proposal"),
        account=acme, amount_cents=100_000_00, at=datetime(2025, 1, 10, tzinfo=UTC),
    )  # fmt: skip
    close_deal_won(session, won, actor=org.ray, at=datetime(2025, 2, 15, tzinfo=UTC))
    for user, kind, day in (
        (org.rita, ActivityType.CALL, 3),
        (org.rita, ActivityType.CALL, 4),
        (org.ray, ActivityType.EMAIL, 5),
    ):
        moment = datetime(2025, 2, day, tzinfo=UTC)
        log_activity(
            session, user=user, type=kind, subject="Follow-up", occurred_at=moment, account=acme,
            at=moment,
        )  # fmt: skip
    return org


def metrics_of(row: dict[str, object]) -> dict[str, object]:
    return {m["metric"]: m["value"] for m in row["metrics"]}  # type: ignore[attr-defined]


def test_a_rep_is_compared_with_themselves(api_as: ApiAs, sales: SalesOrg) -> None:
    body = api_as(sales.rita).get(f"{URL}/reps", params=Q1).json()
    assert body["report"] == "reps"
    assert body["scope"] == {"kind": "rep", "id": sales.rita.id, "name": "Rita"}
    (row,) = body["rows"]
    values = metrics_of(row)
    assert (values["deals_created"], values["pipeline_created_cents"]) == (3, 535_000_00)
    assert (values["open_pipeline_cents"], values["won_cents"], values["win_rate"]) == (
        35_000_00,
        500_000_00,
        1.0,
    )
    assert (values["median_cycle_days"], values["activities:call"]) == (28.0, 2)
    assert all(m["difference"] in (0, None) for m in row["metrics"])
    assert body["summary"]["weakest"] == [{"id": sales.rita.id, "name": "Rita", "weakest": []}]


def test_a_manager_sees_the_team_and_its_weakest(api_as: ApiAs, sales: SalesOrg) -> None:
    body = api_as(sales.maria).get(f"{URL}/reps", params=Q1).json()
    assert body["scope"]["kind"] == "team"
    assert [row["name"] for row in body["rows"]] == ["Ray", "Rita"]
    medians = {m["metric"]: m["median"] for m in body["summary"]["medians"]}
    # Created: Rita 535,000, Ray 155,000; won: Rita 500,000, Ray 100,000.
    assert (medians["pipeline_created_cents"], medians["won_cents"]) == (345_000_00, 300_000_00)
    assert medians["median_cycle_days"] == 32.0  # Rita 28, Ray 36 days
    ray = {m["metric"]: m for m in body["rows"][0]["metrics"]}
    assert ray["won_cents"] == {
        "metric": "won_cents",
        "value": 100_000_00,
        "median": 300_000_00,
        "difference": -200_000_00,
        "relative_difference": pytest.approx(-2 / 3),
    }
    assert {entry["name"]: entry["weakest"] for entry in body["summary"]["weakest"]} == {
        # Negotiation 0 against 0.5 and no call against 1; then won 100,000 against 300,000
        # (the average won deal falls as far, and comes later in the report's order).
        "Ray": ["conversion:Negotiation", "activities:call", "won_cents"],
        # Proposal 0 against 0.25, no email against 0.5, open 35,000 against 45,000.
        "Rita": ["conversion:Proposal", "activities:email", "open_pipeline_cents"],
    }


def test_concentration_of_the_org(api_as: ApiAs, sales: SalesOrg) -> None:
    admin = api_as(sales.admin)
    body = admin.get(f"{URL}/concentration", params=Q1).json()
    assert body["report"] == "concentration"
    assert body["summary"] == {
        "by": "accounts",
        "won_deals": 2,
        "won_cents": 600_000_00,
        "accounts": 1,
        "top_accounts": 1,
        "top_accounts_cents": 100_000_00,
        "top_accounts_share": pytest.approx(1 / 6),
        "no_account_cents": 500_000_00,
        "reps": 2,
        "top_reps": 1,
        "top_reps_cents": 500_000_00,
        "top_reps_share": pytest.approx(5 / 6),
    }
    assert [(r["rank"], r["name"], r["won_cents"], r["top"]) for r in body["rows"]] == [
        (1, "Acme", 100_000_00, True),
        (None, None, 500_000_00, False),
    ]
    assert body["rows"][-1]["cumulative_share"] == 1.0
    reps = admin.get(f"{URL}/concentration", params={**Q1, "by": "reps"}).json()
    assert [(r["rank"], r["id"], r["share"]) for r in reps["rows"]] == [
        (1, sales.rita.id, pytest.approx(5 / 6)),
        (2, sales.ray.id, pytest.approx(1 / 6)),
    ]
    # Before any win: nothing to divide.
    early = admin.get(f"{URL}/concentration", params={**Q1, "as_of": "2025-02-01T00:00:00Z"})
    summary = early.json()["summary"]
    assert (summary["top_accounts_share"], summary["top_reps_share"]) == (None, None)
    assert early.json()["rows"] == []


def test_a_scope_out_of_sight_is_404(api_as: ApiAs, sales: SalesOrg) -> None:
    rita = api_as(sales.rita)
    assert rita.get(f"{URL}/reps", params={"rep_id": sales.ray.id}).status_code == 404
    assert rita.get(f"{URL}/concentration", params={"team_of": sales.maria.id}).status_code == 404
    maria = api_as(sales.maria)
    assert maria.get(f"{URL}/reps", params={"rep_id": sales.olga.id}).status_code == 404
    ray = maria.get(f"{URL}/concentration", params={**Q1, "rep_id": sales.ray.id}).json()
    assert ray["summary"]["won_cents"] == 100_000_00


@pytest.mark.parametrize("report", ["reps", "concentration"])
def test_bad_parameters_are_422_and_a_token_is_needed(
    api_as: ApiAs, sales: SalesOrg, report: str
) -> None:
    client = api_as(sales.admin)
    response = client.get(f"{URL}/{report}", params={"start": "2025-01-01"})
    assert response.status_code == 422
    assert "needs both start and end" in response.json()["error"]["message"]
    assert client.get(f"{URL}/{report}", params={"period": "2025Q5"}).status_code == 422
    assert client.get(f"{URL}/{report}", headers={"Authorization": ""}).status_code == 401


def test_an_unknown_breakdown_is_422(api_as: ApiAs, sales: SalesOrg) -> None:
    response = api_as(sales.admin).get(f"{URL}/concentration", params={"by": "segment"})
    assert response.status_code == 422


def test_the_reports_are_in_the_openapi_schema(api_as: ApiAs, sales: SalesOrg) -> None:
    paths = api_as(sales.admin).get("/api/v1/openapi.json").json()["paths"]
    for report in ("reps", "concentration"):
        schema = paths[f"{URL}/{report}"]["get"]["responses"]["200"]["content"]
        assert "$ref" in schema["application/json"]["schema"]
    by = paths[f"{URL}/concentration"]["get"]["parameters"]
    assert "by" in {parameter["name"] for parameter in by}
