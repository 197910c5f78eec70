"""The accounts API: scope, filters, cursor pages, owner rules on writes, validation, audit."""

from __future__ import annotations

import base64
import json
from collections.abc import Callable
from datetime import timedelta
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Table, func, select, update
from sqlalchemy.orm import Session

from tests.factories import T0, SalesOrg, make_account, make_deal
from topline import access
from topline.audit.models import AuditEntry
from topline.auth.models import User
from topline.crm.accounts import create_account
from topline.crm.enums import Segment
from topline.crm.models import Account

ApiAs = Callable[[User], TestClient]
Json = dict[str, Any]
URL = "/api/v1/accounts"
ORG_ACCOUNTS = {
    "rita": ["Rita Proposal Inc", "Rita Prospect Inc"],
    "ray": ["Ray Negotiation Inc", "Ray Proposal Inc"],
    "olga": ["Olga Discovery Inc"],
}


def names(response: Any, key: str = "name") -> list[str]:
    assert response.status_code == 200, response.text
    return [item[key] for item in response.json()["items"]]


def cursor_of(value: Any) -> str:
    """A cursor as the API would encode `value` (to forge ones it never handed out)."""
    raw = json.dumps(value, separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def walk(client: TestClient, url: str, params: Json, key: str = "name") -> list[str]:
    """Every row of a list, following `next_cursor` page by page."""
    seen: list[str] = []
    cursor = None
    for _ in range(50):
        page = client.get(url, params={**params, **({"cursor": cursor} if cursor else {})})
        assert page.status_code == 200, page.text
        assert len(page.json()["items"]) <= params["limit"]
        seen += [item[key] for item in page.json()["items"]]
        cursor = page.json()["next_cursor"]
        if cursor is None:
            return seen
    raise AssertionError("the cursor never ran out")


@pytest.fixture
def accounts(session: Session, org: SalesOrg) -> dict[str, Account]:
    """Accounts with known places and sizes, on top of the one account per org deal.

    `Shared Co` is Ray's, but Rita sells to it too; `Orphan Ltd` has no owner.
    """
    made = {
        "acme": make_account(
            session, owner=org.rita, name="Acme Corp", segment=Segment.ENTERPRISE,
            region="EMEA", territory="DACH", industry="Software", created_at=T0 + timedelta(1),
        ),
        "beta": make_account(
            session, owner=org.ray, name="Beta GmbH", segment=Segment.SMB, region="EMEA",
            territory="Nordics", industry="Retail", created_at=T0 + timedelta(2),
        ),
        "gamma": make_account(
            session, owner=org.olga, name="Gamma 100% LLC", segment=Segment.MID_MARKET,
            region="NA", territory="West", industry="Software", created_at=T0 + timedelta(3),
        ),
        "shared": make_account(session, owner=org.ray, name="Shared Co"),
        "orphan": create_account(session, name="Orphan Ltd", at=T0 + timedelta(4)),
    }  # fmt: skip
    make_deal(session, owner=org.rita, pipeline=org.pipeline, account=made["shared"])
    return made


class TestScope:
    def test_rep_sees_own_accounts_and_those_they_sell_to(
        self, api_as: ApiAs, org: SalesOrg, accounts: dict[str, Account]
    ) -> None:
        rita = api_as(org.rita)
        listed = rita.get(URL)
        assert names(listed) == ["Acme Corp", *ORG_ACCOUNTS["rita"], "Shared Co"]
        assert listed.json()["total"] == 4
        assert rita.get(f"{URL}/{accounts['beta'].id}").status_code == 404
        assert rita.get(f"{URL}/{accounts['orphan'].id}").status_code == 404
        assert rita.get(URL, params={"q": "Beta"}).json()["total"] == 0
        assert rita.get(f"{URL}/{accounts['shared'].id}").json()["owner_id"] == org.ray.id

    def test_manager_sees_subtree_and_admin_everything(
        self, api_as: ApiAs, org: SalesOrg, accounts: dict[str, Account]
    ) -> None:
        maria = names(api_as(org.maria).get(URL))
        assert maria == sorted(
            ["Acme Corp", "Beta GmbH", "Shared Co", *ORG_ACCOUNTS["rita"], *ORG_ACCOUNTS["ray"]]
        )
        assert names(api_as(org.otto).get(URL)) == ["Gamma 100% LLC", "Olga Discovery Inc"]
        otto = api_as(org.otto)
        assert otto.get(f"{URL}/{accounts['acme'].id}").status_code == 404
        assert api_as(org.admin).get(URL).json()["total"] == 10

    def test_team_of_narrows_to_a_managers_subtree(
        self, api_as: ApiAs, org: SalesOrg, accounts: dict[str, Account]
    ) -> None:
        admin = api_as(org.admin)
        response = admin.get(URL, params={"team_of": org.otto.id})
        assert names(response) == ["Gamma 100% LLC", "Olga Discovery Inc"]
        assert api_as(org.maria).get(URL, params={"team_of": org.otto.id}).status_code == 404


class TestFilters:
    @pytest.mark.parametrize(
        ("params", "expected"),
        [
            ({"segment": ["smb", "mid_market"]}, ["Beta GmbH", "Gamma 100% LLC"]),
            ({"region": "EMEA"}, ["Acme Corp", "Beta GmbH"]),
            ({"region": "EMEA", "territory": "Nordics"}, ["Beta GmbH"]),
            ({"industry": "Software"}, ["Acme Corp", "Gamma 100% LLC"]),
            ({"q": "CORP"}, ["Acme Corp"]),
            ({"q": "100%"}, ["Gamma 100% LLC"]),
            ({"q": "_"}, []),
            (
                {"created_from": "2025-01-07T09:00:00Z", "created_to": "2025-01-09T09:00:00Z"},
                ["Acme Corp", "Beta GmbH"],
            ),
        ],
    )
    def test_filters(
        self,
        api_as: ApiAs,
        org: SalesOrg,
        accounts: dict[str, Account],
        params: Json,
        expected: list[str],
    ) -> None:
        assert names(api_as(org.admin).get(URL, params=params)) == expected

    def test_owner_filter_takes_several_owners(
        self, api_as: ApiAs, org: SalesOrg, accounts: dict[str, Account]
    ) -> None:
        response = api_as(org.admin).get(URL, params={"owner_id": [org.olga.id, org.rita.id]})
        assert names(response) == sorted(
            ["Acme Corp", "Gamma 100% LLC", *ORG_ACCOUNTS["rita"], *ORG_ACCOUNTS["olga"]]
        )

    @pytest.mark.parametrize("sort", ["name", "-name", "created_at", "-created_at", "-id"])
    def test_cursor_walks_every_visible_row_once_in_order(
        self, api_as: ApiAs, org: SalesOrg, accounts: dict[str, Account], sort: str
    ) -> None:
        maria = api_as(org.maria)
        every = names(maria.get(URL, params={"sort": sort, "limit": 200}))
        assert len(every) == 7
        assert walk(maria, URL, {"sort": sort, "limit": 2}) == every
        if sort == "-created_at":
            assert every[:2] == ["Beta GmbH", "Acme Corp"]

    @pytest.mark.parametrize(
        "params",
        [
            {"limit": 0},
            {"sort": "owner_id"},
            {"owner_id": 2**70},
            {"team_of": 0},
            {"segment": "huge"},
            {"region": "EM\x00EA"},
            {"q": "x" * 101},
            {"created_from": "2025-01-01T00:00:00"},
        ],
    )
    def test_bad_filters_are_422_naming_the_field(
        self, api_as: ApiAs, org: SalesOrg, params: Json
    ) -> None:
        response = api_as(org.admin).get(URL, params=params)
        assert response.status_code == 422, response.text
        assert next(iter(params)) in response.text

    @pytest.mark.parametrize(
        ("sort", "cursor"),
        [
            ("name", "bm9wZQ"),  # not JSON
            ("created_at", cursor_of(["Acme Corp", 1])),  # a name where a moment belongs
            ("name", cursor_of([None, 1])),
            ("name", cursor_of(["Acme\x00", 1])),
            ("id", cursor_of([2**70, 1])),
            ("created_at", cursor_of(["2025-01-06T09:00:00", 1])),  # naive moment
            ("created_at", cursor_of(["2025-01-06T09:00:00+00:00", "1"])),
        ],
    )
    def test_cursors_from_nowhere_are_404_naming_the_field(
        self, api_as: ApiAs, org: SalesOrg, sort: str, cursor: str
    ) -> None:
        response = api_as(org.admin).get(URL, params={"sort": sort, "cursor": cursor})
        assert response.status_code == 404, response.text
        assert response.json()["error"]["details"] == {"field": "cursor"}


class TestWrites:
    def test_create_defaults_owner_to_caller_and_audits(
        self, api_as: ApiAs, org: SalesOrg, session: Session
    ) -> None:
        body = {"name": " Delta AG ", "domain": "Delta.EXAMPLE", "country": "de", "employees": 40}
        response = api_as(org.rita).post(URL, json=body)
        assert response.status_code == 201, response.text
        account = response.json()
        assert (account["name"], account["domain"], account["country"]) == (
            "Delta AG", "delta.example", "DE",
        )  # fmt: skip
        assert account["owner_id"] == org.rita.id
        entry = session.scalars(
            select(AuditEntry).where(
                AuditEntry.entity_type == "account", AuditEntry.entity_id == account["id"]
            )
        ).one()
        assert (entry.action, entry.actor_id, entry.before) == ("create", org.rita.id, None)
        assert entry.after is not None and entry.after["name"] == "Delta AG"

    def test_rep_cannot_create_for_a_peer_but_manager_can_in_team(
        self, api_as: ApiAs, org: SalesOrg, session: Session
    ) -> None:
        body = {"name": "Routed", "owner_id": org.ray.id}
        assert api_as(org.rita).post(URL, json=body).status_code == 403
        created = api_as(org.maria).post(URL, json=body)
        assert created.status_code == 201 and created.json()["owner_id"] == org.ray.id
        # Ray is outside Otto's team: to him Ray does not exist (a missing reference).
        outside = api_as(org.otto).post(URL, json=body)
        assert outside.status_code == 409, outside.text
        assert outside.json()["error"]["details"] == {"field": "owner_id"}
        assert session.scalar(select(func.count()).where(Account.name == "Routed")) == 1

    @pytest.mark.parametrize(
        ("body", "field"),
        [
            ({"name": "   "}, "name"),
            ({"name": "Bad\x00Co"}, "name"),
            ({"colour": "red"}, "colour"),
            ({"owner_id": 2**70}, "owner_id"),
            ({"owner_id": "3"}, "owner_id"),
            ({"annual_revenue_cents": -1}, "annual_revenue_cents"),
            ({"employees": 2**40}, "employees"),
            ({"country": "USA"}, "country"),
            ({"domain": "d" * 256}, "domain"),
            ({"segment": "galactic"}, "segment"),
        ],
    )
    def test_bad_create_is_422_naming_the_field_and_writes_nothing(
        self, api_as: ApiAs, org: SalesOrg, session: Session, body: Json, field: str
    ) -> None:
        response = api_as(org.admin).post(URL, json={"name": "Fine", **body})
        assert response.status_code == 422, response.text
        assert field in response.text
        assert session.scalar(select(Account).where(Account.name == "Fine")) is None

    def test_rep_edits_own_account_and_audit_keeps_only_changes(
        self, api_as: ApiAs, org: SalesOrg, accounts: dict[str, Account], session: Session
    ) -> None:
        target = accounts["acme"].id
        response = api_as(org.rita).patch(
            f"{URL}/{target}", json={"version": 1, "industry": "Fintech", "territory": None}
        )
        assert response.status_code == 200, response.text
        assert (response.json()["industry"], response.json()["territory"]) == ("Fintech", None)
        assert response.json()["region"] == "EMEA"
        entry = session.scalars(
            select(AuditEntry).where(AuditEntry.entity_id == target, AuditEntry.action == "update")
        ).one()
        assert entry.before == {"industry": "Software", "territory": "DACH", "version": 1}
        assert entry.after == {"industry": "Fintech", "territory": None, "version": 2}

    def test_rep_cannot_edit_a_peers_account(
        self, api_as: ApiAs, org: SalesOrg, accounts: dict[str, Account]
    ) -> None:
        rita, body = api_as(org.rita), {"version": 1, "name": "X"}
        # Rita sells to Shared Co, so she sees it, but only Ray may change it.
        assert rita.patch(f"{URL}/{accounts['shared'].id}", json=body).status_code == 403
        assert rita.patch(f"{URL}/{accounts['beta'].id}", json=body).status_code == 404
        assert rita.get(f"{URL}/{accounts['shared'].id}").json()["name"] == "Shared Co"

    def test_manager_hands_an_account_to_a_rep_in_the_team_only(
        self, api_as: ApiAs, org: SalesOrg, accounts: dict[str, Account]
    ) -> None:
        maria, target = api_as(org.maria), f"{URL}/{accounts['acme'].id}"
        moved = maria.patch(target, json={"version": 1, "owner_id": org.ray.id})
        assert moved.status_code == 200 and moved.json()["owner_id"] == org.ray.id
        outside = maria.patch(target, json={"version": 2, "owner_id": org.olga.id})
        assert outside.status_code == 409, outside.text
        assert outside.json()["error"]["details"] == {"field": "owner_id"}
        assert maria.get(target).json()["owner_id"] == org.ray.id
        rita = api_as(org.rita)
        own = f"{URL}/{accounts['shared'].id}"
        to_rita = {"version": 1, "owner_id": org.rita.id}
        assert api_as(org.ray).patch(own, json=to_rita).status_code == 403
        assert rita.get(target).status_code == 404

    @pytest.mark.parametrize(
        ("body", "field"),
        [
            ({"name": None}, "name"),
            ({"owner_id": None}, "owner_id"),
            ({"employees": -3}, "employees"),
            ({"region": "N\x00A"}, "region"),
            ({"id": 5}, "id"),
            ({"version": "1"}, "version"),
            ({"version": 0}, "version"),
        ],
    )
    def test_bad_patch_is_422_naming_the_field(
        self,
        api_as: ApiAs,
        org: SalesOrg,
        accounts: dict[str, Account],
        body: Json,
        field: str,
    ) -> None:
        admin = api_as(org.admin)
        response = admin.patch(f"{URL}/{accounts['acme'].id}", json={"version": 1, **body})
        assert response.status_code == 422, response.text
        assert field in response.text
        assert admin.get(f"{URL}/{accounts['acme'].id}").json()["name"] == "Acme Corp"

    @pytest.mark.parametrize("path", ["0", str(2**63)])
    def test_bad_ids_in_the_path_are_422(self, api_as: ApiAs, org: SalesOrg, path: str) -> None:
        admin = api_as(org.admin)
        assert admin.get(f"{URL}/{path}").status_code == 422
        assert admin.patch(f"{URL}/{path}", json={}).status_code == 422

    def test_a_path_that_is_not_an_id_is_no_address(self, api_as: ApiAs, org: SalesOrg) -> None:
        admin = api_as(org.admin)
        assert admin.get(f"{URL}/abc").status_code == 404
        # `export` is a list's export, never an id: writing to it is the wrong method.
        response = admin.patch(f"{URL}/export", json={})
        assert response.status_code == 405
        assert response.headers["allow"] == "GET, HEAD"


def stored(session: Session, account_id: int) -> tuple[Any, ...]:
    """Industry, region and version as the database holds them (not the identity map)."""
    row = session.execute(
        select(Account.industry, Account.region, Account.version).where(Account.id == account_id)
    ).one()
    return tuple(row)


def updates_audited(session: Session, account_id: int) -> int:
    return (
        session.scalar(
            select(func.count()).where(
                AuditEntry.entity_type == "account",
                AuditEntry.entity_id == account_id,
                AuditEntry.action == "update",
            )
        )
        or 0
    )


class TestVersions:
    def test_patch_with_the_current_version_succeeds_and_bumps_it(
        self, api_as: ApiAs, org: SalesOrg, accounts: dict[str, Account], session: Session
    ) -> None:
        rita, acme = api_as(org.rita), accounts["acme"].id
        assert rita.get(f"{URL}/{acme}").json()["version"] == 1

        first = rita.patch(f"{URL}/{acme}", json={"version": 1, "industry": "Fintech"})
        second = rita.patch(f"{URL}/{acme}", json={"version": 2, "region": "APAC"})

        assert (first.status_code, first.json()["version"]) == (200, 2)
        assert (second.status_code, second.json()["version"]) == (200, 3)
        assert stored(session, acme) == ("Fintech", "APAC", 3)
        assert updates_audited(session, acme) == 2

    def test_stale_version_is_409_with_the_current_account_and_changes_nothing(
        self, api_as: ApiAs, org: SalesOrg, accounts: dict[str, Account], session: Session
    ) -> None:
        rita, maria, acme = api_as(org.rita), api_as(org.maria), accounts["acme"].id
        assert maria.patch(f"{URL}/{acme}", json={"version": 1, "industry": "Fintech"}).is_success

        # Rita still holds version 1 and edits another field: she must not undo Maria's edit.
        stale = rita.patch(f"{URL}/{acme}", json={"version": 1, "region": "APAC"})

        assert stale.status_code == 409
        error = stale.json()["error"]
        assert error["code"] == "stale_account"
        assert "version 1" in error["message"] and "now 2" in error["message"]
        current = error["details"]["current"]
        assert current == rita.get(f"{URL}/{acme}").json()
        assert (current["industry"], current["version"]) == ("Fintech", 2)
        assert stored(session, acme) == ("Fintech", "EMEA", 2)
        assert updates_audited(session, acme) == 1

    def test_patch_without_a_version_is_422_naming_it_and_changes_nothing(
        self, api_as: ApiAs, org: SalesOrg, accounts: dict[str, Account], session: Session
    ) -> None:
        acme = accounts["acme"].id

        response = api_as(org.rita).patch(f"{URL}/{acme}", json={"industry": "Fintech"})

        assert response.status_code == 422
        fields = response.json()["error"]["details"]["fields"]
        assert [field["location"] for field in fields] == [["body", "version"]]
        assert stored(session, acme) == ("Software", "EMEA", 1)
        assert updates_audited(session, acme) == 0

    def test_a_write_committed_between_our_read_and_our_flush_is_409_with_the_stored_state(
        self,
        api_as: ApiAs,
        org: SalesOrg,
        accounts: dict[str, Account],
        session: Session,
        monkeypatch: pytest.MonkeyPatch,
    ) -> None:
        acme = accounts["acme"].id
        load = access.get_visible
        table = Account.__table__
        assert isinstance(table, Table)

        def load_then_overtaken(*args: Any, **kwargs: Any) -> Any:
            record = load(*args, **kwargs)
            # Core, not the ORM, so the loaded account keeps version 1, as if another
            # transaction had committed this right after our read.
            session.execute(
                update(table).where(table.c.id == acme).values(industry="Mining", version=2)
            )
            return record

        monkeypatch.setattr(access, "get_visible", load_then_overtaken)
        response = api_as(org.rita).patch(f"{URL}/{acme}", json={"version": 1, "region": "APAC"})
        monkeypatch.undo()

        assert response.status_code == 409, response.text
        assert response.json()["error"]["code"] == "stale_account"
        current = response.json()["error"]["details"]["current"]
        assert (current["industry"], current["region"], current["version"]) == (
            "Mining", "EMEA", 2,
        )  # fmt: skip
        # The refused request rolled back everything it ran, the stand-in write included.
        assert stored(session, acme)[1] == "EMEA"
        assert updates_audited(session, acme) == 0
