"""The audit API: managers read their subtree's writes, admins all, reps none; newest first."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy.orm import Session

from tests.factories import SalesOrg
from topline.audit.service import record_audit
from topline.auth.models import User

ApiAs = Callable[[User], TestClient]
AUDIT = "/api/v1/audit"
T0 = datetime(2025, 3, 3, 9, 0, tzinfo=UTC)


@pytest.fixture
def trail(session: Session, org: SalesOrg) -> dict[int, str]:
    """Seven writes a minute apart, labelled `<actor>-<action>-<entity>`."""
    labels: dict[int, str] = {}
    for minute, (actor, action, entity, entity_id) in enumerate(
        [
            (org.admin, "create", "team", 1),
            (org.maria, "set", "quota", 10),
            (org.rita, "update", "deal", 100),
            (org.ray, "update", "deal", 101),
            (org.otto, "set", "quota", 11),
            (org.olga, "update", "deal", 102),
            (org.rita, "win", "deal", 100),
        ]
    ):
        entry_id = record_audit(
            session,
            actor_id=actor.id,
            action=action,
            entity_type=entity,
            entity_id=entity_id,
            before={"amount_cents": minute},
            after={"amount_cents": minute + 1},
            at=T0 + timedelta(minutes=minute),
        )
        labels[entry_id] = f"{actor.name.lower()}-{action}-{entity}"
    return labels


def labelled(response: Any, trail: dict[int, str]) -> list[str]:
    assert response.status_code == 200, response.text
    return [trail[item["id"]] for item in response.json()["items"]]


class TestScope:
    @pytest.mark.parametrize(
        ("who", "expected"),
        [
            ("admin", ["rita-win-deal", "olga-update-deal", "otto-set-quota", "ray-update-deal",
                       "rita-update-deal", "maria-set-quota", "ada-create-team"]),
            ("maria", ["rita-win-deal", "ray-update-deal", "rita-update-deal", "maria-set-quota"]),
            ("otto", ["olga-update-deal", "otto-set-quota"]),
        ],
    )  # fmt: skip
    def test_managers_see_their_subtrees_writes_and_admins_all(
        self, api_as: ApiAs, org: SalesOrg, trail: dict[int, str], who: str, expected: list[str]
    ) -> None:
        response = api_as(getattr(org, who)).get(AUDIT)

        assert labelled(response, trail) == expected
        assert response.json()["total"] == len(expected)

    @pytest.mark.parametrize("who", ["rita", "olga"])
    def test_reps_may_not_read_the_audit_log(
        self, api_as: ApiAs, org: SalesOrg, trail: dict[int, str], who: str
    ) -> None:
        response = api_as(getattr(org, who)).get(AUDIT)

        assert response.status_code == 403
        assert response.json()["error"]["code"] == "permission_denied"

    def test_an_entry_reads_back_exactly(
        self, api_as: ApiAs, org: SalesOrg, trail: dict[int, str]
    ) -> None:
        item = api_as(org.otto).get(AUDIT, params={"sort": "at"}).json()["items"][0]

        assert item == {
            "id": item["id"],
            "actor_id": org.otto.id,
            "action": "set",
            "entity_type": "quota",
            "entity_id": 11,
            "before": {"amount_cents": 4},
            "after": {"amount_cents": 5},
            "at": "2025-03-03T09:04:00Z",
        }


class TestFilters:
    @pytest.mark.parametrize(
        ("params", "expected"),
        [
            ({"entity_type": "quota"}, ["otto-set-quota", "maria-set-quota"]),
            ({"entity_type": "deal", "entity_id": 100}, ["rita-win-deal", "rita-update-deal"]),
            ({"actor_id": "ray"}, ["ray-update-deal"]),
            ({"since": "2025-03-03T09:05:00Z"}, ["rita-win-deal", "olga-update-deal"]),
            ({"since": "2025-03-03T10:05:00+01:00"}, ["rita-win-deal", "olga-update-deal"]),
            ({"sort": "at", "entity_type": "deal"},
             ["rita-update-deal", "ray-update-deal", "olga-update-deal", "rita-win-deal"]),
            ({"entity_type": "lead"}, []),
        ],
    )  # fmt: skip
    def test_filters_and_sort(
        self,
        api_as: ApiAs,
        org: SalesOrg,
        trail: dict[int, str],
        params: dict[str, Any],
        expected: list[str],
    ) -> None:
        if params.get("actor_id") == "ray":
            params = {"actor_id": org.ray.id}

        assert labelled(api_as(org.admin).get(AUDIT, params=params), trail) == expected

    def test_a_manager_filtering_on_someone_outside_their_team_sees_nothing(
        self, api_as: ApiAs, org: SalesOrg, trail: dict[int, str]
    ) -> None:
        response = api_as(org.maria).get(AUDIT, params={"actor_id": org.olga.id})

        assert labelled(response, trail) == []

    @pytest.mark.parametrize("sort", ["-at", "at"])
    def test_cursor_walks_every_page(
        self, api_as: ApiAs, org: SalesOrg, trail: dict[int, str], sort: str
    ) -> None:
        admin = api_as(org.admin)
        everything = labelled(admin.get(AUDIT, params={"sort": sort}), trail)
        pages: list[list[str]] = []
        params: dict[str, Any] = {"limit": 3, "sort": sort, "with_total": False}
        while True:
            page = admin.get(AUDIT, params=params)
            assert page.json()["total"] is None
            pages.append(labelled(page, trail))
            if page.json()["next_cursor"] is None:
                break
            params["cursor"] = page.json()["next_cursor"]

        assert [len(p) for p in pages] == [3, 3, 1]
        assert [label for page in pages for label in page] == everything
        if sort == "-at":
            assert pages[0] == ["rita-win-deal", "olga-update-deal", "otto-set-quota"]

    @pytest.mark.parametrize(
        "params",
        [
            {"since": "2025-03-03T09:05:00"},
            {"since": "March"},
            {"entity_type": "Deal; DROP TABLE audit_log"},
            {"entity_type": "x" * 65},
            {"entity_id": 2**63},
            {"actor_id": 0},
            {"sort": "actor_id"},
        ],
    )
    def test_bad_filters_are_422(
        self, api_as: ApiAs, org: SalesOrg, params: dict[str, Any]
    ) -> None:
        response = api_as(org.admin).get(AUDIT, params=params)

        assert response.status_code == 422
        assert next(iter(params)) in response.text


def test_writes_through_the_api_land_in_the_trail(api_as: ApiAs, org: SalesOrg) -> None:
    admin = api_as(org.admin)
    team = admin.post("/api/v1/teams", json={"name": "Channel", "manager_id": org.maria.id}).json()
    admin.patch(f"/api/v1/users/{org.ray.id}", json={"version": 1, "name": "Raymond"})

    response = admin.get(AUDIT, params={"actor_id": org.admin.id, "sort": "at"})

    assert [
        (e["action"], e["entity_type"], e["entity_id"], e["before"], e["after"])
        for e in response.json()["items"]
    ] == [
        ("create", "team", team["id"], None, team),
        (
            "update",
            "user",
            org.ray.id,
            {"name": "Ray", "version": 1},
            {"name": "Raymond", "version": 2},
        ),
    ]
