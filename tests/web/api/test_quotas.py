"""The quotas API: scope per role, period overlap, pages, who may set whose quota, audit."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import date
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from tests.factories import SalesOrg
from topline.audit.models import AuditEntry
from topline.auth.models import Team, User
from topline.auth.service import create_team
from topline.quotas.models import Quota
from topline.quotas.service import set_quota

ApiAs = Callable[[User], TestClient]
QUOTAS = "/api/v1/quotas"
Q1 = (date(2025, 1, 1), date(2025, 4, 1))
Q2 = (date(2025, 4, 1), date(2025, 7, 1))


@dataclass
class Plan:
    """Teams East (Maria) and West (Otto) and seven quotas, each with a label to assert on."""

    east: Team
    west: Team
    labels: dict[int, str]


@pytest.fixture
def plan(session: Session, org: SalesOrg) -> Plan:
    east = create_team(session, name="East", manager=org.maria)
    west = create_team(session, name="West", manager=org.otto)
    labels: dict[int, str] = {}
    for label, owner, period, dollars in [
        ("rita-q1", org.rita, Q1, 100_000),
        ("rita-q2", org.rita, Q2, 120_000),
        ("ray-q1", org.ray, Q1, 80_000),
        ("maria-q1", org.maria, Q1, 200_000),
        ("olga-q1", org.olga, Q1, 90_000),
    ]:
        quota = set_quota(
            session,
            amount_cents=dollars * 100,
            user=owner,
            period_start=period[0],
            period_end=period[1],
        )
        labels[quota.id] = label
    for label, team, dollars in [("east-q1", east, 180_000), ("west-q1", west, 95_000)]:
        quota = set_quota(
            session, amount_cents=dollars * 100, team=team, period_start=Q1[0], period_end=Q1[1]
        )
        labels[quota.id] = label
    return Plan(east, west, labels)


def labelled(response: Any, plan: Plan) -> list[str]:
    assert response.status_code == 200, response.text
    return [plan.labels[item["id"]] for item in response.json()["items"]]


def quota_count(session: Session) -> int:
    return session.scalar(select(func.count()).select_from(Quota)) or 0


def audit_rows(session: Session) -> list[AuditEntry]:
    stmt = select(AuditEntry).where(AuditEntry.entity_type == "quota").order_by(AuditEntry.id)
    return list(session.scalars(stmt))


class TestRead:
    @pytest.mark.parametrize(
        ("who", "expected"),
        [
            (
                "admin",
                ["rita-q1", "ray-q1", "maria-q1", "olga-q1", "east-q1", "west-q1", "rita-q2"],
            ),
            ("maria", ["rita-q1", "ray-q1", "maria-q1", "east-q1", "rita-q2"]),
            ("otto", ["olga-q1", "west-q1"]),
            ("rita", ["rita-q1", "rita-q2"]),
            ("ray", ["ray-q1"]),
        ],
    )
    def test_each_role_sees_its_scope(
        self, api_as: ApiAs, org: SalesOrg, plan: Plan, who: str, expected: list[str]
    ) -> None:
        response = api_as(getattr(org, who)).get(QUOTAS)

        assert labelled(response, plan) == expected
        assert response.json()["total"] == len(expected)

    def test_a_quota_reads_back_exactly(self, api_as: ApiAs, org: SalesOrg, plan: Plan) -> None:
        [item] = api_as(org.ray).get(QUOTAS).json()["items"]

        assert item == {
            "id": item["id"],
            "user_id": org.ray.id,
            "team_id": None,
            "period_start": "2025-01-01",
            "period_end": "2025-04-01",
            "amount_cents": 80_000_00,
        }

    @pytest.mark.parametrize(
        ("params", "expected"),
        [
            ({"user_id": "rita"}, ["rita-q1", "rita-q2"]),
            ({"team_id": "east"}, ["east-q1"]),
            # Q1 ends on April 1st (exclusive), so it does not overlap April.
            ({"period_from": "2025-04-01"}, ["rita-q2"]),
            ({"period_from": "2025-03-31", "user_id": "rita"}, ["rita-q1", "rita-q2"]),
            ({"period_to": "2025-03-31", "user_id": "rita"}, ["rita-q1"]),
            ({"period_to": "2025-04-01", "user_id": "rita"}, ["rita-q1", "rita-q2"]),
            ({"period_from": "2025-07-01"}, []),
            ({"period_to": "2024-12-31"}, []),
            ({"sort": "-amount_cents", "period_to": "2025-03-31"},
             ["maria-q1", "east-q1", "rita-q1", "west-q1", "olga-q1", "ray-q1"]),
        ],
    )  # fmt: skip
    def test_filters(
        self,
        api_as: ApiAs,
        org: SalesOrg,
        plan: Plan,
        params: dict[str, Any],
        expected: list[str],
    ) -> None:
        if params.get("user_id") == "rita":
            params = {**params, "user_id": org.rita.id}
        if params.get("team_id") == "east":
            params = {**params, "team_id": plan.east.id}

        assert labelled(api_as(org.admin).get(QUOTAS, params=params), plan) == expected

    def test_cursor_walks_every_page(self, api_as: ApiAs, org: SalesOrg, plan: Plan) -> None:
        admin = api_as(org.admin)
        pages: list[list[str]] = []
        params: dict[str, Any] = {"limit": 3, "sort": "amount_cents"}
        while True:
            page = admin.get(QUOTAS, params=params)
            pages.append(labelled(page, plan))
            if page.json()["next_cursor"] is None:
                break
            params["cursor"] = page.json()["next_cursor"]

        assert pages == [
            ["ray-q1", "olga-q1", "west-q1"],
            ["rita-q1", "rita-q2", "east-q1"],
            ["maria-q1"],
        ]

    @pytest.mark.parametrize(
        "params",
        [
            {"user_id": 2**63},
            {"team_id": 0},
            {"period_from": "2025-13-01"},
            {"period_to": "soon"},
            {"sort": "owner"},
        ],
    )
    def test_bad_filters_are_422(
        self, api_as: ApiAs, org: SalesOrg, params: dict[str, Any]
    ) -> None:
        response = api_as(org.admin).get(QUOTAS, params=params)

        assert response.status_code == 422
        assert next(iter(params)) in response.text


class TestSet:
    def test_first_set_is_201_and_a_replacement_200_both_audited(
        self, api_as: ApiAs, org: SalesOrg, session: Session
    ) -> None:
        maria = api_as(org.maria)
        body = {"user_id": org.rita.id, "start_month": "2025-01", "months": 3}

        first = maria.post(QUOTAS, json={**body, "amount_cents": 100_000_00})
        second = maria.post(QUOTAS, json={**body, "amount_cents": 110_000_00})

        assert first.status_code == 201, first.text
        assert second.status_code == 200, second.text
        assert second.json() == {**first.json(), "amount_cents": 110_000_00}
        assert quota_count(session) == 1
        created, updated = audit_rows(session)
        assert (created.action, created.actor_id, created.before) == ("set", org.maria.id, None)
        assert created.after == first.json()
        assert updated.action == "update"
        assert (updated.before, updated.after) == (
            {"amount_cents": 100_000_00},
            {"amount_cents": 110_000_00},
        )

    @pytest.mark.parametrize(
        ("who", "owner", "status"),
        [
            ("admin", "maria", 201),
            ("admin", "west", 201),
            ("maria", "ray", 201),
            ("maria", "east", 201),
            ("maria", "maria", 403),
            ("maria", "west", 403),
            # Someone outside the caller's scope is a missing reference, as if they did not exist.
            ("maria", "olga", 409),
            ("otto", "east", 403),
            ("rita", "rita", 403),
            ("rita", "ray", 403),
            ("rita", "east", 403),
        ],
    )
    def test_who_may_set_whose_quota(
        self, api_as: ApiAs, org: SalesOrg, session: Session, who: str, owner: str, status: int
    ) -> None:
        teams = {
            "east": create_team(session, name="East", manager=org.maria),
            "west": create_team(session, name="West", manager=org.otto),
        }
        target = (
            {"team_id": teams[owner].id} if owner in teams else {"user_id": getattr(org, owner).id}
        )
        body = {**target, "start_month": "2025-01", "months": 3, "amount_cents": 1}

        response = api_as(getattr(org, who)).post(QUOTAS, json=body)

        assert response.status_code == status, response.text
        assert quota_count(session) == (1 if status == 201 else 0)
        assert len(audit_rows(session)) == (1 if status == 201 else 0)

    @pytest.mark.parametrize(
        ("months", "end"),
        [(1, "2025-12-01"), (3, "2026-02-01"), (12, "2026-11-01"), (2.0, "2026-01-01")],
    )
    def test_a_period_is_whole_months_from_its_first(
        self, api_as: ApiAs, org: SalesOrg, months: float, end: str
    ) -> None:
        body = {"user_id": org.rita.id, "start_month": "2025-11", "months": months}

        response = api_as(org.admin).post(QUOTAS, json={**body, "amount_cents": 5_000_00})

        assert response.status_code == 201, response.text
        assert (response.json()["period_start"], response.json()["period_end"]) == (
            "2025-11-01",
            end,
        )

    def test_a_team_quota_names_only_the_team(
        self, api_as: ApiAs, org: SalesOrg, session: Session
    ) -> None:
        east = create_team(session, name="East", manager=org.maria)
        body = {"team_id": east.id, "start_month": "2025-01", "months": 3, "amount_cents": 1}

        response = api_as(org.admin).post(QUOTAS, json=body)

        assert response.status_code == 201, response.text
        assert (response.json()["team_id"], response.json()["user_id"]) == (east.id, None)

    @pytest.mark.parametrize(("owner", "field"), [("user_id", "user_id"), ("team_id", "team_id")])
    def test_an_unknown_owner_is_409_naming_the_field_and_writes_nothing(
        self, api_as: ApiAs, org: SalesOrg, session: Session, owner: str, field: str
    ) -> None:
        body = {owner: 999_999, "start_month": "2025-01", "months": 3, "amount_cents": 1}

        response = api_as(org.admin).post(QUOTAS, json=body)

        assert response.status_code == 409, response.text
        assert response.json()["error"]["details"] == {"field": field}
        assert quota_count(session) == 0

    @pytest.mark.parametrize(
        ("changes", "field"),
        [
            ({"team_id": "east"}, "exactly one of user_id or team_id"),
            ({"user_id": None}, "user_id"),
            ({"period_start": "2025-01-01"}, "period_start"),
            ({"period_end": "2025-04-01"}, "period_end"),
            ({"start_month": "2025-02-01"}, "start_month"),
            ({"start_month": "2025-00"}, "start_month"),
            ({"start_month": 202501}, "start_month"),
            ({"months": 0}, "months"),
            ({"months": 13}, "months"),
            ({"months": 2.5}, "months"),
            ({"amount_cents": -1}, "amount_cents"),
            ({"amount_cents": "100"}, "amount_cents"),
            ({"amount_cents": 1.5}, "amount_cents"),
            ({"amount_cents": 2**63}, "amount_cents"),
            ({"user_id": 2**63}, "user_id"),
            ({"region": "EMEA"}, "region"),
        ],
    )
    def test_bad_input_is_422_naming_the_field_and_writes_nothing(
        self,
        api_as: ApiAs,
        org: SalesOrg,
        session: Session,
        changes: dict[str, Any],
        field: str,
    ) -> None:
        east = create_team(session, name="East", manager=org.maria)
        if changes.get("team_id") == "east":
            changes = {"team_id": east.id}
        body = {
            "user_id": org.rita.id,
            "start_month": "2025-01",
            "months": 3,
            "amount_cents": 1,
            **changes,
        }

        response = api_as(org.admin).post(QUOTAS, json=body)

        assert response.status_code == 422, response.text
        assert field in response.text
        assert quota_count(session) == 0
        assert audit_rows(session) == []
