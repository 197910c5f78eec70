"""The forecast call API: roll-up, prefill and bias over HTTP, in the caller's scope.

The org and its hand-computed numbers are those of tests/forecasting/test_calls.py.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy.orm import Session

from tests.forecasting.test_calls import CallOrg, K, call_org
from tests.helpers import assert_max_queries
from topline.auth.models import User

ROLLUP = "/api/v1/forecast/rollup"
PREFILL = "/api/v1/forecast/prefill"
BIAS = "/api/v1/forecast/bias"
AS_OF = "2025-03-01T12:00:00Z"

ApiAs = Callable[[User], TestClient]


@pytest.fixture
def org(session: Session) -> CallOrg:
    return call_org(session)


def thousands(amounts: dict[str, Any]) -> tuple[int, int, int]:
    return (
        amounts["commit_cents"] // K,
        amounts["best_case_cents"] // K,
        amounts["pipeline_cents"] // K,
    )


def ok(response: Any) -> Any:
    assert response.status_code == 200, response.text
    return response.json()


def not_found(response: Any) -> None:
    assert response.status_code == 404, response.text
    assert response.json()["error"]["code"] == "not_found"


class TestRollup:
    def test_a_manager_gets_their_tree_by_default(self, api_as: ApiAs, org: CallOrg) -> None:
        body = ok(api_as(org.mia).get(ROLLUP, params={"period": "2025Q1", "as_of": AS_OF}))

        assert body["period"] == {"label": "2025Q1", "start": "2025-01-01", "end": "2025-04-01"}
        root = body["root"]
        assert (root["user"]["id"], root["user"]["role"]) == (org.mia.id, "manager")
        assert [child["user"]["name"] for child in root["children"]] == ["Rae", "Rob"]
        assert thousands(root["rollup"]) == (90, 110, 130)
        assert thousands(root["effective_call"]) == (85, 110, 130)
        assert thousands(root["prefill"]) == (111, 111, 121)
        rae, rob = root["children"]
        assert rob["adjustment"]["submitted_by_id"] == org.mia.id
        assert thousands(rob["effective_call"]) == (80, 95, 110)
        assert rob["rollup"] is None and rob["children"] == []
        assert (rae["stale"], rob["stale"]) == (True, False)
        assert rob["bias"]["label"] is None
        assert [row["horizon_weeks"] for row in rob["bias"]["horizons"]] == [0, 4, 8, 12]

    def test_the_period_defaults_to_the_quarter_of_as_of(self, api_as: ApiAs, org: CallOrg) -> None:
        body = ok(api_as(org.admin).get(ROLLUP, params={"manager_id": org.dana.id, "as_of": AS_OF}))
        assert body["period"]["label"] == "2025Q1"
        assert thousands(body["root"]["rollup"]) == (85, 110, 130)

    def test_people_outside_the_callers_scope_are_404(self, api_as: ApiAs, org: CallOrg) -> None:
        params: dict[str, Any] = {"period": "2025Q1", "as_of": AS_OF}
        not_found(api_as(org.rob).get(ROLLUP, params={**params, "manager_id": org.mia.id}))
        not_found(api_as(org.rob).get(ROLLUP, params={**params, "manager_id": org.rae.id}))
        not_found(api_as(org.mia).get(ROLLUP, params={**params, "manager_id": org.dana.id}))
        not_found(api_as(org.otis).get(ROLLUP, params={**params, "manager_id": org.mia.id}))
        not_found(api_as(org.admin).get(ROLLUP, params={**params, "manager_id": 2**53 - 1}))

    def test_a_rep_sees_their_own_node(self, api_as: ApiAs, org: CallOrg) -> None:
        root = ok(api_as(org.rob).get(ROLLUP, params={"period": "2025Q1", "as_of": AS_OF}))["root"]
        assert (root["user"]["id"], root["children"]) == (org.rob.id, [])
        assert thousands(root["prefill"]) == (95, 95, 105)

    def test_a_past_day_is_shown_as_it_stood(self, api_as: ApiAs, org: CallOrg) -> None:
        params: dict[str, Any] = {
            "period": "2025Q1",
            "as_of": "2025-02-07T12:00:00Z",
            "manager_id": org.rob.id,
        }
        root = ok(api_as(org.mia).get(ROLLUP, params=params))["root"]
        assert thousands(root["effective_call"]) == (60, 80, 120)
        assert root["adjustment"] is None

    def test_the_query_count_is_bounded(
        self, api_as: ApiAs, org: CallOrg, session: Session
    ) -> None:
        client = api_as(org.admin)
        params: dict[str, Any] = {"period": "2025Q1", "as_of": AS_OF, "manager_id": org.dana.id}
        # The token (3 statements), the fiscal calendar, the manager, then the roll-up's 7.
        with assert_max_queries(session, 12):
            ok(client.get(ROLLUP, params=params))

    @pytest.mark.parametrize(
        "params",
        [{"period": "2025Q5"}, {"period": "9999Q4"}, {"manager_id": 0}, {"as_of": "yesterday"}],
    )
    def test_malformed_parameters_are_422(
        self, api_as: ApiAs, org: CallOrg, params: dict[str, Any]
    ) -> None:
        response = api_as(org.mia).get(ROLLUP, params=params)
        assert response.status_code == 422, response.text
        assert "error" in response.json()

    def test_an_as_of_whose_quarter_runs_past_the_calendar_needs_a_period(
        self, api_as: ApiAs, org: CallOrg
    ) -> None:
        far = {"as_of": "9999-12-31T23:00:00Z"}
        response = api_as(org.mia).get(ROLLUP, params=far)
        assert response.status_code == 404
        assert response.json()["error"]["code"] == "period_not_found"
        ok(api_as(org.mia).get(ROLLUP, params={**far, "period": "2025Q1"}))
        edge = {"as_of": "0001-01-01T00:00:00+01:00", "period": "2025Q1"}
        assert ok(api_as(org.mia).get(ROLLUP, params=edge))["root"]["own_call"] is None


class TestPrefill:
    def test_the_callers_own_prefill_by_default(self, api_as: ApiAs, org: CallOrg) -> None:
        body = ok(api_as(org.rob).get(PREFILL, params={"period": "2025Q1", "as_of": AS_OF}))
        assert (body["user_id"], body["period"]["label"]) == (org.rob.id, "2025Q1")
        assert thousands(body["amounts"]) == (95, 95, 105)

    def test_a_manager_reads_a_reports_prefill_on_a_past_day(
        self, api_as: ApiAs, org: CallOrg
    ) -> None:
        params: dict[str, Any] = {
            "period": "2025Q1",
            "as_of": "2025-02-01T12:00:00Z",
            "user_id": org.rob.id,
        }
        body = ok(api_as(org.mia).get(PREFILL, params=params))
        assert thousands(body["amounts"]) == (30, 50, 100)

    def test_a_peer_is_404(self, api_as: ApiAs, org: CallOrg) -> None:
        not_found(api_as(org.rob).get(PREFILL, params={"user_id": org.rae.id}))


class TestBias:
    def test_without_ended_periods_there_is_no_label(self, api_as: ApiAs, org: CallOrg) -> None:
        body = ok(api_as(org.rob).get(BIAS, params={"as_of": AS_OF}))
        assert body["bias"]["user_id"] == org.rob.id
        assert body["bias"]["label"] is None and body["bias"]["commit"] == {"mean": None, "n": 0}

    def test_after_the_quarter_the_bias_is_measured(self, api_as: ApiAs, org: CallOrg) -> None:
        # Rob won 40 in Q1 by Apr 2. His call at week 8 (Feb 26) was 60/80/120:
        # (60−40)/40 = 0.5, (80−40)/40 = 1, (120−40)/40 = 2. At week 12 (Mar 26) his own
        # call of Mar 5 (1/2/3), later than Mia's adjustment of Feb 28, stood:
        # (1−40)/40 = −0.975, (2−40)/40 = −0.95, (3−40)/40 = −0.925.
        params: dict[str, Any] = {"as_of": "2025-04-02T00:00:00Z", "user_id": org.rob.id}
        bias = ok(api_as(org.mia).get(BIAS, params=params))["bias"]
        rows = {row["horizon_weeks"]: row for row in bias["horizons"]}
        assert rows[0]["commit"]["n"] == 0 and rows[4]["commit"]["n"] == 0
        assert rows[8]["commit"] == {"mean": pytest.approx(0.5), "n": 1}
        assert rows[8]["pipeline"]["mean"] == pytest.approx(2.0)
        assert rows[12]["commit"] == {"mean": pytest.approx(-0.975), "n": 1}
        assert bias["commit"]["mean"] == pytest.approx((0.5 - 0.975) / 2)
        assert bias["label"] == "sandbagger"

    def test_a_peer_is_404(self, api_as: ApiAs, org: CallOrg) -> None:
        not_found(api_as(org.rae).get(BIAS, params={"user_id": org.rob.id}))
