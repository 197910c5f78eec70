"""Lead scores and ICP fit over HTTP: what each role may read, both lead targets, and the refusals.

Two leads of the `org` fixture's reps have history: Rita's converts on 2025-02-15 and Ray's is
disqualified on 2025-03-20. Trained as of 2025-06-01 (90-day horizon, snapshots on 3 March and
1 February), the rates come from three lead snapshots, all at funnel stage "new": one converted
(Rita's, on 1 February), two not (Ray's). Two newer leads are scored as of then.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, date, datetime

import pytest
from fastapi.testclient import TestClient
from sqlalchemy.orm import Session

from tests.factories import SalesOrg, make_account, make_deal, make_lead
from topline.auth.models import User
from topline.crm.deals import close_deal_won
from topline.crm.leads import convert_lead, disqualify_lead
from topline.crm.models import Account, Lead
from topline.scoring.service import score_open_leads, train_lead_model

ApiAs = Callable[[User], TestClient]
AS_OF = datetime(2025, 6, 1, tzinfo=UTC)


def at(month: int, day: int) -> datetime:
    return datetime(2025, month, day, 9, tzinfo=UTC)


@dataclass
class ScoredLeads:
    ritas: Lead
    rays: Lead


@pytest.fixture
def scored(session: Session, org: SalesOrg) -> ScoredLeads:
    converted = make_lead(session, owner=org.rita, at=at(1, 6))
    convert_lead(
        session, converted, actor=org.rita, owner=org.rita, deal_name="From a lead",
        amount_cents=10_000, close_date=date(2025, 4, 30), at=at(2, 15),
    )  # fmt: skip
    dropped = make_lead(session, owner=org.ray, at=at(1, 6))
    disqualify_lead(session, dropped, reason="No budget", actor=org.ray, at=at(3, 20))
    ritas = make_lead(session, owner=org.rita, at=at(4, 1))
    rays = make_lead(session, owner=org.ray, at=at(4, 1))
    for target in ("converted", "won"):
        model = train_lead_model(session, target=target, as_of=AS_OF)
        assert model.method == "historical_rates"
        assert score_open_leads(session, as_of=AS_OF, model=model) == 2
    return ScoredLeads(ritas, rays)


def test_a_rep_reads_the_score_of_their_own_lead(
    api_as: ApiAs, org: SalesOrg, scored: ScoredLeads
) -> None:
    response = api_as(org.rita).get(f"/api/v1/leads/{scored.ritas.id}/score")
    assert response.status_code == 200
    body = response.json()
    # Laplace: 1 of 3 snapshots converted → (1 + 1) / (3 + 2).
    assert body["lead_id"] == scored.ritas.id
    assert body["probability"] == pytest.approx(0.4)
    assert (body["target"], body["horizon_days"]) == ("converted", 90)
    assert body["scored_at"] == "2025-06-01T00:00:00Z"
    assert body["model"]["method"] == "historical_rates" and body["model"]["version"] == 1
    # Every snapshot was at the same stage, so nothing moves the lead off the org's rate.
    assert body["factors"] == {"up": [], "down": []}


def test_the_won_target_reads_the_lead_to_won_model(
    api_as: ApiAs, org: SalesOrg, scored: ScoredLeads
) -> None:
    response = api_as(org.rita).get(
        f"/api/v1/leads/{scored.ritas.id}/score", params={"target": "won"}
    )
    assert response.status_code == 200
    # Rita's converted lead's deal is still open: only Ray's two snapshots (not won) count.
    assert response.json()["probability"] == pytest.approx(1 / 4)
    assert response.json()["target"] == "won"


def test_a_rep_cannot_read_the_score_of_a_colleagues_lead(
    api_as: ApiAs, org: SalesOrg, scored: ScoredLeads
) -> None:
    path = f"/api/v1/leads/{scored.rays.id}/score"
    response = api_as(org.rita).get(path)
    assert response.status_code == 404
    assert response.json()["error"]["code"] == "not_found"
    # His manager can; another team's manager cannot.
    assert api_as(org.maria).get(path).status_code == 200
    assert api_as(org.otto).get(path).status_code == 404


def test_a_lead_never_scored_or_missing_is_404(
    api_as: ApiAs, org: SalesOrg, session: Session, scored: ScoredLeads
) -> None:
    fresh = make_lead(session, owner=org.rita, at=at(6, 2))
    response = api_as(org.rita).get(f"/api/v1/leads/{fresh.id}/score")
    assert response.status_code == 404
    assert response.json()["error"]["code"] == "lead_score_not_found"
    assert api_as(org.admin).get("/api/v1/leads/999999/score").status_code == 404


def test_lead_scores_need_a_token(api_as: ApiAs, org: SalesOrg, scored: ScoredLeads) -> None:
    client = api_as(org.admin)
    response = client.get(f"/api/v1/leads/{scored.ritas.id}/score", headers={"Authorization": ""})
    assert response.status_code == 401


def test_the_models_list_filters_lead_models(
    api_as: ApiAs, org: SalesOrg, scored: ScoredLeads
) -> None:
    listed = api_as(org.admin).get("/api/v1/scoring/models", params={"kind": "lead_conversion"})
    assert listed.status_code == 200
    [model] = listed.json()["items"]
    assert model["kind"] == "lead_conversion"
    assert model["metrics"]["target"] == "converted" and model["metrics"]["horizon_days"] == 90
    assert "labelled lead snapshots" in model["metrics"]["message"]


def test_the_schema_declares_the_lead_score_endpoint(api_as: ApiAs, org: SalesOrg) -> None:
    schema = api_as(org.admin).get("/api/v1/openapi.json").json()
    score = schema["paths"]["/api/v1/leads/{lead_id}/score"]["get"]
    assert {"200", "401", "404"} <= set(score["responses"])
    for path in ("/api/v1/accounts/{account_id}/icp", "/api/v1/leads/{lead_id}/icp"):
        assert {"200", "401", "404", "409"} <= set(schema["paths"][path]["get"]["responses"])


@pytest.fixture
def customer(session: Session, org: SalesOrg) -> Account:
    """Rita's account with revenue won; Ray's account has none."""
    account = make_account(session, owner=org.rita, industry="Software", country="US")
    other = make_account(session, owner=org.ray, industry="Retail", country="DE")
    won = make_deal(session, owner=org.rita, account=account)
    close_deal_won(session, won, actor=org.rita, at=at(2, 1))
    make_deal(session, owner=org.ray, account=other)
    return account


def test_a_rep_reads_the_icp_fit_of_their_account(
    api_as: ApiAs, org: SalesOrg, customer: Account
) -> None:
    response = api_as(org.rita).get(f"/api/v1/accounts/{customer.id}/icp")
    assert response.status_code == 200
    body = response.json()
    assert body["account_id"] == customer.id and body["lead_id"] is None
    assert body["customers"] == 1 and body["accounts"] >= 2
    assert 0 <= body["fit"] <= 100
    assert sum(f["points"] for f in body["factors"]) == pytest.approx(body["fit"], abs=0.05)
    assert {f["field"] for f in body["factors"]} == {"segment", "industry", "size_band", "country"}


def test_icp_fit_of_a_foreign_account_is_404(
    api_as: ApiAs, org: SalesOrg, customer: Account
) -> None:
    assert api_as(org.otto).get(f"/api/v1/accounts/{customer.id}/icp").status_code == 404
    assert api_as(org.admin).get("/api/v1/accounts/999999/icp").status_code == 404


def test_a_lead_reads_the_fit_of_its_company(
    api_as: ApiAs, org: SalesOrg, session: Session, customer: Account
) -> None:
    lead = make_lead(session, owner=org.rita, company_domain=customer.domain)
    body = api_as(org.rita).get(f"/api/v1/leads/{lead.id}/icp").json()
    assert (body["lead_id"], body["account_id"]) == (lead.id, customer.id)
    rays = make_lead(session, owner=org.ray)
    assert api_as(org.rita).get(f"/api/v1/leads/{rays.id}/icp").status_code == 404


def test_without_customers_icp_is_a_conflict(
    api_as: ApiAs, org: SalesOrg, session: Session
) -> None:
    account = make_account(session, owner=org.rita)
    response = api_as(org.rita).get(f"/api/v1/accounts/{account.id}/icp")
    assert response.status_code == 409
    assert response.json()["error"]["code"] == "no_customers_yet"
