"""The users API: scope per role, filters, pages, admin-only writes with reporting-line rules."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Table, func, select, update
from sqlalchemy.orm import Session

from tests.conftest import PASSWORD
from tests.factories import SalesOrg, make_user
from topline import access
from topline.audit.models import AuditEntry
from topline.auth.enums import Role
from topline.auth.models import User
from topline.auth.service import authenticate, create_team

ApiAs = Callable[[User], TestClient]
USERS = "/api/v1/users"


def names(response: Any) -> list[str]:
    assert response.status_code == 200, response.text
    return [item["name"] for item in response.json()["items"]]


def walk(client: TestClient, params: dict[str, Any]) -> list[list[str]]:
    """The names on every page, following `next_cursor` to the end."""
    pages: list[list[str]] = []
    cursor = None
    while len(pages) < 20:
        page = client.get(USERS, params={**params, **({"cursor": cursor} if cursor else {})})
        pages.append(names(page))
        cursor = page.json()["next_cursor"]
        if cursor is None:
            return pages
    raise AssertionError("the cursor never ended")


def user_count(session: Session) -> int:
    return session.scalar(select(func.count()).select_from(User)) or 0


def audit_rows(session: Session, entity_id: int) -> list[AuditEntry]:
    stmt = select(AuditEntry).where(
        AuditEntry.entity_type == "user", AuditEntry.entity_id == entity_id
    )
    return list(session.scalars(stmt.order_by(AuditEntry.id)))


class TestScope:
    @pytest.mark.parametrize(
        ("who", "expected"),
        [
            ("admin", ["Ada", "Maria", "Olga", "Otto", "Ray", "Rita"]),
            ("maria", ["Maria", "Ray", "Rita"]),
            ("otto", ["Olga", "Otto"]),
            ("rita", ["Rita"]),
        ],
    )
    def test_list_shows_the_callers_scope(
        self, api_as: ApiAs, org: SalesOrg, who: str, expected: list[str]
    ) -> None:
        response = api_as(getattr(org, who)).get(USERS)

        assert names(response) == expected
        assert response.json()["total"] == len(expected)

    def test_out_of_scope_person_is_404_and_in_scope_is_shown(
        self, api_as: ApiAs, org: SalesOrg
    ) -> None:
        maria = api_as(org.maria)

        assert maria.get(f"{USERS}/{org.olga.id}").status_code == 404
        assert api_as(org.rita).get(f"{USERS}/{org.ray.id}").status_code == 404
        shown = maria.get(f"{USERS}/{org.rita.id}").json()
        assert shown == {
            "id": org.rita.id,
            "email": "rita@topline.example",
            "name": "Rita",
            "role": "rep",
            "manager_id": org.maria.id,
            "team_id": None,
            "active": True,
            "hired_at": "2025-01-06T09:00:00Z",
            "left_at": None,
            "created_at": "2025-01-06T09:00:00Z",
            "version": 1,
        }

    def test_me_is_the_token_owner(self, api_as: ApiAs, org: SalesOrg) -> None:
        response = api_as(org.ray).get(f"{USERS}/me")

        assert response.status_code == 200
        assert (response.json()["id"], response.json()["email"]) == (
            org.ray.id,
            "ray@topline.example",
        )

    def test_no_answer_ever_carries_a_password_hash(self, api_as: ApiAs, org: SalesOrg) -> None:
        admin = api_as(org.admin)
        answers = [
            admin.get(USERS).text,
            admin.get(f"{USERS}/me").text,
            admin.get(f"{USERS}/{org.rita.id}").text,
            admin.patch(f"{USERS}/{org.rita.id}", json={"version": 1, "name": "Rita B"}).text,
        ]
        assert org.rita.password_hash
        for text in answers:
            assert "password" not in text
            assert org.rita.password_hash not in text

    def test_requests_without_a_valid_token_are_401(
        self, client: TestClient, org: SalesOrg
    ) -> None:
        assert client.get(USERS).status_code == 401
        bad = client.get(USERS, headers={"Authorization": "Bearer tl_not-a-token"})
        assert bad.status_code == 401
        assert bad.json()["error"]["code"] == "invalid_token"


class TestFilters:
    @pytest.mark.parametrize(
        ("params", "expected"),
        [
            ({"role": "rep"}, ["Olga", "Ray", "Rita"]),
            ({"role": "manager"}, ["Maria", "Otto"]),
            ({"manager_id": "maria"}, ["Ray", "Rita"]),
            ({"q": "RI"}, ["Maria", "Rita"]),
            ({"q": "olga@"}, ["Olga"]),
            ({"q": "%"}, []),
            ({"q": "_"}, []),
            ({"sort": "-name"}, ["Rita", "Ray", "Otto", "Olga", "Maria", "Ada"]),
            ({"sort": "id"}, ["Ada", "Maria", "Rita", "Ray", "Otto", "Olga"]),
            ({"sort": "-id", "role": "rep"}, ["Olga", "Ray", "Rita"]),
        ],
    )
    def test_filters_and_sort(
        self, api_as: ApiAs, org: SalesOrg, params: dict[str, Any], expected: list[str]
    ) -> None:
        if params.get("manager_id") == "maria":
            params = {**params, "manager_id": org.maria.id}

        assert names(api_as(org.admin).get(USERS, params=params)) == expected

    def test_active_and_team_filters(self, api_as: ApiAs, org: SalesOrg, session: Session) -> None:
        east = create_team(session, name="East", manager=org.maria)
        org.ray.active = False
        org.rita.team_id = east.id
        session.flush()
        admin = api_as(org.admin)

        assert names(admin.get(USERS, params={"active": False})) == ["Ray"]
        assert names(admin.get(USERS, params={"active": True, "role": "rep"})) == ["Olga", "Rita"]
        assert names(admin.get(USERS, params={"team_id": east.id})) == ["Rita"]

    def test_cursor_walks_every_page_in_order(self, api_as: ApiAs, org: SalesOrg) -> None:
        admin = api_as(org.admin)

        assert walk(admin, {"limit": 2}) == [["Ada", "Maria"], ["Olga", "Otto"], ["Ray", "Rita"]]
        assert walk(admin, {"limit": 4, "sort": "-id"}) == [
            ["Olga", "Otto", "Ray", "Rita"],
            ["Maria", "Ada"],
        ]
        assert walk(api_as(org.maria), {"limit": 1, "sort": "-name"}) == [
            ["Rita"],
            ["Ray"],
            ["Maria"],
        ]

    @pytest.mark.parametrize(
        "params",
        [
            {"role": "boss"},
            {"manager_id": 2**70},
            {"manager_id": 0},
            {"team_id": "x"},
            {"active": "maybe"},
            {"limit": 0},
            {"limit": 201},
            {"sort": "password_hash"},
            {"q": "x" * 101},
        ],
    )
    def test_bad_filters_are_422_naming_the_parameter(
        self, api_as: ApiAs, org: SalesOrg, params: dict[str, Any]
    ) -> None:
        response = api_as(org.admin).get(USERS, params=params)

        assert response.status_code == 422, response.text
        assert response.json()["error"]["code"] == "invalid_input"
        assert next(iter(params)) in response.text

    @pytest.mark.parametrize(
        ("sort", "cursor"),
        [
            ("name", "not-a-cursor"),
            ("name", "!!"),
            ("name", "WyJBZGEiLCJ4Il0"),  # ["Ada","x"]
            ("name", "WyJBZGFcdTAwMDAiLDFd"),  # ["Ada\u0000",1]
            ("name", "WyJBZGEiLDExODA1OTE2MjA3MTc0MTEzMDM0MjRd"),  # ["Ada",2**70]
            ("id", "WzExODA1OTE2MjA3MTc0MTEzMDM0MjQsMV0"),  # [2**70,1]
            ("id", "WyJBZGEiLDFd"),  # ["Ada",1] on an id sort
        ],
    )
    def test_a_cursor_from_nowhere_is_404(
        self, api_as: ApiAs, org: SalesOrg, sort: str, cursor: str
    ) -> None:
        response = api_as(org.admin).get(USERS, params={"sort": sort, "cursor": cursor})

        assert response.status_code == 404
        assert response.json()["error"]["code"] == "cursor_not_found"

    @pytest.mark.parametrize("user_id", [0, 2**63, 10**30])
    def test_out_of_range_ids_in_the_path_are_422(
        self, api_as: ApiAs, org: SalesOrg, user_id: int
    ) -> None:
        response = api_as(org.admin).get(f"{USERS}/{user_id}")

        assert response.status_code == 422
        assert "user_id" in response.text

    @pytest.mark.parametrize("path", ["-1", "me2", "1.5"])
    def test_paths_that_are_not_ids_are_404(self, api_as: ApiAs, org: SalesOrg, path: str) -> None:
        assert api_as(org.admin).get(f"{USERS}/{path}").status_code == 404

    def test_other_methods_on_me_are_405(self, api_as: ApiAs, org: SalesOrg) -> None:
        response = api_as(org.admin).patch(f"{USERS}/me", json={"version": 1, "name": "X"})

        assert response.status_code == 405

    def test_unknown_id_is_404(self, api_as: ApiAs, org: SalesOrg) -> None:
        assert api_as(org.admin).get(f"{USERS}/{2**53 - 1}").status_code == 404


class TestCreate:
    def test_admin_adds_a_rep_without_a_password_and_it_is_audited(
        self, api_as: ApiAs, org: SalesOrg, session: Session
    ) -> None:
        body = {
            "email": " Nina@Topline.Example ",
            "name": "Nina",
            "role": "rep",
            "manager_id": org.maria.id,
            "hired_at": "2025-02-01T08:00:00+01:00",
        }

        response = api_as(org.admin).post(USERS, json=body)

        assert response.status_code == 201, response.text
        created = response.json()
        assert created["email"] == "nina@topline.example"
        assert (created["role"], created["manager_id"], created["active"]) == (
            "rep",
            org.maria.id,
            True,
        )
        assert created["hired_at"] == "2025-02-01T07:00:00Z"
        nina = session.get(User, created["id"])
        assert nina is not None and nina.password_hash is None
        [entry] = audit_rows(session, created["id"])
        assert (entry.action, entry.actor_id, entry.before) == ("create", org.admin.id, None)
        assert entry.after is not None and entry.after["email"] == "nina@topline.example"
        assert "password_hash" not in entry.after
        assert names(api_as(org.maria).get(USERS)) == ["Maria", "Nina", "Ray", "Rita"]

    def test_a_password_lets_the_new_person_sign_in(
        self, api_as: ApiAs, org: SalesOrg, session: Session
    ) -> None:
        body = {
            "email": "sam@topline.example",
            "name": "Sam",
            "role": "manager",
            "password": PASSWORD,
        }

        response = api_as(org.admin).post(USERS, json=body)

        assert response.status_code == 201
        signed_in = authenticate(session, email="sam@topline.example", password=PASSWORD)
        assert signed_in.id == response.json()["id"]

    @pytest.mark.parametrize("who", ["maria", "rita"])
    def test_only_admins_add_people(
        self, api_as: ApiAs, org: SalesOrg, session: Session, who: str
    ) -> None:
        before = user_count(session)
        body = {"email": "x@topline.example", "name": "X", "role": "rep"}

        response = api_as(getattr(org, who)).post(USERS, json=body)

        assert response.status_code == 403
        assert user_count(session) == before

    @pytest.mark.parametrize(
        ("changes", "status", "field"),
        [
            ({"colour": "red"}, 422, "colour"),
            ({"name": "Bad\x00Name"}, 422, "name"),
            ({"name": "N" * 201}, 422, "name"),
            ({"name": "   "}, 422, "name"),
            ({"email": "not-an-email"}, 422, "email"),
            ({"email": "x" * 321}, 422, "email"),
            ({"role": "boss"}, 422, "role"),
            ({"password": "short"}, 422, "password"),
            ({"manager_id": 2**70}, 422, "manager_id"),
            ({"manager_id": 2**63 - 1}, 422, "manager_id"),
            ({"manager_id": 3.5}, 422, "manager_id"),
            # Rita is a rep: the org chart as it stands has her lead nobody.
            ({"manager_id": "rita"}, 409, "manager_id"),
            ({"manager_id": 999_999}, 409, "manager_id"),
            ({"team_id": 999_999}, 409, "team_id"),
            ({"hired_at": "2025-01-01T00:00:00"}, 422, "hired_at"),
            ({"email": "RAY@topline.example"}, 409, "email"),
        ],
    )
    def test_bad_input_is_refused_naming_the_field_and_writes_nothing(
        self,
        api_as: ApiAs,
        org: SalesOrg,
        session: Session,
        changes: dict[str, Any],
        status: int,
        field: str,
    ) -> None:
        if changes.get("manager_id") == "rita":
            changes = {"manager_id": org.rita.id}
        before = user_count(session)
        body = {"email": "new@topline.example", "name": "New", "role": "rep", **changes}

        response = api_as(org.admin).post(USERS, json=body)

        assert response.status_code == status, response.text
        assert field in response.text
        assert user_count(session) == before
        assert session.scalar(select(func.count()).select_from(AuditEntry)) == 0


class TestUpdate:
    def test_admin_renames_and_moves_a_rep_with_an_audited_diff(
        self, api_as: ApiAs, org: SalesOrg, session: Session
    ) -> None:
        east = create_team(session, name="East", manager=org.otto)

        response = api_as(org.admin).patch(
            f"{USERS}/{org.rita.id}",
            json={
                "version": 1,
                "name": "Rita Moreno",
                "manager_id": org.otto.id,
                "team_id": east.id,
            },
        )

        assert response.status_code == 200, response.text
        assert (response.json()["name"], response.json()["manager_id"]) == (
            "Rita Moreno",
            org.otto.id,
        )
        [entry] = audit_rows(session, org.rita.id)
        assert entry.action == "update"
        assert entry.before == {
            "manager_id": org.maria.id, "name": "Rita", "team_id": None, "version": 1
        }  # fmt: skip
        assert entry.after == {
            "manager_id": org.otto.id, "name": "Rita Moreno", "team_id": east.id, "version": 2
        }  # fmt: skip
        assert names(api_as(org.otto).get(USERS)) == ["Olga", "Otto", "Rita Moreno"]

    def test_deactivating_records_when_they_left_and_stops_their_tokens(
        self, api_as: ApiAs, org: SalesOrg, session: Session
    ) -> None:
        ray = api_as(org.ray)
        assert ray.get(f"{USERS}/me").status_code == 200

        response = api_as(org.admin).patch(
            f"{USERS}/{org.ray.id}", json={"version": 1, "active": False}
        )

        assert response.status_code == 200
        assert response.json()["active"] is False
        assert response.json()["left_at"] is not None
        assert ray.get(f"{USERS}/me").status_code == 401
        [entry] = audit_rows(session, org.ray.id)
        assert entry.before == {"active": True, "left_at": None, "version": 1}
        assert entry.after is not None and entry.after["active"] is False

    def test_reactivating_clears_left_at(self, api_as: ApiAs, org: SalesOrg) -> None:
        admin = api_as(org.admin)
        admin.patch(f"{USERS}/{org.ray.id}", json={"version": 1, "active": False})

        response = admin.patch(f"{USERS}/{org.ray.id}", json={"version": 2, "active": True})

        assert response.status_code == 200
        assert (response.json()["active"], response.json()["left_at"]) == (True, None)

    def test_reactivating_under_a_manager_who_left_needs_a_new_manager(
        self, api_as: ApiAs, org: SalesOrg, session: Session
    ) -> None:
        admin = api_as(org.admin)
        assert (
            admin.patch(f"{USERS}/{org.olga.id}", json={"version": 1, "active": False}).status_code
            == 200
        )
        assert (
            admin.patch(f"{USERS}/{org.otto.id}", json={"version": 1, "active": False}).status_code
            == 200
        )

        refused = admin.patch(f"{USERS}/{org.olga.id}", json={"version": 2, "active": True})
        moved = admin.patch(
            f"{USERS}/{org.olga.id}",
            json={"version": 2, "active": True, "manager_id": org.maria.id},
        )

        assert refused.status_code == 409
        assert "manager_id" in refused.text
        assert moved.status_code == 200

    def test_unchanged_edit_is_not_audited(
        self, api_as: ApiAs, org: SalesOrg, session: Session
    ) -> None:
        response = api_as(org.admin).patch(
            f"{USERS}/{org.rita.id}", json={"version": 1, "name": "Rita"}
        )

        assert response.status_code == 200
        assert audit_rows(session, org.rita.id) == []

    @pytest.mark.parametrize(
        ("target", "changes", "status", "field"),
        [
            # Maria manages Rita: Maria reporting to Rita would close a circle.
            ("maria", {"manager_id": "rita"}, 409, "manager_id"),
            ("maria", {"manager_id": "maria"}, 409, "manager_id"),
            ("rita", {"manager_id": "ray"}, 409, "manager_id"),
            ("rita", {"manager_id": 999_999}, 409, "manager_id"),
            ("rita", {"team_id": 999_999}, 409, "team_id"),
            ("maria", {"role": "rep"}, 409, "role"),
            ("otto", {"active": False}, 409, "active"),
            ("admin", {"role": "manager"}, 409, "role"),
            ("admin", {"active": False}, 409, "active"),
            ("rita", {"name": None}, 422, "name"),
            ("rita", {"name": "  "}, 422, "name"),
            ("rita", {"active": None}, 422, "active"),
            ("rita", {"active": "no"}, 422, "active"),
            ("rita", {"email": "r@topline.example"}, 422, "email"),
            ("rita", {"name": "x\x00"}, 422, "name"),
            ("rita", {"team_id": 2**64}, 422, "team_id"),
        ],
    )
    def test_refused_edits_name_the_field_and_change_nothing(
        self,
        api_as: ApiAs,
        org: SalesOrg,
        session: Session,
        target: str,
        changes: dict[str, Any],
        status: int,
        field: str,
    ) -> None:
        person: User = getattr(org, target)
        if isinstance(changes.get("manager_id"), str):
            changes = {"manager_id": getattr(org, changes["manager_id"]).id}
        admin = api_as(org.admin)
        before = admin.get(f"{USERS}/{person.id}").json()

        # A valid rename rides along: it must not be applied when the rest is refused.
        response = admin.patch(
            f"{USERS}/{person.id}", json={"version": 1, "name": "Renamed", **changes}
        )

        assert response.status_code == status, response.text
        assert field in response.text
        assert admin.get(f"{USERS}/{person.id}").json() == before
        assert audit_rows(session, person.id) == []

    def test_a_manager_whose_reports_moved_may_become_a_rep(
        self, api_as: ApiAs, org: SalesOrg
    ) -> None:
        admin = api_as(org.admin)
        admin.patch(f"{USERS}/{org.olga.id}", json={"version": 1, "manager_id": org.maria.id})

        response = admin.patch(f"{USERS}/{org.otto.id}", json={"version": 1, "role": "rep"})

        assert response.status_code == 200
        assert response.json()["role"] == "rep"

    def test_demoting_an_admin_is_fine_while_another_admin_remains(
        self, api_as: ApiAs, org: SalesOrg, session: Session
    ) -> None:
        make_user(session, role=Role.ADMIN, name="Bea")

        response = api_as(org.admin).patch(
            f"{USERS}/{org.admin.id}", json={"version": 1, "role": "manager"}
        )

        assert response.status_code == 200

    @pytest.mark.parametrize("who", ["maria", "rita"])
    def test_only_admins_edit_people(self, api_as: ApiAs, org: SalesOrg, who: str) -> None:
        response = api_as(getattr(org, who)).patch(
            f"{USERS}/{org.rita.id}", json={"version": 1, "name": "X"}
        )

        assert response.status_code == 403

    def test_editing_an_unknown_person_is_404(self, api_as: ApiAs, org: SalesOrg) -> None:
        response = api_as(org.admin).patch(f"{USERS}/999999", json={"version": 1, "name": "X"})

        assert response.status_code == 404


def stored_user(session: Session, user_id: int) -> tuple[Any, ...]:
    """Name, role and version as the database holds them (not the identity map)."""
    row = session.execute(
        select(User.name, User.role, User.version).where(User.id == user_id)
    ).one()
    return tuple(row)


class TestVersions:
    def test_each_edit_names_the_version_it_was_made_on_and_bumps_it(
        self, api_as: ApiAs, org: SalesOrg, session: Session
    ) -> None:
        admin = api_as(org.admin)
        assert admin.get(f"{USERS}/{org.rita.id}").json()["version"] == 1

        first = admin.patch(f"{USERS}/{org.rita.id}", json={"version": 1, "name": "Rita B"})
        second = admin.patch(f"{USERS}/{org.rita.id}", json={"version": 2, "name": "Rita C"})

        assert (first.status_code, first.json()["version"]) == (200, 2)
        assert (second.status_code, second.json()["version"]) == (200, 3)
        assert stored_user(session, org.rita.id) == ("Rita C", Role.REP, 3)
        assert len(audit_rows(session, org.rita.id)) == 2

    def test_a_stale_version_is_409_with_the_current_person_and_changes_nothing(
        self, api_as: ApiAs, org: SalesOrg, session: Session
    ) -> None:
        admin = api_as(org.admin)
        assert admin.patch(
            f"{USERS}/{org.rita.id}", json={"version": 1, "name": "Rita Moreno"}
        ).is_success

        # A second admin still holds version 1 and changes another field: they must not undo
        # the rename.
        stale = admin.patch(
            f"{USERS}/{org.rita.id}", json={"version": 1, "manager_id": org.otto.id}
        )

        assert stale.status_code == 409
        error = stale.json()["error"]
        assert error["code"] == "stale_user"
        assert "version 1" in error["message"] and "now 2" in error["message"]
        current = error["details"]["current"]
        assert current == admin.get(f"{USERS}/{org.rita.id}").json()
        assert (current["name"], current["manager_id"], current["version"]) == (
            "Rita Moreno", org.maria.id, 2,
        )  # fmt: skip
        assert stored_user(session, org.rita.id) == ("Rita Moreno", Role.REP, 2)
        assert len(audit_rows(session, org.rita.id)) == 1

    def test_an_edit_without_a_version_is_422_naming_it(
        self, api_as: ApiAs, org: SalesOrg, session: Session
    ) -> None:
        response = api_as(org.admin).patch(f"{USERS}/{org.rita.id}", json={"name": "X"})

        assert response.status_code == 422
        fields = response.json()["error"]["details"]["fields"]
        assert [field["location"] for field in fields] == [["body", "version"]]
        assert stored_user(session, org.rita.id) == ("Rita", Role.REP, 1)

    def test_a_write_committed_between_our_read_and_our_flush_is_409_with_the_stored_state(
        self,
        api_as: ApiAs,
        org: SalesOrg,
        session: Session,
        monkeypatch: pytest.MonkeyPatch,
    ) -> None:
        rita = org.rita.id
        load = access.get_visible
        table = User.__table__
        assert isinstance(table, Table)

        def load_then_overtaken(*args: Any, **kwargs: Any) -> Any:
            record = load(*args, **kwargs)
            # Core, not the ORM, so the loaded person keeps version 1, as if another
            # transaction had committed this right after our read.
            session.execute(
                update(table).where(table.c.id == rita).values(name="Rita Z", version=2)
            )
            return record

        monkeypatch.setattr(access, "get_visible", load_then_overtaken)
        response = api_as(org.admin).patch(
            f"{USERS}/{rita}", json={"version": 1, "role": "manager"}
        )
        monkeypatch.undo()

        assert response.status_code == 409, response.text
        assert response.json()["error"]["code"] == "stale_user"
        current = response.json()["error"]["details"]["current"]
        assert (current["name"], current["role"], current["version"]) == ("Rita Z", "rep", 2)
        # The refused request rolled back everything it ran, the stand-in write included.
        assert stored_user(session, rita)[1] == Role.REP
        assert audit_rows(session, rita) == []
