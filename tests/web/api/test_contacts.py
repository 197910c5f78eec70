"""The contacts API: scope through accounts, filters, cursor pages, writes, validation, audit."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from tests.factories import SalesOrg, make_account, make_contact, make_deal
from tests.web.api.test_accounts import walk
from topline.audit.models import AuditEntry
from topline.auth.models import User
from topline.crm.enums import BuyingRole
from topline.crm.models import Account, Contact

ApiAs = Callable[[User], TestClient]
Json = dict[str, Any]
URL = "/api/v1/contacts"


def last_names(response: Any) -> list[str]:
    assert response.status_code == 200, response.text
    return [item["last_name"] for item in response.json()["items"]]


@pytest.fixture
def accounts(session: Session, org: SalesOrg) -> dict[str, Account]:
    """Rita's and Olga's accounts, and Ray's `Shared` account that Rita also sells to."""
    made = {
        "rita": make_account(session, owner=org.rita, name="Rita Co"),
        "ray": make_account(session, owner=org.ray, name="Ray Co"),
        "olga": make_account(session, owner=org.olga, name="Olga Co"),
        "shared": make_account(session, owner=org.ray, name="Shared Co"),
    }
    make_deal(session, owner=org.rita, pipeline=org.pipeline, account=made["shared"])
    return made


@pytest.fixture
def contacts(session: Session, accounts: dict[str, Account]) -> dict[str, Contact]:
    """One or two buyers at each account, with known names, emails and roles."""

    def person(key: str, first: str, last: str, role: BuyingRole) -> Contact:
        return make_contact(
            session, account=accounts[key], first_name=first, last_name=last,
            email=f"{first.lower()}@{key}.example", buying_role=role,
        )  # fmt: skip

    return {
        "alpha": person("rita", "Ann", "Alpha", BuyingRole.CHAMPION),
        "bravo": person("rita", "Bob", "Bravo", BuyingRole.DECISION_MAKER),
        "charlie": person("ray", "Cid", "Charlie", BuyingRole.BLOCKER),
        "delta": person("olga", "Dee", "Delta", BuyingRole.CHAMPION),
        "echo": person("shared", "Eve", "Echo", BuyingRole.USER),
    }


class TestScope:
    def test_rep_sees_contacts_at_accounts_they_own_or_sell_to(
        self, api_as: ApiAs, org: SalesOrg, contacts: dict[str, Contact]
    ) -> None:
        rita = api_as(org.rita)
        listed = rita.get(URL)
        assert last_names(listed) == ["Alpha", "Bravo", "Echo"]
        assert listed.json()["total"] == 3
        assert rita.get(f"{URL}/{contacts['charlie'].id}").status_code == 404
        assert rita.get(URL, params={"q": "cid"}).json()["total"] == 0

    def test_manager_sees_the_teams_accounts_and_admin_everything(
        self, api_as: ApiAs, org: SalesOrg, contacts: dict[str, Contact]
    ) -> None:
        assert last_names(api_as(org.maria).get(URL)) == ["Alpha", "Bravo", "Charlie", "Echo"]
        otto = api_as(org.otto)
        assert last_names(otto.get(URL)) == ["Delta"]
        assert otto.get(f"{URL}/{contacts['alpha'].id}").status_code == 404
        assert api_as(org.admin).get(URL).json()["total"] == 5


class TestFilters:
    @pytest.mark.parametrize(
        ("params", "expected"),
        [
            ({"buying_role": ["champion", "blocker"]}, ["Alpha", "Charlie", "Delta"]),
            ({"q": "EVE"}, ["Echo"]),
            ({"q": "@rita."}, ["Alpha", "Bravo"]),
            ({"q": "%"}, []),
            ({"sort": "-last_name"}, ["Echo", "Delta", "Charlie", "Bravo", "Alpha"]),
        ],
    )
    def test_filters(
        self,
        api_as: ApiAs,
        org: SalesOrg,
        contacts: dict[str, Contact],
        params: Json,
        expected: list[str],
    ) -> None:
        assert last_names(api_as(org.admin).get(URL, params=params)) == expected

    def test_account_filter(
        self, api_as: ApiAs, org: SalesOrg, accounts: dict[str, Account], contacts: Json
    ) -> None:
        rita = api_as(org.rita)
        assert last_names(rita.get(URL, params={"account_id": accounts["rita"].id})) == [
            "Alpha", "Bravo",
        ]  # fmt: skip
        # Another team's account yields nothing rather than its contacts.
        assert last_names(rita.get(URL, params={"account_id": accounts["olga"].id})) == []

    @pytest.mark.parametrize("sort", ["last_name", "-created_at", "id"])
    def test_cursor_walks_every_visible_row_once_in_order(
        self, api_as: ApiAs, org: SalesOrg, contacts: dict[str, Contact], sort: str
    ) -> None:
        maria = api_as(org.maria)
        every = last_names(maria.get(URL, params={"sort": sort}))
        assert sorted(every) == ["Alpha", "Bravo", "Charlie", "Echo"]
        assert walk(maria, URL, {"sort": sort, "limit": 1}, key="last_name") == every

    @pytest.mark.parametrize(
        "params",
        [{"account_id": 2**63}, {"buying_role": "boss"}, {"q": "a\x00"}, {"sort": "email"}],
    )
    def test_bad_filters_are_422_naming_the_field(
        self, api_as: ApiAs, org: SalesOrg, params: Json
    ) -> None:
        response = api_as(org.admin).get(URL, params=params)
        assert response.status_code == 422, response.text
        assert next(iter(params)) in response.text


class TestWrites:
    def test_create_at_a_visible_account_and_audit(
        self, api_as: ApiAs, org: SalesOrg, accounts: dict[str, Account], session: Session
    ) -> None:
        body = {
            "account_id": accounts["shared"].id,
            "first_name": "Fay",
            "last_name": "Foxtrot",
            "email": "Fay@Shared.Example",
            "buying_role": "influencer",
        }
        response = api_as(org.rita).post(URL, json=body)
        assert response.status_code == 201, response.text
        contact = response.json()
        assert (contact["email"], contact["account_id"]) == (
            "fay@shared.example",
            body["account_id"],
        )
        entry = session.scalars(
            select(AuditEntry).where(
                AuditEntry.entity_type == "contact", AuditEntry.entity_id == contact["id"]
            )
        ).one()
        assert (entry.action, entry.actor_id) == ("create", org.rita.id)

    @pytest.mark.parametrize(
        ("body", "field"),
        [
            ({"account_id": 2**64}, "account_id"),
            ({"last_name": " "}, "last_name"),
            ({"last_name": "X\x00"}, "last_name"),
            ({"email": "not-an-email"}, "email"),
            ({"phone": "1" * 51}, "phone"),
            ({"buying_role": "boss"}, "buying_role"),
            ({"owner_id": 1}, "owner_id"),
        ],
    )
    def test_bad_create_is_422_naming_the_field_and_writes_nothing(
        self,
        api_as: ApiAs,
        org: SalesOrg,
        accounts: dict[str, Account],
        session: Session,
        body: Json,
        field: str,
    ) -> None:
        payload = {"account_id": accounts["rita"].id, "last_name": "Fine", **body}
        response = api_as(org.rita).post(URL, json=payload)
        assert response.status_code == 422, response.text
        assert field in response.text
        assert session.scalar(select(func.count()).select_from(Contact)) == 0

    @pytest.mark.parametrize("account", ["olga", "unknown"])
    def test_create_at_an_account_out_of_sight_is_409_naming_the_field_and_writes_nothing(
        self,
        api_as: ApiAs,
        org: SalesOrg,
        accounts: dict[str, Account],
        session: Session,
        account: str,
    ) -> None:
        # Olga's account exists, but is not Rita's to see: the same answer as no account at all.
        account_id = accounts["olga"].id if account == "olga" else 999_999
        response = api_as(org.rita).post(URL, json={"account_id": account_id, "last_name": "Fine"})
        assert response.status_code == 409, response.text
        assert response.json()["error"]["code"] == "reference_not_found"
        error = response.json()["error"]
        assert error["details"] == {"field": "account_id"}
        assert error["message"] == f"account_id: account {account_id} not found"
        assert session.scalar(select(func.count()).select_from(Contact)) == 0

    def test_anyone_who_sees_the_account_may_edit_its_contacts(
        self, api_as: ApiAs, org: SalesOrg, contacts: dict[str, Contact], session: Session
    ) -> None:
        rita = api_as(org.rita)
        target = contacts["echo"].id  # at Ray's account that Rita sells to
        body = {"version": 1, "title": "CFO", "buying_role": "champion"}
        response = rita.patch(f"{URL}/{target}", json=body)
        assert response.status_code == 200, response.text
        assert (response.json()["title"], response.json()["buying_role"]) == ("CFO", "champion")
        entry = session.scalars(
            select(AuditEntry).where(AuditEntry.entity_id == target, AuditEntry.action == "update")
        ).one()
        assert entry.before == {"buying_role": "user", "title": None, "version": 1}
        assert entry.after == {"buying_role": "champion", "title": "CFO", "version": 2}
        other_team = f"{URL}/{contacts['delta'].id}"
        assert rita.patch(other_team, json={"version": 1, "title": "X"}).status_code == 404

    @pytest.mark.parametrize(
        ("body", "field"),
        [
            ({"last_name": None}, "last_name"),
            ({"first_name": None}, "first_name"),
            ({"account_id": 1}, "account_id"),
            ({"title": "t" * 201}, "title"),
            ({"version": None}, "version"),
            ({"version": 2**53}, "version"),
        ],
    )
    def test_bad_patch_is_422_naming_the_field(
        self,
        api_as: ApiAs,
        org: SalesOrg,
        contacts: dict[str, Contact],
        body: Json,
        field: str,
    ) -> None:
        admin = api_as(org.admin)
        target = f"{URL}/{contacts['alpha'].id}"
        response = admin.patch(target, json={"version": 1, **body})
        assert response.status_code == 422, response.text
        assert field in response.text
        assert admin.get(target).json()["last_name"] == "Alpha"

    def test_huge_id_in_the_path_is_422(self, api_as: ApiAs, org: SalesOrg) -> None:
        assert api_as(org.admin).get(f"{URL}/{2**63}").status_code == 422


def stored(session: Session, contact_id: int) -> tuple[Any, ...]:
    """Title, phone and version as the database holds them (not the identity map)."""
    row = session.execute(
        select(Contact.title, Contact.phone, Contact.version).where(Contact.id == contact_id)
    ).one()
    return tuple(row)


def updates_audited(session: Session, contact_id: int) -> int:
    return (
        session.scalar(
            select(func.count()).where(
                AuditEntry.entity_type == "contact",
                AuditEntry.entity_id == contact_id,
                AuditEntry.action == "update",
            )
        )
        or 0
    )


class TestVersions:
    def test_patch_with_the_current_version_succeeds_and_bumps_it(
        self, api_as: ApiAs, org: SalesOrg, contacts: dict[str, Contact], session: Session
    ) -> None:
        rita, alpha = api_as(org.rita), contacts["alpha"].id
        assert rita.get(f"{URL}/{alpha}").json()["version"] == 1

        first = rita.patch(f"{URL}/{alpha}", json={"version": 1, "title": "CFO"})
        second = rita.patch(f"{URL}/{alpha}", json={"version": 2, "phone": "+49 30 1234"})

        assert (first.status_code, first.json()["version"]) == (200, 2)
        assert (second.status_code, second.json()["version"]) == (200, 3)
        assert stored(session, alpha) == ("CFO", "+49 30 1234", 3)
        assert updates_audited(session, alpha) == 2

    def test_stale_version_is_409_with_the_current_contact_and_changes_nothing(
        self, api_as: ApiAs, org: SalesOrg, contacts: dict[str, Contact], session: Session
    ) -> None:
        rita, maria, alpha = api_as(org.rita), api_as(org.maria), contacts["alpha"].id
        assert maria.patch(f"{URL}/{alpha}", json={"version": 1, "title": "CFO"}).is_success

        stale = rita.patch(f"{URL}/{alpha}", json={"version": 1, "phone": "+49 30 1234"})

        assert stale.status_code == 409
        error = stale.json()["error"]
        assert error["code"] == "stale_contact"
        current = error["details"]["current"]
        assert current == rita.get(f"{URL}/{alpha}").json()
        assert (current["title"], current["version"]) == ("CFO", 2)
        assert stored(session, alpha) == ("CFO", None, 2)
        assert updates_audited(session, alpha) == 1

    def test_patch_without_a_version_is_422_naming_it_and_changes_nothing(
        self, api_as: ApiAs, org: SalesOrg, contacts: dict[str, Contact], session: Session
    ) -> None:
        alpha = contacts["alpha"].id

        response = api_as(org.rita).patch(f"{URL}/{alpha}", json={"title": "CFO"})

        assert response.status_code == 422
        fields = response.json()["error"]["details"]["fields"]
        assert [field["location"] for field in fields] == [["body", "version"]]
        assert stored(session, alpha) == (None, None, 1)
        assert updates_audited(session, alpha) == 0
