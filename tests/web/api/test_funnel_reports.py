"""Funnel and velocity reports over HTTP: the caller's scope, the window, and refusals.

The `org` fixture's deals were all created on 2025-01-06 09:00 in their stages: Rita 10,000
Prospecting and 25,000 Proposal, Ray 40,000 Proposal and 15,000 Negotiation, Olga 100,000
Discovery; Rita's 500,000 deal, created in Negotiation, was won on 2025-02-03 (28 days later).
"""

from __future__ import annotations

from collections.abc import Callable

import pytest
from fastapi.testclient import TestClient

from tests.factories import SalesOrg
from topline.auth.models import User

ApiAs = Callable[[User], TestClient]

URL = "/api/v1/reports"
Q1 = {"period": "2025Q1", "as_of": "2025-03-01T00:00:00Z"}
MARCH = {"as_of": "2025-03-01T00:00:00Z"}


def test_funnel_for_each_role(api_as: ApiAs, org: SalesOrg) -> None:
    admin = api_as(org.admin).get(f"{URL}/funnel", params=Q1).json()
    assert admin["report"] == "funnel" and admin["scope"]["kind"] == "org"
    rows = {row["stage"]: row for row in admin["rows"] if row["pipeline"] == org.pipeline.name}
    assert [(stage, row["entered"], row["advanced"]) for stage, row in rows.items()] == [
        ("Prospecting", 1, 0),
        ("Qualification", 0, 0),
        ("Discovery", 1, 0),
        ("Proposal", 2, 0),
        ("Negotiation", 2, 1),
    ]
    negotiation = rows["Negotiation"]
    assert (negotiation["conversion"], negotiation["still_in_stage"]) == (0.5, 1)
    assert (negotiation["completed_stays"], negotiation["median_days_in_stage"]) == (1, 28)
    assert rows["Qualification"]["conversion"] is None
    assert admin["summary"] == {"deals": 6, "won": 1, "lost": 0, "conversion_to_won": 1 / 6}

    maria = api_as(org.maria).get(f"{URL}/funnel", params=Q1).json()
    assert (maria["scope"]["id"], maria["summary"]["deals"]) == (org.maria.id, 5)
    rita = api_as(org.rita).get(f"{URL}/funnel", params=Q1).json()
    assert (rita["summary"]["deals"], rita["summary"]["won"]) == (3, 1)


def test_velocity_over_the_default_window(api_as: ApiAs, org: SalesOrg) -> None:
    report = api_as(org.admin).get(f"{URL}/velocity", params=MARCH).json()
    assert report["period"] == {
        "label": "2024-12-02..2025-03-02",
        "start": "2024-12-02",
        "end": "2025-03-02",
    }
    summary = report["summary"]
    assert (summary["window_days"], summary["open_deals"], summary["won"]) == (90, 5, 1)
    assert (summary["win_rate"], summary["average_cycle_days"]) == (1.0, 28)
    assert summary["average_won_amount_cents"] == 500_000_00
    assert summary["velocity_cents_per_day"] == round(5 * 500_000_00 / 28)
    assert [
        (row["key"], row["open_deals"], row["velocity_cents_per_day"]) for row in report["rows"]
    ] == [
        ("Rita", 2, round(2 * 500_000_00 / 28)),
        ("Olga", 1, None),
        ("Ray", 2, None),
    ]


def test_velocity_window_and_scope(api_as: ApiAs, org: SalesOrg) -> None:
    admin = api_as(org.admin)
    short = admin.get(f"{URL}/velocity", params={**MARCH, "window": 10}).json()
    # The win on 02-03 falls before the 10 days up to 03-01.
    assert (short["summary"]["won"], short["summary"]["velocity_cents_per_day"]) == (0, None)
    assert short["period"]["start"] == "2025-02-20"
    olga = admin.get(f"{URL}/velocity", params={**MARCH, "rep_id": org.olga.id}).json()
    assert olga["scope"]["kind"] == "rep"
    assert [(row["key"], row["open_deals"]) for row in olga["rows"]] == [("Olga", 1)]


def test_a_scope_out_of_sight_is_404(api_as: ApiAs, org: SalesOrg) -> None:
    rita = api_as(org.rita)
    assert rita.get(f"{URL}/funnel", params={"rep_id": org.ray.id}).status_code == 404
    assert rita.get(f"{URL}/velocity", params={"team_of": org.maria.id}).status_code == 404
    maria = api_as(org.maria)
    assert maria.get(f"{URL}/velocity", params={"rep_id": org.olga.id}).status_code == 404


@pytest.mark.parametrize(
    ("path", "params"),
    [
        ("velocity", {"window": 0}),
        ("velocity", {"window": 3651}),
        ("velocity", {"window": "a month"}),
        ("velocity", {"as_of": "2025-03-01T00:00:00"}),
        ("funnel", {"period": "2025Q5"}),
        ("funnel", {"start": "2025-02-01", "end": "2025-01-01"}),
        ("funnel", {"rep_id": 1, "team_of": 1}),
    ],
)
def test_bad_parameters_are_422(
    api_as: ApiAs, org: SalesOrg, path: str, params: dict[str, object]
) -> None:
    assert api_as(org.admin).get(f"{URL}/{path}", params=params).status_code == 422


def test_funnel_reports_need_a_token(api_as: ApiAs, org: SalesOrg) -> None:
    client = api_as(org.admin)
    for path in ("funnel", "velocity"):
        response = client.get(f"{URL}/{path}", headers={"Authorization": ""})
        assert response.status_code == 401
