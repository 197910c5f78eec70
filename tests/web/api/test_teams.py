"""The teams API: everyone reads the org chart; admins add, rename and re-parent teams."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from tests.factories import SalesOrg
from topline.audit.models import AuditEntry
from topline.auth import service as auth_service
from topline.auth.models import Team, User
from topline.auth.service import create_team

ApiAs = Callable[[User], TestClient]
TEAMS = "/api/v1/teams"


@dataclass
class OrgChart:
    """Sales (led by Ada) over East (Maria) and West (Otto); Enterprise sits under East."""

    sales: Team
    east: Team
    west: Team
    enterprise: Team


@pytest.fixture
def chart(session: Session, org: SalesOrg) -> OrgChart:
    sales = create_team(session, name="Sales", manager=org.admin)
    east = create_team(session, name="East", manager=org.maria, parent=sales)
    west = create_team(session, name="West", manager=org.otto, parent=sales)
    enterprise = create_team(session, name="Enterprise", manager=org.maria, parent=east)
    return OrgChart(sales, east, west, enterprise)


def names(response: Any) -> list[str]:
    assert response.status_code == 200, response.text
    return [item["name"] for item in response.json()["items"]]


def team_count(session: Session) -> int:
    return session.scalar(select(func.count()).select_from(Team)) or 0


def audit_rows(session: Session) -> list[AuditEntry]:
    stmt = select(AuditEntry).where(AuditEntry.entity_type == "team").order_by(AuditEntry.id)
    return list(session.scalars(stmt))


class TestRead:
    @pytest.mark.parametrize("who", ["admin", "maria", "olga"])
    def test_everyone_signed_in_reads_every_team(
        self, api_as: ApiAs, org: SalesOrg, chart: OrgChart, who: str
    ) -> None:
        response = api_as(getattr(org, who)).get(TEAMS)

        assert names(response) == ["East", "Enterprise", "Sales", "West"]
        assert response.json()["total"] == 4

    def test_one_team(self, api_as: ApiAs, org: SalesOrg, chart: OrgChart) -> None:
        response = api_as(org.rita).get(f"{TEAMS}/{chart.west.id}")

        assert response.json() == {
            "id": chart.west.id,
            "name": "West",
            "manager_id": org.otto.id,
            "parent_id": chart.sales.id,
            "version": 1,
        }

    def test_unknown_team_is_404_and_bad_ids_are_422(
        self, api_as: ApiAs, org: SalesOrg, chart: OrgChart
    ) -> None:
        rita = api_as(org.rita)

        assert rita.get(f"{TEAMS}/999999").status_code == 404
        for bad in (0, 2**63):
            response = rita.get(f"{TEAMS}/{bad}")
            assert response.status_code == 422
            assert "team_id" in response.text
        assert rita.get(f"{TEAMS}/east").status_code == 404  # not an id: no such address

    def test_signing_in_is_still_required(self, client: TestClient, chart: OrgChart) -> None:
        assert client.get(TEAMS).status_code == 401

    @pytest.mark.parametrize(
        ("params", "expected"),
        [
            ({"manager_id": "maria"}, ["East", "Enterprise"]),
            ({"parent_id": "sales"}, ["East", "West"]),
            ({"q": "E"}, ["East", "Enterprise", "Sales", "West"]),
            ({"q": "ter"}, ["Enterprise"]),
            ({"sort": "-name"}, ["West", "Sales", "Enterprise", "East"]),
            ({"sort": "id"}, ["Sales", "East", "West", "Enterprise"]),
        ],
    )
    def test_filters_and_sort(
        self,
        api_as: ApiAs,
        org: SalesOrg,
        chart: OrgChart,
        params: dict[str, Any],
        expected: list[str],
    ) -> None:
        if params.get("manager_id") == "maria":
            params = {"manager_id": org.maria.id}
        if params.get("parent_id") == "sales":
            params = {"parent_id": chart.sales.id}

        assert names(api_as(org.rita).get(TEAMS, params=params)) == expected

    def test_cursor_walks_every_page(self, api_as: ApiAs, org: SalesOrg, chart: OrgChart) -> None:
        rita = api_as(org.rita)
        pages: list[list[str]] = []
        params: dict[str, Any] = {"limit": 3, "sort": "-name"}
        while True:
            page = rita.get(TEAMS, params=params)
            pages.append(names(page))
            if page.json()["next_cursor"] is None:
                break
            params["cursor"] = page.json()["next_cursor"]

        assert pages == [["West", "Sales", "Enterprise"], ["East"]]

    @pytest.mark.parametrize(
        "params", [{"manager_id": 2**64}, {"parent_id": -3}, {"sort": "manager"}, {"q": ""}]
    )
    def test_bad_filters_are_422(
        self, api_as: ApiAs, org: SalesOrg, params: dict[str, Any]
    ) -> None:
        response = api_as(org.rita).get(TEAMS, params=params)

        assert response.status_code == 422
        assert next(iter(params)) in response.text


class TestCreate:
    def test_admin_adds_a_team_and_it_is_audited(
        self, api_as: ApiAs, org: SalesOrg, chart: OrgChart, session: Session
    ) -> None:
        body = {"name": " Channel ", "manager_id": org.otto.id, "parent_id": chart.sales.id}

        response = api_as(org.admin).post(TEAMS, json=body)

        assert response.status_code == 201, response.text
        team = response.json()
        assert (team["name"], team["manager_id"], team["parent_id"]) == (
            "Channel",
            org.otto.id,
            chart.sales.id,
        )
        [entry] = audit_rows(session)
        assert (entry.action, entry.entity_id, entry.actor_id) == (
            "create",
            team["id"],
            org.admin.id,
        )
        assert entry.after == team

    @pytest.mark.parametrize("who", ["maria", "rita"])
    def test_only_admins_add_teams(
        self, api_as: ApiAs, org: SalesOrg, session: Session, who: str
    ) -> None:
        response = api_as(getattr(org, who)).post(TEAMS, json={"name": "Mine"})

        assert response.status_code == 403
        assert team_count(session) == 0

    @pytest.mark.parametrize(
        ("body", "status", "field"),
        [
            ({"name": "East"}, 409, "name"),
            ({"name": " East "}, 409, "name"),
            ({"name": ""}, 422, "name"),
            ({"name": "   "}, 422, "name"),
            ({"name": "N\x00"}, 422, "name"),
            ({"name": "N" * 201}, 422, "name"),
            ({"name": 7}, 422, "name"),
            ({"name": "X", "manager_id": "rita"}, 409, "manager_id"),
            ({"name": "X", "manager_id": 999_999}, 409, "manager_id"),
            ({"name": "X", "manager_id": 2**63}, 422, "manager_id"),
            ({"name": "X", "manager_id": "12"}, 422, "manager_id"),
            ({"name": "X", "parent_id": 999_999}, 409, "parent_id"),
            ({"name": "X", "colour": "red"}, 422, "colour"),
        ],
    )
    def test_bad_input_is_refused_naming_the_field_and_writes_nothing(
        self,
        api_as: ApiAs,
        org: SalesOrg,
        chart: OrgChart,
        session: Session,
        body: dict[str, Any],
        status: int,
        field: str,
    ) -> None:
        if body.get("manager_id") == "rita":
            body = {**body, "manager_id": org.rita.id}

        response = api_as(org.admin).post(TEAMS, json=body)

        assert response.status_code == status, response.text
        assert field in response.text
        assert team_count(session) == 4
        assert audit_rows(session) == []

    @pytest.mark.parametrize("method", ["post", "patch"])
    def test_a_name_taken_by_a_racing_request_is_409_not_500(
        self,
        api_as: ApiAs,
        org: SalesOrg,
        chart: OrgChart,
        session: Session,
        monkeypatch: pytest.MonkeyPatch,
        method: str,
    ) -> None:
        # Both requests passed the name check before either wrote; the constraint decides.
        monkeypatch.setattr(auth_service, "find_team_by_name", lambda session, name: None)
        admin = api_as(org.admin)

        if method == "post":
            response = admin.post(TEAMS, json={"name": "East"})
        else:
            response = admin.patch(f"{TEAMS}/{chart.west.id}", json={"version": 1, "name": "East"})

        assert response.status_code == 409, response.text
        assert response.json()["error"]["details"] == {"field": "name"}
        assert "a team named 'East' already exists" in response.json()["error"]["message"]
        assert sorted(session.scalars(select(Team.name))) == [
            "East", "Enterprise", "Sales", "West",
        ]  # fmt: skip
        assert audit_rows(session) == []
        assert admin.get(f"{TEAMS}/{chart.west.id}").json()["name"] == "West"


class TestUpdate:
    def test_admin_renames_and_hands_a_team_over_with_an_audited_diff(
        self, api_as: ApiAs, org: SalesOrg, chart: OrgChart, session: Session
    ) -> None:
        response = api_as(org.admin).patch(
            f"{TEAMS}/{chart.enterprise.id}",
            json={
                "version": 1,
                "name": "Strategic",
                "manager_id": org.otto.id,
                "parent_id": chart.west.id,
            },
        )

        assert response.status_code == 200, response.text
        [entry] = audit_rows(session)
        assert entry.action == "update"
        assert entry.before == {
            "manager_id": org.maria.id,
            "name": "Enterprise",
            "parent_id": chart.east.id,
            "version": 1,
        }
        assert entry.after == {
            "manager_id": org.otto.id,
            "name": "Strategic",
            "parent_id": chart.west.id,
            "version": 2,
        }

    def test_keeping_its_own_name_and_clearing_the_parent_is_fine(
        self, api_as: ApiAs, org: SalesOrg, chart: OrgChart
    ) -> None:
        response = api_as(org.admin).patch(
            f"{TEAMS}/{chart.east.id}", json={"version": 1, "name": "East", "parent_id": None}
        )

        assert response.status_code == 200
        assert response.json()["parent_id"] is None

    @pytest.mark.parametrize(
        ("target", "body", "status", "field"),
        [
            ("east", {"name": "West"}, 409, "name"),
            ("east", {"name": None}, 422, "name"),
            # A team under its own sub-team, or itself, would close a circle.
            ("sales", {"parent_id": "enterprise"}, 409, "parent_id"),
            ("east", {"parent_id": "east"}, 409, "parent_id"),
            ("east", {"manager_id": "olga"}, 409, "manager_id"),
            ("east", {"manager_id": 999_999}, 409, "manager_id"),
            ("east", {"parent_id": 2**63}, 422, "parent_id"),
            ("east", {"manager": 1}, 422, "manager"),
        ],
    )
    def test_refused_edits_change_nothing(
        self,
        api_as: ApiAs,
        org: SalesOrg,
        chart: OrgChart,
        session: Session,
        target: str,
        body: dict[str, Any],
        status: int,
        field: str,
    ) -> None:
        team: Team = getattr(chart, target)
        if body.get("parent_id") in ("enterprise", "east"):
            body = {"parent_id": getattr(chart, body["parent_id"]).id}
        if body.get("manager_id") == "olga":
            body = {"manager_id": org.olga.id}
        admin = api_as(org.admin)
        before = admin.get(f"{TEAMS}/{team.id}").json()

        response = admin.patch(f"{TEAMS}/{team.id}", json={"version": 1, **body})

        assert response.status_code == status, response.text
        assert field in response.text
        assert admin.get(f"{TEAMS}/{team.id}").json() == before
        assert audit_rows(session) == []

    def test_only_admins_edit_teams_and_unknown_teams_are_404(
        self, api_as: ApiAs, org: SalesOrg, chart: OrgChart
    ) -> None:
        assert (
            api_as(org.maria)
            .patch(f"{TEAMS}/{chart.east.id}", json={"version": 1, "name": "M"})
            .status_code
            == 403
        )
        assert (
            api_as(org.admin).patch(f"{TEAMS}/999999", json={"version": 1, "name": "M"}).status_code
            == 404
        )


class TestVersions:
    def test_a_stale_version_is_409_with_the_current_team_and_changes_nothing(
        self, api_as: ApiAs, org: SalesOrg, chart: OrgChart, session: Session
    ) -> None:
        admin = api_as(org.admin)
        renamed = admin.patch(f"{TEAMS}/{chart.east.id}", json={"version": 1, "name": "North"})
        assert (renamed.status_code, renamed.json()["version"]) == (200, 2)

        # An edit made on the team as it stood before the rename must not undo it.
        stale = admin.patch(
            f"{TEAMS}/{chart.east.id}", json={"version": 1, "manager_id": org.otto.id}
        )

        assert stale.status_code == 409
        error = stale.json()["error"]
        assert error["code"] == "stale_team"
        assert "version 1" in error["message"] and "now 2" in error["message"]
        current = error["details"]["current"]
        assert current == admin.get(f"{TEAMS}/{chart.east.id}").json()
        assert (current["name"], current["manager_id"], current["version"]) == (
            "North", org.maria.id, 2,
        )  # fmt: skip
        assert session.execute(
            select(Team.name, Team.manager_id, Team.version).where(Team.id == chart.east.id)
        ).one() == ("North", org.maria.id, 2)
        assert len(audit_rows(session)) == 1

    def test_an_edit_without_a_version_is_422_naming_it(
        self, api_as: ApiAs, org: SalesOrg, chart: OrgChart
    ) -> None:
        response = api_as(org.admin).patch(f"{TEAMS}/{chart.east.id}", json={"name": "North"})

        assert response.status_code == 422
        fields = response.json()["error"]["details"]["fields"]
        assert [field["location"] for field in fields] == [["body", "version"]]
