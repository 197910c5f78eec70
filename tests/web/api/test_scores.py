"""Deal scores and scoring models over HTTP: what each role may read, and the refusals.

The `org` fixture's open deals (Rita: Prospecting, Proposal; Ray: Proposal, Negotiation;
Olga: Discovery) are scored as of 2025-03-01 by historical rates: Rita's deal won from
Negotiation on 2025-02-03, and a deal of Olga's here is lost from Prospecting on 2025-02-10.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, date, datetime

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select
from sqlalchemy.orm import Session

from tests.factories import SalesOrg, make_deal, stage_named
from topline.auth.models import User
from topline.crm.deals import close_deal_lost
from topline.crm.models import Deal
from topline.scoring.models import ScoringModel
from topline.scoring.service import score_open_deals, train_deal_model

ApiAs = Callable[[User], TestClient]
AS_OF = datetime(2025, 3, 1, tzinfo=UTC)


@pytest.fixture
def scored(session: Session, org: SalesOrg) -> ScoringModel:
    lost = make_deal(
        session,
        owner=org.olga,
        stage=stage_named(session, org.pipeline, "Prospecting"),
        close_date=date(2025, 3, 31),
    )
    close_deal_lost(
        session, lost, loss_reason="Price", actor=org.olga, at=datetime(2025, 2, 10, tzinfo=UTC)
    )
    model = train_deal_model(session, as_of=AS_OF)
    assert score_open_deals(session, as_of=AS_OF, model=model) == 5
    return model


def deal_named(session: Session, name: str) -> Deal:
    deal = session.scalar(select(Deal).where(Deal.name == name))
    assert deal is not None
    return deal


def test_a_rep_reads_the_score_of_their_own_deal(
    api_as: ApiAs, org: SalesOrg, session: Session, scored: ScoringModel
) -> None:
    deal = deal_named(session, "Rita Prospect")
    response = api_as(org.rita).get(f"/api/v1/deals/{deal.id}/score")
    assert response.status_code == 200
    body = response.json()
    # Laplace: Prospecting 0 of 1 closed deals won → 1/3; overall 1 of 2 → 1/2.
    assert body["deal_id"] == deal.id
    assert body["probability"] == pytest.approx(1 / 3)
    assert body["scored_at"] == "2025-03-01T00:00:00Z"
    assert body["model"] == {
        "id": scored.id,
        "version": 1,
        "method": "historical_rates",
        "trained_at": body["model"]["trained_at"],
    }
    assert body["factors"] == {
        "up": [],
        "down": [
            {
                "feature": "stage",
                "value": "Prospecting",
                "points": pytest.approx(-16.67),
                "text": "Stage Prospecting: −17 pts",
            }
        ],
    }


def test_a_rep_cannot_read_the_score_of_a_colleagues_deal(
    api_as: ApiAs, org: SalesOrg, session: Session, scored: ScoringModel
) -> None:
    rays = deal_named(session, "Ray Negotiation")
    response = api_as(org.rita).get(f"/api/v1/deals/{rays.id}/score")
    assert response.status_code == 404
    assert response.json()["error"]["code"] == "not_found"
    # His manager can; another team's manager cannot.
    manager = api_as(org.maria).get(f"/api/v1/deals/{rays.id}/score")
    assert manager.status_code == 200
    assert manager.json()["factors"]["up"][0]["text"] == "Stage Negotiation: +17 pts"
    assert api_as(org.otto).get(f"/api/v1/deals/{rays.id}/score").status_code == 404


def test_a_deal_never_scored_or_missing_is_404(
    api_as: ApiAs, org: SalesOrg, session: Session, scored: ScoringModel
) -> None:
    fresh = make_deal(session, owner=org.rita, name="Rita Later")
    response = api_as(org.rita).get(f"/api/v1/deals/{fresh.id}/score")
    assert response.status_code == 404
    assert response.json()["error"]["code"] == "deal_score_not_found"
    assert api_as(org.admin).get("/api/v1/deals/999999/score").status_code == 404


def test_managers_and_admins_list_the_models_reps_may_not(
    api_as: ApiAs, org: SalesOrg, session: Session, scored: ScoringModel
) -> None:
    second = train_deal_model(session, as_of=AS_OF)
    listed = api_as(org.admin).get("/api/v1/scoring/models", params={"limit": 1})
    assert listed.status_code == 200
    page = listed.json()
    assert page["total"] == 2
    [newest] = page["items"]
    assert (newest["id"], newest["version"]) == (second.id, 2)
    assert newest["method"] == "historical_rates" and newest["kind"] == "deal_win"
    assert "labelled deal snapshots" in newest["metrics"]["message"]
    assert newest["metrics"]["auc"] is None and newest["n_train"] == 2
    assert "booster" not in newest and "state" not in newest
    rest = api_as(org.admin).get(
        "/api/v1/scoring/models", params={"limit": 1, "cursor": page["next_cursor"]}
    )
    assert [item["version"] for item in rest.json()["items"]] == [1]

    manager = api_as(org.maria).get("/api/v1/scoring/models", params={"kind": "deal_win"})
    assert manager.status_code == 200 and manager.json()["total"] == 2
    rep = api_as(org.rita).get("/api/v1/scoring/models")
    assert rep.status_code == 403
    assert rep.json()["error"]["code"] == "permission_denied"


def test_scores_need_a_token(api_as: ApiAs, org: SalesOrg, scored: ScoringModel) -> None:
    client = api_as(org.admin)
    assert client.get("/api/v1/scoring/models", headers={"Authorization": ""}).status_code == 401
    assert client.get("/api/v1/deals/1/score", headers={"Authorization": ""}).status_code == 401


def test_the_schema_declares_the_score_endpoints(api_as: ApiAs, org: SalesOrg) -> None:
    schema = api_as(org.admin).get("/api/v1/openapi.json").json()
    score = schema["paths"]["/api/v1/deals/{deal_id}/score"]["get"]
    assert {"200", "401", "404"} <= set(score["responses"])
    models = schema["paths"]["/api/v1/scoring/models"]["get"]
    assert {"200", "401", "403", "404"} <= set(models["responses"])
