"""The tokens API: create (shown once), list own (admins all), revoke with immediate effect."""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from tests.factories import SalesOrg
from topline.audit.models import AuditEntry
from topline.auth.models import ApiToken, User
from topline.auth.tokens import create_token, hash_token

ApiAs = Callable[[User], TestClient]
TOKENS = "/api/v1/tokens"
ME = "/api/v1/users/me"
T0 = datetime(2025, 1, 6, 9, 0, tzinfo=UTC)


def bearer(plain: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {plain}"}


def token_rows(session: Session) -> list[AuditEntry]:
    stmt = select(AuditEntry).where(AuditEntry.entity_type == "api_token").order_by(AuditEntry.id)
    return list(session.scalars(stmt))


class TestCreate:
    def test_the_plain_token_is_shown_once_and_works_at_once(
        self, api_as: ApiAs, org: SalesOrg, session: Session
    ) -> None:
        rita = api_as(org.rita)

        response = rita.post(TOKENS, json={"name": "Laptop sync", "expires_in_days": 30})

        assert response.status_code == 201, response.text
        created = response.json()
        plain = created["token"]
        assert plain.startswith("tl_")
        assert created["prefix"] == plain[:10]
        assert (created["name"], created["user_id"]) == ("Laptop sync", org.rita.id)
        stored_token = session.get(ApiToken, created["id"])
        assert stored_token is not None and stored_token.expires_at is not None
        assert stored_token.expires_at - stored_token.created_at == timedelta(days=30)
        assert "token_hash" not in created
        stored = session.get(ApiToken, created["id"])
        assert stored is not None and stored.token_hash == hash_token(plain)
        assert rita.get(ME, headers=bearer(plain)).json()["id"] == org.rita.id
        assert plain not in rita.get(TOKENS).text

    def test_creation_is_audited_without_the_token(
        self, api_as: ApiAs, org: SalesOrg, session: Session
    ) -> None:
        response = api_as(org.ray).post(TOKENS, json={"name": "CI"})

        [entry] = token_rows(session)
        assert (entry.action, entry.actor_id, entry.entity_id) == (
            "create",
            org.ray.id,
            response.json()["id"],
        )
        recorded = json.dumps([entry.before, entry.after])
        assert response.json()["token"] not in recorded
        assert hash_token(response.json()["token"]) not in recorded
        assert entry.after is not None and set(entry.after) == {
            "id", "user_id", "name", "prefix", "created_at", "expires_at", "last_used_at",
            "revoked_at",
        }  # fmt: skip

    @pytest.mark.parametrize(
        ("body", "field"),
        [
            ({"name": ""}, "name"),
            ({"name": "x" * 101}, "name"),
            ({"name": "ci\x00"}, "name"),
            ({"name": 5}, "name"),
            ({}, "name"),
            ({"name": "ci", "expires_in_days": 0}, "expires_in_days"),
            ({"name": "ci", "expires_in_days": "30"}, "expires_in_days"),
            ({"name": "ci", "expires_in_days": 4000}, "expires_in_days"),
            ({"name": "ci", "user_id": 1}, "user_id"),
        ],
    )
    def test_bad_input_is_422_naming_the_field_and_creates_nothing(
        self, api_as: ApiAs, org: SalesOrg, session: Session, body: dict[str, Any], field: str
    ) -> None:
        client = api_as(org.rita)

        response = client.post(TOKENS, json=body)

        assert response.status_code == 422, response.text
        assert field in response.text
        assert session.scalar(select(func.count()).select_from(ApiToken)) == 1
        assert token_rows(session) == []


class TestList:
    def test_people_see_their_own_tokens_and_admins_everyones(
        self, api_as: ApiAs, org: SalesOrg, session: Session
    ) -> None:
        create_token(session, user=org.rita, name="Rita laptop", at=T0)
        create_token(session, user=org.ray, name="Ray phone", at=T0 + timedelta(hours=1))
        rita, admin = api_as(org.rita), api_as(org.admin)

        mine = rita.get(TOKENS).json()
        everyone = admin.get(TOKENS, params={"sort": "created_at"}).json()

        # api_as gives each client a token called "tests", created now (after T0).
        assert [t["name"] for t in mine["items"]] == ["tests", "Rita laptop"]
        assert {t["user_id"] for t in mine["items"]} == {org.rita.id}
        assert [t["name"] for t in everyone["items"]] == [
            "Rita laptop",
            "Ray phone",
            "tests",
            "tests",
        ]
        assert everyone["total"] == 4
        for item in mine["items"] + everyone["items"]:
            assert "token" not in item and "token_hash" not in item

    def test_filters_and_pages(self, api_as: ApiAs, org: SalesOrg, session: Session) -> None:
        for hour in range(3):
            create_token(session, user=org.ray, name=f"Ray {hour}", at=T0 + timedelta(hours=hour))
        revoked, _ = create_token(session, user=org.ray, name="Ray old", at=T0 - timedelta(days=1))
        revoked.revoked_at = T0
        session.flush()
        admin = api_as(org.admin)

        pages: list[list[str]] = []
        params: dict[str, Any] = {"user_id": org.ray.id, "limit": 2, "sort": "created_at"}
        while True:
            page = admin.get(TOKENS, params=params).json()
            pages.append([t["name"] for t in page["items"]])
            if page["next_cursor"] is None:
                break
            params["cursor"] = page["next_cursor"]

        assert pages == [["Ray old", "Ray 0"], ["Ray 1", "Ray 2"]]
        only_revoked = admin.get(TOKENS, params={"revoked": True}).json()["items"]
        assert [t["name"] for t in only_revoked] == ["Ray old"]
        ray_others = api_as(org.rita).get(TOKENS, params={"user_id": org.ray.id}).json()
        assert ray_others["items"] == []

    @pytest.mark.parametrize(
        "params", [{"user_id": 2**63}, {"sort": "token_hash"}, {"revoked": "perhaps"}]
    )
    def test_bad_filters_are_422(
        self, api_as: ApiAs, org: SalesOrg, params: dict[str, Any]
    ) -> None:
        response = api_as(org.admin).get(TOKENS, params=params)

        assert response.status_code == 422
        assert next(iter(params)) in response.text


class TestRevoke:
    def test_a_revoked_token_fails_on_the_very_next_request(
        self, api_as: ApiAs, org: SalesOrg, session: Session
    ) -> None:
        token, plain = create_token(session, user=org.rita, name="Script")
        rita = api_as(org.rita)
        assert rita.get(ME, headers=bearer(plain)).status_code == 200

        response = rita.delete(f"{TOKENS}/{token.id}")

        assert response.status_code == 204
        assert response.content == b""
        refused = rita.get(ME, headers=bearer(plain))
        assert refused.status_code == 401
        assert refused.json()["error"]["code"] == "invalid_token"
        assert rita.get(ME).status_code == 200, "the caller's other token still works"

    def test_revoking_the_token_in_use_ends_it_too(
        self, api_as: ApiAs, org: SalesOrg, session: Session
    ) -> None:
        rita = api_as(org.rita)
        own = rita.get(TOKENS).json()["items"][0]

        assert rita.delete(f"{TOKENS}/{own['id']}").status_code == 204
        assert rita.get(ME).status_code == 401

    def test_revocation_is_audited_once(
        self, api_as: ApiAs, org: SalesOrg, session: Session
    ) -> None:
        token, _ = create_token(session, user=org.ray, name="Old")
        admin = api_as(org.admin)

        assert admin.delete(f"{TOKENS}/{token.id}").status_code == 204
        assert admin.delete(f"{TOKENS}/{token.id}").status_code == 204

        [entry] = token_rows(session)
        assert (entry.action, entry.actor_id, entry.entity_id) == ("revoke", org.admin.id, token.id)
        assert entry.before == {"revoked_at": None}
        assert entry.after is not None and entry.after["revoked_at"] is not None

    def test_someone_elses_token_is_404_and_keeps_working(
        self, api_as: ApiAs, org: SalesOrg, session: Session
    ) -> None:
        token, plain = create_token(session, user=org.ray, name="Ray's")

        assert api_as(org.maria).delete(f"{TOKENS}/{token.id}").status_code == 404
        assert api_as(org.rita).get(ME, headers=bearer(plain)).status_code == 200
        assert token_rows(session) == []

    @pytest.mark.parametrize(("token_id", "status"), [(999_999, 404), (0, 422), (2**63, 422)])
    def test_unknown_or_bad_ids(
        self, api_as: ApiAs, org: SalesOrg, token_id: int, status: int
    ) -> None:
        response = api_as(org.rita).delete(f"{TOKENS}/{token_id}")

        assert response.status_code == status
        if status == 422:
            assert "token_id" in response.text


def test_an_expired_token_is_401(client: TestClient, org: SalesOrg, session: Session) -> None:
    _, plain = create_token(
        session, user=org.rita, name="Short", expires_at=T0 + timedelta(hours=1), at=T0
    )

    response = client.get(ME, headers=bearer(plain))

    assert response.status_code == 401
    assert "expired" in response.json()["error"]["message"]


@pytest.mark.parametrize(
    "header", ["", "Bearer", "Basic dGw6eA==", "Bearer tl_unknown", "Bearer " + "tl_" + "x" * 300]
)
def test_missing_or_bad_credentials_are_401(client: TestClient, org: SalesOrg, header: str) -> None:
    response = client.get(TOKENS, headers={"Authorization": header} if header else {})

    assert response.status_code == 401
