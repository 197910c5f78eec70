"""Reports over HTTP: the caller's scope, periods, `as_of`, and refusals.

The `org` fixture's deals all close on 2025-03-31 (2025Q1): Rita 10,000 Prospecting and 25,000
Proposal, Ray 40,000 Proposal and 15,000 Negotiation, Olga 100,000 Discovery; Rita also won
500,000 on 2025-02-03.
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


def test_each_role_reports_on_what_it_may_see(api_as: ApiAs, org: SalesOrg) -> None:
    admin = api_as(org.admin).get(f"{URL}/pipeline", params=Q1).json()
    assert admin["scope"] == {"kind": "org", "id": None, "name": "Whole org"}
    assert admin["summary"]["amount_cents"] == 190_000_00

    maria = api_as(org.maria).get(f"{URL}/pipeline", params=Q1).json()
    assert maria["scope"]["kind"] == "team" and maria["scope"]["id"] == org.maria.id
    assert maria["summary"]["amount_cents"] == 90_000_00
    assert maria["period"] == {"label": "2025Q1", "start": "2025-01-01", "end": "2025-04-01"}

    rita = api_as(org.rita).get(f"{URL}/pipeline", params=Q1).json()
    assert rita["scope"] == {"kind": "rep", "id": org.rita.id, "name": "Rita"}
    assert rita["summary"]["amount_cents"] == 35_000_00
    by_stage = {row["stage"]: row["amount_cents"] for row in rita["rows"] if row["deals"]}
    assert by_stage == {"Prospecting": 10_000_00, "Proposal": 25_000_00}


def test_a_scope_out_of_sight_is_404(api_as: ApiAs, org: SalesOrg) -> None:
    rita = api_as(org.rita)
    assert rita.get(f"{URL}/win-rate", params={"rep_id": org.ray.id}).status_code == 404
    assert rita.get(f"{URL}/win-rate", params={"team_of": org.maria.id}).status_code == 404
    maria = api_as(org.maria)
    assert maria.get(f"{URL}/cycle", params={"rep_id": org.olga.id}).status_code == 404
    ray = maria.get(f"{URL}/pipeline", params={**Q1, "rep_id": org.ray.id}).json()
    assert ray["summary"]["amount_cents"] == 55_000_00


def test_win_rate_and_cycle_of_the_won_deal(api_as: ApiAs, org: SalesOrg) -> None:
    admin = api_as(org.admin)
    win = admin.get(f"{URL}/win-rate", params={"period": "2025Q1"}).json()
    assert win["summary"]["won"] == 1 and win["summary"]["win_rate"] == 1.0
    assert [(row["key"], row["won_amount_cents"]) for row in win["rows"]] == [("Rita", 500_000_00)]
    # Before it was won there was nothing closed.
    before = admin.get(f"{URL}/win-rate", params={**Q1, "as_of": "2025-02-01T00:00:00Z"})
    assert before.json()["summary"]["win_rate"] is None
    cycle = admin.get(f"{URL}/cycle", params={"start": "2025-02-01", "end": "2025-03-01"}).json()
    assert cycle["period"]["label"] == "2025-02-01..2025-03-01"
    assert cycle["summary"]["won"] == 1


def test_rows_come_a_page_at_a_time(api_as: ApiAs, org: SalesOrg) -> None:
    admin = api_as(org.admin)
    whole = admin.get(f"{URL}/pipeline", params=Q1).json()
    stages = [row["stage"] for row in whole["rows"]]
    assert len(stages) >= 4 and (whole["total_rows"], whole["offset"]) == (len(stages), 0)
    page = admin.get(f"{URL}/pipeline", params={**Q1, "limit": 2, "offset": 1}).json()
    assert [row["stage"] for row in page["rows"]] == stages[1:3]
    assert (page["total_rows"], page["offset"]) == (len(stages), 1)
    assert page["summary"] == whole["summary"]
    past = admin.get(f"{URL}/pipeline", params={**Q1, "offset": 50}).json()
    assert (past["rows"], past["total_rows"]) == ([], len(stages))
    # A report over a trailing window takes a page too.
    velocity = admin.get(f"{URL}/velocity", params={"limit": 1}).json()
    assert len(velocity["rows"]) == min(1, velocity["total_rows"])
    # Without `limit`, the first thousand rows.
    schema = admin.get("/api/v1/openapi.json").json()
    parameters = schema["paths"][f"{URL}/slippage"]["get"]["parameters"]
    limit = next(parameter for parameter in parameters if parameter["name"] == "limit")
    assert limit["schema"]["default"] == 1000 and limit["schema"]["maximum"] == 10_000


@pytest.mark.parametrize(
    ("params", "field"),
    [({"limit": 0}, "limit"), ({"limit": 10_001}, "limit"), ({"offset": -1}, "offset")],
)
def test_bad_pages_are_422(
    api_as: ApiAs, org: SalesOrg, params: dict[str, object], field: str
) -> None:
    response = api_as(org.admin).get(f"{URL}/concentration", params=params)
    assert response.status_code == 422
    fields = response.json()["error"]["details"]["fields"]
    assert [entry["location"] for entry in fields] == [["query", field]]


@pytest.mark.parametrize(
    ("params", "message"),
    [
        ({"period": "2025Q1", "start": "2025-01-01", "end": "2025-02-01"}, "not both"),
        ({"start": "2025-01-01"}, "needs both start and end"),
        ({"start": "2025-02-01", "end": "2025-01-01"}, "end after it starts"),
        ({"rep_id": 1, "team_of": 1}, "not both"),
        ({"period": "2025Q5"}, ""),
        ({"as_of": "2025-03-01T00:00:00"}, ""),
    ],
)
def test_bad_report_parameters_are_422(
    api_as: ApiAs, org: SalesOrg, params: dict[str, object], message: str
) -> None:
    response = api_as(org.admin).get(f"{URL}/win-rate", params=params)
    assert response.status_code == 422
    assert message in response.json()["error"]["message"]


def test_reports_need_a_token(api_as: ApiAs, org: SalesOrg) -> None:
    client = api_as(org.admin)
    assert client.get(f"{URL}/pipeline", headers={"Authorization": ""}).status_code == 401
