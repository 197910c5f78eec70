"""The deals API: scope, filters, pagination, writes with versions, history, audit."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from tests.factories import SalesOrg, make_account, make_contact, make_user, stage_named
from topline.audit.models import AuditEntry
from topline.auth.enums import Role
from topline.auth.models import User
from topline.crm.models import Deal

ApiAs = Callable[[User], TestClient]
BY_AMOUNT_DESC = [
    "Olga Discovery",
    "Ray Proposal",
    "Rita Proposal",
    "Ray Negotiation",
    "Rita Prospect",
]


def names(response) -> list[str]:
    assert response.status_code == 200, response.text
    return [item["name"] for item in response.json()["items"]]


def deal_id(client: TestClient, name: str) -> int:
    found = client.get("/api/v1/deals", params={"q": name}).json()["items"]
    assert len(found) == 1, found
    return found[0]["id"]


class TestScope:
    def test_rep_sees_only_own_deals_in_list_count_and_get(
        self, api_as: ApiAs, org: SalesOrg
    ) -> None:
        rita = api_as(org.rita)
        listed = rita.get("/api/v1/deals", params={"sort": "name"})
        assert names(listed) == ["Rita Proposal", "Rita Prospect", "Rita Won"]
        assert listed.json()["total"] == 3

        ray_deal = deal_id(api_as(org.ray), "Ray Proposal")
        assert rita.get(f"/api/v1/deals/{ray_deal}").status_code == 404
        assert rita.get(f"/api/v1/deals/{ray_deal}/history").status_code == 404
        assert rita.get("/api/v1/deals", params={"q": "Ray"}).json()["total"] == 0

    def test_manager_sees_subtree_and_admin_everything(self, api_as: ApiAs, org: SalesOrg) -> None:
        assert api_as(org.maria).get("/api/v1/deals").json()["total"] == 5
        assert names(api_as(org.otto).get("/api/v1/deals")) == ["Olga Discovery"]
        assert api_as(org.admin).get("/api/v1/deals").json()["total"] == 6

    def test_team_of_narrows_to_a_managers_subtree(self, api_as: ApiAs, org: SalesOrg) -> None:
        admin = api_as(org.admin)
        response = admin.get("/api/v1/deals", params={"team_of": org.otto.id})
        assert names(response) == ["Olga Discovery"]
        # A manager cannot look into another manager's team through the filter.
        other = api_as(org.maria).get("/api/v1/deals", params={"team_of": org.otto.id})
        assert other.status_code == 404


class TestFilters:
    @pytest.mark.parametrize(
        ("params", "expected"),
        [
            ({"status": "won"}, ["Rita Won"]),
            ({"amount_min": 25_000_00, "amount_max": 40_000_00}, ["Rita Proposal", "Ray Proposal"]),
            ({"q": "propos"}, ["Rita Proposal", "Ray Proposal"]),
            ({"q": "100%"}, []),
            ({"sort": "-amount_cents", "status": "open"}, BY_AMOUNT_DESC),
        ],
    )
    def test_filters_and_sort(
        self, api_as: ApiAs, org: SalesOrg, params: dict, expected: list[str]
    ) -> None:
        response = api_as(org.admin).get("/api/v1/deals", params=params)
        if "sort" in params:
            assert names(response) == expected
        else:
            assert sorted(names(response)) == sorted(expected)

    def test_stage_filter(self, api_as: ApiAs, org: SalesOrg, session: Session) -> None:
        proposal = stage_named(session, org.pipeline, "Proposal")
        response = api_as(org.admin).get("/api/v1/deals", params={"stage_id": [proposal.id]})
        assert sorted(names(response)) == ["Ray Proposal", "Rita Proposal"]

    def test_cursor_walks_every_row_once_in_order(self, api_as: ApiAs, org: SalesOrg) -> None:
        admin = api_as(org.admin)
        seen: list[str] = []
        cursor = None
        for _ in range(10):
            params = {"limit": 2, "sort": "-amount_cents"}
            if cursor:
                params["cursor"] = cursor
            page = admin.get("/api/v1/deals", params=params).json()
            seen += [item["name"] for item in page["items"]]
            cursor = page["next_cursor"]
            if cursor is None:
                break
        assert seen == names(admin.get("/api/v1/deals", params={"sort": "-amount_cents"}))
        assert len(seen) == 6

    @pytest.mark.parametrize(
        "params",
        [
            {"limit": 0},
            {"limit": 201},
            {"sort": "password"},
            {"owner_id": 2**70},
            {"amount_min": -1},
            {"status": "maybe"},
            {"updated_since": "2025-01-01T00:00:00"},
            {"q": "x" * 101},
        ],
    )
    def test_bad_filters_are_422_naming_the_problem(
        self, api_as: ApiAs, org: SalesOrg, params: dict
    ) -> None:
        response = api_as(org.admin).get("/api/v1/deals", params=params)
        assert response.status_code == 422, response.text
        body = response.json()["error"]
        assert body["code"] == "invalid_input"
        field = next(iter(params))
        assert field in response.text

    def test_unknown_cursor_is_404(self, api_as: ApiAs, org: SalesOrg) -> None:
        response = api_as(org.admin).get("/api/v1/deals", params={"cursor": "not-a-cursor"})
        assert response.status_code == 404
        assert response.json()["error"]["details"] == {"field": "cursor"}

    def test_sql_injection_in_search_is_just_text(self, api_as: ApiAs, org: SalesOrg) -> None:
        response = api_as(org.admin).get("/api/v1/deals", params={"q": "' OR 1=1 --"})
        assert response.status_code == 200
        assert response.json()["total"] == 0


class TestWrites:
    def test_create_defaults_owner_to_caller_and_audits(
        self, api_as: ApiAs, org: SalesOrg, session: Session
    ) -> None:
        response = api_as(org.ray).post(
            "/api/v1/deals",
            json={"name": "New logo", "amount_cents": 12_345_00, "close_date": "2099-06-30"},
        )
        assert response.status_code == 201, response.text
        deal = response.json()
        assert deal["owner_id"] == org.ray.id
        assert deal["version"] == 1
        entry = session.scalar(select(AuditEntry).where(AuditEntry.entity_id == deal["id"]))
        assert entry is not None
        assert (entry.action, entry.entity_type, entry.actor_id) == ("create", "deal", org.ray.id)

    def test_rep_cannot_create_for_a_peer_but_manager_can(
        self, api_as: ApiAs, org: SalesOrg, session: Session
    ) -> None:
        body = {"name": "X", "amount_cents": 1, "close_date": "2099-06-30", "owner_id": org.ray.id}
        assert api_as(org.rita).post("/api/v1/deals", json=body).status_code == 403
        assert api_as(org.maria).post("/api/v1/deals", json=body).status_code == 201
        # Ray is outside Otto's team: to him Ray does not exist (a missing reference).
        outside = api_as(org.otto).post("/api/v1/deals", json=body)
        assert outside.status_code == 409, outside.text
        assert outside.json()["error"]["details"] == {"field": "owner_id"}
        assert session.scalar(select(func.count()).where(Deal.name == "X")) == 1

    def test_inactive_owner_is_409_and_writes_nothing(
        self, api_as: ApiAs, org: SalesOrg, session: Session
    ) -> None:
        gone = make_user(session, role=Role.REP, manager=org.maria, active=False)
        body = {"name": "X", "amount_cents": 1, "close_date": "2099-06-30", "owner_id": gone.id}
        response = api_as(org.maria).post("/api/v1/deals", json=body)
        assert response.status_code == 409, response.text
        assert response.json()["error"]["details"] == {"field": "owner_id"}
        assert session.scalar(select(func.count()).where(Deal.owner_id == gone.id)) == 0

    def test_contact_of_another_account_is_409_naming_the_field(
        self, api_as: ApiAs, org: SalesOrg, session: Session
    ) -> None:
        account = make_account(session, owner=org.ray)
        elsewhere = make_contact(session, account=make_account(session, owner=org.ray))
        body = {"name": "X", "amount_cents": 1, "close_date": "2099-06-30",
                "account_id": account.id, "contact_id": elsewhere.id}  # fmt: skip
        response = api_as(org.ray).post("/api/v1/deals", json=body)
        assert response.status_code == 409, response.text
        assert response.json()["error"]["details"] == {"field": "contact_id"}
        assert session.scalar(select(func.count()).where(Deal.name == "X")) == 0

    def test_contact_without_account_gives_the_deal_the_contacts_account(
        self, api_as: ApiAs, org: SalesOrg, session: Session
    ) -> None:
        contact = make_contact(session, account=make_account(session, owner=org.ray))
        body = {"name": "X", "amount_cents": 1, "close_date": "2099-06-30",
                "contact_id": contact.id}  # fmt: skip
        response = api_as(org.ray).post("/api/v1/deals", json=body)
        assert response.status_code == 201, response.text
        assert (response.json()["account_id"], response.json()["contact_id"]) == (
            contact.account_id, contact.id,
        )  # fmt: skip

    def test_past_close_date_is_accepted_and_stored_as_given(
        self, api_as: ApiAs, org: SalesOrg
    ) -> None:
        # Imports and late data entry need past dates; hygiene flags them instead.
        ray = api_as(org.ray)
        body = {"name": "Late entry", "amount_cents": 1, "close_date": "2024-01-01"}
        created = ray.post("/api/v1/deals", json=body)
        assert created.status_code == 201, created.text
        assert created.json()["close_date"] == "2024-01-01"
        target = created.json()["id"]
        moved = ray.patch(
            f"/api/v1/deals/{target}", json={"version": 1, "close_date": "2023-12-01"}
        )
        assert moved.status_code == 200, moved.text
        assert ray.get(f"/api/v1/deals/{target}").json()["close_date"] == "2023-12-01"

    @pytest.mark.parametrize(
        ("body", "field"),
        [
            ({"amount_cents": -5}, "amount_cents"),
            ({"amount_cents": "5"}, "amount_cents"),
            ({"name": "bad\x00name"}, "name"),
            ({"close_date": 4_102_444_800}, "close_date"),  # a Unix time, not an ISO date
            ({"forecast_category": "closed"}, "forecast_category"),
            ({"colour": "red"}, "colour"),
            ({"stage_id": 2**62}, "stage_id"),
        ],
    )
    def test_bad_create_is_422_naming_the_field_and_writes_nothing(
        self, api_as: ApiAs, org: SalesOrg, body: dict, field: str
    ) -> None:
        admin = api_as(org.admin)
        payload = {"name": "Bad", "amount_cents": 1, "close_date": "2099-06-30", **body}
        response = admin.post("/api/v1/deals", json=payload)
        assert response.status_code == 422, response.text
        assert field in response.text
        assert admin.get("/api/v1/deals").json()["total"] == 6

    @pytest.mark.parametrize(
        ("body", "field"),
        [
            ({"name": None}, "name"),
            ({"amount_cents": None}, "amount_cents"),
            ({"close_date": None}, "close_date"),
            ({"forecast_category": None}, "forecast_category"),
            ({"forecast_category": "closed"}, "forecast_category"),
            ({"type": None}, "type"),
        ],
    )
    def test_bad_patch_is_422_naming_the_field_and_writes_nothing(
        self, api_as: ApiAs, org: SalesOrg, body: dict, field: str
    ) -> None:
        rita = api_as(org.rita)
        target = f"/api/v1/deals/{deal_id(rita, 'Rita Proposal')}"
        before = rita.get(target).json()
        response = rita.patch(target, json={"version": 1, **body})
        assert response.status_code == 422, response.text
        assert field in response.text
        assert rita.get(target).json() == before

    def test_patch_with_stale_version_is_409_with_current_state(
        self, api_as: ApiAs, org: SalesOrg
    ) -> None:
        rita = api_as(org.rita)
        target = deal_id(rita, "Rita Proposal")
        first = rita.patch(
            f"/api/v1/deals/{target}", json={"version": 1, "amount_cents": 30_000_00}
        )
        assert first.status_code == 200, first.text
        assert first.json()["version"] == 2

        stale = rita.patch(f"/api/v1/deals/{target}", json={"version": 1, "next_step": "Call"})
        assert stale.status_code == 409
        assert stale.json()["error"]["code"] == "stale_deal"
        current = stale.json()["error"]["details"]["current"]
        assert (current["version"], current["amount_cents"]) == (2, 30_000_00)
        assert rita.get(f"/api/v1/deals/{target}").json()["next_step"] is None

    def test_rep_cannot_edit_a_peers_deal(self, api_as: ApiAs, org: SalesOrg) -> None:
        ray_deal = deal_id(api_as(org.ray), "Ray Proposal")
        response = api_as(org.rita).patch(f"/api/v1/deals/{ray_deal}", json={"version": 1})
        assert response.status_code == 404

    def test_move_win_history_and_audit_diff(
        self, api_as: ApiAs, org: SalesOrg, session: Session
    ) -> None:
        ray = api_as(org.ray)
        target = deal_id(ray, "Ray Negotiation")
        proposal = stage_named(session, org.pipeline, "Proposal")
        moved = ray.post(
            f"/api/v1/deals/{target}/move", json={"version": 1, "stage_id": proposal.id}
        )
        assert moved.status_code == 200, moved.text
        won = ray.post(f"/api/v1/deals/{target}/win", json={"version": 2})
        assert won.status_code == 200, won.text
        assert won.json()["forecast_category"] == "closed"

        again = ray.post(f"/api/v1/deals/{target}/win", json={"version": 3})
        assert again.status_code == 409
        history = ray.get(f"/api/v1/deals/{target}/history").json()
        assert [row["changed_fields"] for row in history][:2] == ["created", "stage"]
        assert history[-1]["valid_to"] is None

        entry = session.scalars(
            select(AuditEntry).where(AuditEntry.entity_id == target, AuditEntry.action == "move")
        ).one()
        assert entry.before == {"stage_id": stage_named(session, org.pipeline, "Negotiation").id,
                                "updated_at": entry.before["updated_at"], "version": 1}  # fmt: skip
        assert entry.after["stage_id"] == proposal.id

    def test_lose_needs_reason(self, api_as: ApiAs, org: SalesOrg) -> None:
        ray = api_as(org.ray)
        target = deal_id(ray, "Ray Proposal")
        missing = ray.post(f"/api/v1/deals/{target}/lose", json={"version": 1, "loss_reason": ""})
        assert missing.status_code == 422
        lost = ray.post(f"/api/v1/deals/{target}/lose", json={"version": 1, "loss_reason": "Price"})
        assert lost.json()["loss_reason"] == "Price"

    def test_rep_cannot_reassign_manager_can_within_team(
        self, api_as: ApiAs, org: SalesOrg
    ) -> None:
        target = deal_id(api_as(org.ray), "Ray Proposal")
        body = {"version": 1, "owner_id": org.rita.id}
        assert api_as(org.ray).post(f"/api/v1/deals/{target}/owner", json=body).status_code == 403
        moved = api_as(org.maria).post(f"/api/v1/deals/{target}/owner", json=body)
        assert moved.status_code == 200
        assert moved.json()["owner_id"] == org.rita.id
        to_outsider = {"version": 2, "owner_id": org.olga.id}
        outside = api_as(org.maria).post(f"/api/v1/deals/{target}/owner", json=to_outsider)
        assert outside.status_code == 409, outside.text
        assert outside.json()["error"]["details"] == {"field": "owner_id"}
        assert api_as(org.maria).get(f"/api/v1/deals/{target}").json()["owner_id"] == org.rita.id


class TestAuthentication:
    @pytest.mark.parametrize(
        "header", [None, "Bearer", "Bearer tl_nope", "Basic dXNlcjpwYXNz", "Bearer " + "x" * 5000]
    )
    def test_no_valid_token_is_401(
        self, make_client: Callable[..., TestClient], header: str | None
    ) -> None:
        client = make_client()
        headers = {"Authorization": header} if header else {}
        response = client.get("/api/v1/deals", headers=headers)
        assert response.status_code == 401
        assert response.json()["error"]["code"] == "invalid_token"
        assert response.headers["www-authenticate"].startswith("Bearer")

    def test_session_cookie_alone_does_not_open_the_api(
        self, make_client: Callable[..., TestClient], org: SalesOrg
    ) -> None:
        from tests.conftest import PASSWORD
        from tests.web.helpers import login

        client = make_client()
        assert login(client, org.rita.email, PASSWORD).status_code == 303
        assert client.get("/api/v1/deals").status_code == 401
