"""The forecast projection API: the numbers kept for a scope on a day, and their accuracy.

Snapshots are written directly (the job that computes them is tested in tests/forecasting);
these tests pin what the endpoints show, to whom, and the accuracy arithmetic by hand.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy.orm import Session

from tests.factories import make_deal, make_user
from topline.auth.enums import Role
from topline.auth.models import User
from topline.crm.deals import close_deal_won
from topline.forecasting.models import ForecastSnapshot

PROJECTION = "/api/v1/forecast/projection"
ACCURACY = "/api/v1/forecast/accuracy"
Q4 = (date(2026, 10, 1), date(2027, 1, 1))
Q1 = (date(2026, 1, 1), date(2026, 4, 1))

ApiAs = Callable[[User], TestClient]


@dataclass
class Org:
    admin: User
    manager: User
    rep: User
    other_manager: User
    other_rep: User


@pytest.fixture
def org(session: Session) -> Org:
    admin = make_user(session, role=Role.ADMIN)
    manager = make_user(session, role=Role.MANAGER)
    other_manager = make_user(session, role=Role.MANAGER)
    return Org(
        admin,
        manager,
        make_user(session, manager=manager),
        other_manager,
        make_user(session, manager=other_manager),
    )


def keep(
    session: Session,
    scope: str,
    method: str,
    expected: int,
    *,
    day: date,
    period: tuple[date, date] = Q4,
    user: User | None = None,
    p: tuple[int, int, int] | None = None,
    details: dict[str, Any] | None = None,
) -> None:
    kind = scope.split(":")[0]
    session.add(
        ForecastSnapshot(
            scope_key=scope,
            scope_kind=kind,
            scope_user_id=None if user is None else user.id,
            period_start=period[0],
            period_end=period[1],
            method=method,
            taken_on=day,
            taken_at=datetime(day.year, day.month, day.day, 5, 30, tzinfo=UTC),
            expected_cents=expected,
            p10_cents=None if p is None else p[0],
            p50_cents=None if p is None else p[1],
            p90_cents=None if p is None else p[2],
            won_cents=1_000,
            open_deals=7,
            details=details,
        )
    )
    session.flush()


DRIVERS = {
    "new_deals_cents": 300,
    "drivers": [
        {
            "deal_id": 12,
            "amount_cents": 5_000,
            "probability": 0.8,
            "expected_cents": 4_000,
            "factors": ["Stage Negotiation: +24 pts"],
        }
    ],
}


def ok(response: Any) -> Any:
    assert response.status_code == 200, response.text
    return response.json()


def test_nothing_kept_is_404_naming_the_snapshot_command(api_as: ApiAs, org: Org) -> None:
    response = api_as(org.admin).get(PROJECTION, params={"as_of": "2026-11-20T12:00:00Z"})

    assert response.status_code == 404
    error = response.json()["error"]
    assert error["code"] == "no_forecast_kept"
    assert "topline forecast snapshot" in error["message"]


def test_the_latest_day_up_to_as_of_with_the_projection_first(
    session: Session, api_as: ApiAs, org: Org
) -> None:
    keep(session, "org", "stage_weighted", 9_000, day=date(2026, 11, 18))
    keep(session, "org", "stage_weighted", 9_500, day=date(2026, 11, 19))
    keep(session, "org", "people", 11_000, day=date(2026, 11, 19))
    keep(
        session, "org", "projection", 10_000, day=date(2026, 11, 19),
        p=(8_000, 10_000, 12_500), details=DRIVERS,
    )  # fmt: skip
    keep(session, "org", "projection", 99_999, day=date(2026, 11, 21), p=(1, 2, 3))
    client = api_as(org.admin)

    body = ok(client.get(PROJECTION, params={"as_of": "2026-11-20T12:00:00Z"}))

    assert (body["scope"], body["taken_on"], body["period_start"]) == (
        "org",
        "2026-11-19",
        "2026-10-01",
    )
    assert [m["method"] for m in body["methods"]] == ["projection", "people", "stage_weighted"]
    projection = body["methods"][0]
    assert (projection["p10_cents"], projection["p50_cents"], projection["p90_cents"]) == (
        8_000,
        10_000,
        12_500,
    )
    assert body["methods"][2]["expected_cents"] == 9_500
    assert body["methods"][2]["p10_cents"] is None
    assert body["new_deals_cents"] == 300
    assert body["drivers"][0]["factors"] == ["Stage Negotiation: +24 pts"]
    assert (body["won_cents"], body["open_deals"], body["shortage"]) == (1_000, 7, None)
    # Before the first kept day there is nothing to show.
    early = client.get(PROJECTION, params={"as_of": "2026-11-17T12:00:00Z"})
    assert early.status_code == 404


def test_each_role_sees_its_own_scope_and_nothing_outside_it(
    session: Session, api_as: ApiAs, org: Org
) -> None:
    day = date(2026, 11, 19)
    keep(session, "org", "stage_weighted", 1, day=day)
    keep(session, f"team:{org.manager.id}", "stage_weighted", 2, day=day, user=org.manager)
    keep(session, f"rep:{org.rep.id}", "stage_weighted", 3, day=day, user=org.rep)
    keep(session, f"rep:{org.other_rep.id}", "stage_weighted", 4, day=day, user=org.other_rep)
    as_of = {"as_of": "2026-11-20T00:00:00Z"}

    def number(user: User, **params: Any) -> Any:
        response = api_as(user).get(PROJECTION, params={**as_of, **params})
        if response.status_code != 200:
            return response.status_code
        return response.json()["methods"][0]["expected_cents"]

    assert number(org.admin) == 1
    assert number(org.manager) == 2
    assert number(org.rep) == 3
    assert number(org.manager, rep_id=org.rep.id) == 3
    assert number(org.admin, team_of=org.manager.id) == 2
    assert number(org.manager, rep_id=org.other_rep.id) == 404
    assert number(org.manager, team_of=org.other_manager.id) == 404
    assert number(org.rep, rep_id=org.other_rep.id) == 404
    assert number(org.rep, team_of=org.manager.id) == 404


def test_accuracy_of_kept_numbers_against_what_the_quarter_won(
    session: Session, api_as: ApiAs, org: Org
) -> None:
    # The quarter 2026Q1 wins 1,000 (rep, in the manager's team) and 3,000 (other rep).
    for owner, cents in ((org.rep, 1_000_00), (org.other_rep, 3_000_00)):
        deal = make_deal(
            session, owner=owner, amount_cents=cents, close_date=date(2026, 2, 15),
            at=datetime(2025, 12, 1, tzinfo=UTC),
        )  # fmt: skip
        close_deal_won(session, deal, actor=owner, at=datetime(2026, 2, 15, 10, tzinfo=UTC))
    # Org snapshots at 0 weeks (Jan 1) and 4 weeks (Jan 29, or up to six days after).
    keep(session, "org", "projection", 3_000_00, day=date(2026, 1, 1), period=Q1,
         p=(2_500_00, 3_000_00, 4_500_00))  # fmt: skip
    keep(session, "org", "stage_weighted", 2_000_00, day=date(2026, 1, 1), period=Q1)
    keep(session, "org", "projection", 5_000_00, day=date(2026, 2, 2), period=Q1,
         p=(4_500_00, 5_000_00, 5_500_00))  # fmt: skip
    keep(session, "org", "stage_weighted", 4_000_00, day=date(2026, 2, 2), period=Q1)
    # Taken on day 8 of week 4: outside the six days' slack, so not a 4-week point.
    keep(session, "org", "people", 1, day=date(2026, 2, 5), period=Q1)
    # The manager's team: only the rep's 1,000 counts.
    keep(session, f"team:{org.manager.id}", "stage_weighted", 1_500_00, day=date(2026, 1, 3),
         period=Q1, user=org.manager)  # fmt: skip

    body = ok(api_as(org.admin).get(ACCURACY, params={"as_of": "2026-05-01T00:00:00Z"}))

    assert body["periods"] == ["2026-01-01..2026-04-01"]
    projection = body["methods"]["projection"]["horizons"]
    # Actual 4,000: at 0 weeks 3,000 is 25 % low and inside 2,500–4,500; at 4 weeks 5,000 is
    # 25 % high and outside 4,500–5,500.
    assert projection["0"] == {"mape": 0.25, "bias": -0.25, "coverage_p10_p90": 1.0, "n": 1}
    assert projection["4"] == {"mape": 0.25, "bias": 0.25, "coverage_p10_p90": 0.0, "n": 1}
    assert projection["8"]["n"] == 0
    stage = body["methods"]["stage_weighted"]["horizons"]
    assert (stage["0"]["mape"], stage["0"]["bias"]) == (0.5, -0.5)
    assert stage["0"]["coverage_p10_p90"] is None
    assert "people" not in body["methods"]

    team = ok(api_as(org.manager).get(ACCURACY, params={"as_of": "2026-05-01T00:00:00Z"}))
    assert team["scope"] == f"team:{org.manager.id}"
    assert team["methods"]["stage_weighted"]["horizons"]["0"]["bias"] == pytest.approx(0.5)
