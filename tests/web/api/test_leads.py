"""The leads API: scope (incl. unassigned leads for managers), filters, pages, lead actions."""

from __future__ import annotations

from collections.abc import Callable
from datetime import date, timedelta
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from tests.factories import T0, SalesOrg, make_account, make_lead, stage_named
from tests.web.api.test_accounts import walk
from topline.audit.models import AuditEntry
from topline.auth.models import User
from topline.crm.leads import start_working_lead
from topline.crm.models import Account, Contact, Deal, Lead

ApiAs = Callable[[User], TestClient]
Json = dict[str, Any]
URL = "/api/v1/leads"
CONVERT = {
    "version": 1,
    "deal_name": "First order",
    "amount_cents": 12_000_00,
    "close_date": "2099-06-30",
}


def last_names(response: Any) -> list[str]:
    assert response.status_code == 200, response.text
    return [item["last_name"] for item in response.json()["items"]]


@pytest.fixture
def leads(session: Session, org: SalesOrg) -> dict[str, Lead]:
    """Five leads an hour apart: two of Rita's, one each of Ray and Olga, one unassigned."""

    def lead(last: str, owner: User | None, hours: int, source: str, company: str) -> Lead:
        return make_lead(
            session, owner=owner, last_name=last, source=source, company=company,
            email=f"{last.lower()}@example.com", at=T0 + timedelta(hours=hours),
        )  # fmt: skip

    made = {
        "alpha": lead("Alpha", org.rita, 0, "web", "Northwind"),
        "bravo": lead("Bravo", org.rita, 1, "event", "Contoso"),
        "charlie": lead("Charlie", org.ray, 2, "web", "Fabrikam"),
        "delta": lead("Delta", org.olga, 3, "referral", "Initech"),
        "echo": lead("Echo", None, 4, "web", "Umbrella"),
    }
    start_working_lead(session, made["bravo"], owner=org.rita)
    return made


class TestScope:
    def test_rep_sees_only_own_leads(
        self, api_as: ApiAs, org: SalesOrg, leads: dict[str, Lead]
    ) -> None:
        rita = api_as(org.rita)
        listed = rita.get(URL)
        assert last_names(listed) == ["Bravo", "Alpha"]
        assert listed.json()["total"] == 2
        assert rita.get(f"{URL}/{leads['charlie'].id}").status_code == 404
        assert rita.get(f"{URL}/{leads['echo'].id}").status_code == 404
        assert rita.get(URL, params={"q": "Fabrikam"}).json()["total"] == 0

    def test_managers_see_their_team_and_unassigned_leads_admin_everything(
        self, api_as: ApiAs, org: SalesOrg, leads: dict[str, Lead]
    ) -> None:
        assert last_names(api_as(org.maria).get(URL)) == ["Echo", "Charlie", "Bravo", "Alpha"]
        otto = api_as(org.otto)
        assert last_names(otto.get(URL)) == ["Echo", "Delta"]
        assert otto.get(f"{URL}/{leads['alpha'].id}").status_code == 404
        assert api_as(org.admin).get(URL).json()["total"] == 5


class TestFilters:
    @pytest.mark.parametrize(
        ("params", "expected"),
        [
            ({"status": ["working", "mql"]}, ["Bravo"]),
            ({"source": "Web"}, ["Echo", "Charlie", "Alpha"]),
            ({"unassigned": True}, ["Echo"]),
            ({"q": "contoso"}, ["Bravo"]),
            ({"q": "delta@"}, ["Delta"]),
            (
                {"created_from": "2025-01-06T10:00:00Z", "created_to": "2025-01-06T12:00:00Z"},
                ["Charlie", "Bravo"],
            ),
            ({"sort": "last_name"}, ["Alpha", "Bravo", "Charlie", "Delta", "Echo"]),
        ],
    )
    def test_filters(
        self,
        api_as: ApiAs,
        org: SalesOrg,
        leads: dict[str, Lead],
        params: Json,
        expected: list[str],
    ) -> None:
        assert last_names(api_as(org.admin).get(URL, params=params)) == expected

    def test_owner_filter(self, api_as: ApiAs, org: SalesOrg, leads: dict[str, Lead]) -> None:
        params = {"owner_id": [org.ray.id, org.olga.id]}
        assert last_names(api_as(org.admin).get(URL, params=params)) == ["Delta", "Charlie"]

    @pytest.mark.parametrize("sort", ["-created_at", "created_at", "-last_name"])
    def test_cursor_walks_every_visible_row_once_in_order(
        self, api_as: ApiAs, org: SalesOrg, leads: dict[str, Lead], sort: str
    ) -> None:
        admin = api_as(org.admin)
        every = last_names(admin.get(URL, params={"sort": sort}))
        assert len(every) == 5
        assert walk(admin, URL, {"sort": sort, "limit": 2}, key="last_name") == every

    @pytest.mark.parametrize(
        "params",
        [
            {"status": "hot"},
            {"source": "w\x00b"},
            {"owner_id": -1},
            {"created_to": "yesterday"},
        ],
    )
    def test_bad_filters_are_422_naming_the_field(
        self, api_as: ApiAs, org: SalesOrg, params: Json
    ) -> None:
        response = api_as(org.admin).get(URL, params=params)
        assert response.status_code == 422, response.text
        assert next(iter(params)) in response.text


class TestCreate:
    def test_owner_defaults_to_caller_and_create_is_audited(
        self, api_as: ApiAs, org: SalesOrg, session: Session
    ) -> None:
        body = {"last_name": "Golf", "company": "Globex", "source": " Event ", "country": "fr"}
        response = api_as(org.ray).post(URL, json=body)
        assert response.status_code == 201, response.text
        lead = response.json()
        assert (lead["owner_id"], lead["status"], lead["source"]) == (org.ray.id, "new", "event")
        entry = session.scalars(
            select(AuditEntry).where(
                AuditEntry.entity_type == "lead", AuditEntry.entity_id == lead["id"]
            )
        ).one()
        assert (entry.action, entry.actor_id) == ("create", org.ray.id)

    def test_only_managers_leave_leads_unassigned_or_route_them(
        self, api_as: ApiAs, org: SalesOrg, session: Session
    ) -> None:
        body = {"last_name": "Golf", "company": "Globex", "source": "web", "owner_id": None}
        assert api_as(org.rita).post(URL, json=body).status_code == 403
        unassigned = api_as(org.maria).post(URL, json=body)
        assert unassigned.status_code == 201 and unassigned.json()["owner_id"] is None
        routed = {**body, "owner_id": org.rita.id}
        assert api_as(org.ray).post(URL, json=routed).status_code == 403
        # Rita is outside Otto's team: to him she does not exist (a missing reference).
        outside = api_as(org.otto).post(URL, json=routed)
        assert outside.status_code == 409, outside.text
        assert outside.json()["error"]["details"] == {"field": "owner_id"}
        assert session.scalar(select(func.count()).where(Lead.owner_id == org.rita.id)) == 0

    @pytest.mark.parametrize(
        ("body", "field"),
        [
            ({"company": ""}, "company"),
            ({"source": "s" * 51}, "source"),
            ({"email": "x\x00@y.z"}, "email"),
            ({"employees": -1}, "employees"),
            ({"status": "sql"}, "status"),
            ({"owner_id": 2**63}, "owner_id"),
        ],
    )
    def test_bad_create_is_422_naming_the_field_and_writes_nothing(
        self, api_as: ApiAs, org: SalesOrg, session: Session, body: Json, field: str
    ) -> None:
        payload = {"last_name": "Golf", "company": "Globex", "source": "web", **body}
        response = api_as(org.admin).post(URL, json=payload)
        assert response.status_code == 422, response.text
        assert field in response.text
        assert session.scalar(select(func.count()).select_from(Lead)) == 0


class TestActions:
    def test_manager_routes_an_unassigned_lead_to_a_rep(
        self, api_as: ApiAs, org: SalesOrg, leads: dict[str, Lead], session: Session
    ) -> None:
        target, maria = f"{URL}/{leads['echo'].id}/work", api_as(org.maria)
        assert api_as(org.rita).post(target, json={"version": 1}).status_code == 404
        outside = maria.post(target, json={"version": 1, "owner_id": org.olga.id})
        assert outside.status_code == 409, outside.text
        assert outside.json()["error"]["details"] == {"field": "owner_id"}
        assert stored(session, leads["echo"].id) == ("new", None, 1)
        response = maria.post(target, json={"version": 1, "owner_id": org.ray.id})
        assert response.status_code == 200, response.text
        assert (response.json()["status"], response.json()["owner_id"]) == ("working", org.ray.id)
        assert api_as(org.ray).post(target, json={"version": 2}).status_code == 409
        entry = session.scalars(
            select(AuditEntry).where(
                AuditEntry.entity_id == leads["echo"].id, AuditEntry.action == "work"
            )
        ).one()
        assert entry.before == {"owner_id": None, "status": "new", "version": 1}

    def test_reps_act_only_on_their_own_leads(
        self, api_as: ApiAs, org: SalesOrg, leads: dict[str, Lead]
    ) -> None:
        rita, charlie, v1 = api_as(org.rita), leads["charlie"].id, {"version": 1}
        assert rita.post(f"{URL}/{charlie}/work", json=v1).status_code == 404
        disqualify = {**v1, "reason": "x"}
        assert rita.post(f"{URL}/{charlie}/disqualify", json=disqualify).status_code == 404
        assert rita.post(f"{URL}/{charlie}/convert", json=CONVERT).status_code == 404
        assert api_as(org.ray).post(f"{URL}/{charlie}/work", json=v1).status_code == 200

    def test_qualify_needs_bant_for_sql_and_only_moves_forward(
        self, api_as: ApiAs, org: SalesOrg, leads: dict[str, Lead]
    ) -> None:
        rita, target = api_as(org.rita), f"{URL}/{leads['bravo'].id}/qualify"
        sql = {"version": 2, "level": "sql"}  # working since the fixture: version 2
        # Not ready for SQL is a conflict with the lead's state, not a stale version.
        short = rita.post(target, json={**sql, "budget": True, "need": True})
        assert short.status_code == 409 and short.json()["error"]["code"] == "conflict"
        assert "missing: authority, timeline" in short.json()["error"]["message"]
        # The refused attempt recorded nothing, so need is still unconfirmed…
        still_two = rita.post(target, json={**sql, "authority": True, "budget": True})
        assert still_two.status_code == 409 and still_two.json()["error"]["code"] == "conflict"
        assert "missing: need, timeline" in still_two.json()["error"]["message"]
        # …and the version did not move (a stale one would be `stale_lead`).
        third = rita.post(target, json={**sql, "authority": True, "timeline": True})
        assert third.status_code == 409 and third.json()["error"]["code"] == "conflict"
        done = rita.post(target, json={**sql, "authority": True, "budget": True, "timeline": True})
        assert done.status_code == 200, done.text
        assert (done.json()["status"], done.json()["bant_need"], done.json()["version"]) == (
            "sql", False, 3,
        )  # fmt: skip
        assert done.json()["mql_at"] is not None
        assert rita.post(target, json={"version": 3, "level": "mql"}).status_code == 409
        assert rita.post(target, json={"version": 3, "level": "hot"}).status_code == 422
        assert (
            rita.post(target, json={"version": 3, "level": "mql", "budget": "yes"}).status_code
            == 422
        )

    def test_disqualify_needs_a_reason(
        self, api_as: ApiAs, org: SalesOrg, leads: dict[str, Lead]
    ) -> None:
        rita, target = api_as(org.rita), f"{URL}/{leads['alpha'].id}/disqualify"
        assert rita.post(target, json={"version": 1, "reason": "  "}).status_code == 422
        done = rita.post(target, json={"version": 1, "reason": "No budget this year"})
        assert done.status_code == 200, done.text
        assert done.json()["status"] == "disqualified"
        assert rita.post(target, json={"version": 2, "reason": "again"}).status_code == 409

    def test_convert_creates_account_contact_and_deal_and_audits_each(
        self, api_as: ApiAs, org: SalesOrg, leads: dict[str, Lead], session: Session
    ) -> None:
        target = leads["alpha"].id
        response = api_as(org.rita).post(
            f"{URL}/{target}/convert", json={**CONVERT, "buying_role": "champion"}
        )
        assert response.status_code == 200, response.text
        done = response.json()
        assert done["lead"]["status"] == "converted"
        assert done["lead"]["converted_deal_id"] == done["deal_id"]
        deal = session.get(Deal, done["deal_id"])
        contact = session.get(Contact, done["contact_id"])
        account = session.get(Account, done["account_id"])
        assert deal is not None and contact is not None and account is not None
        assert (account.name, account.owner_id) == ("Northwind", org.rita.id)
        assert (deal.owner_id, deal.account_id, deal.contact_id) == (
            org.rita.id, account.id, contact.id,
        )  # fmt: skip
        assert (contact.last_name, contact.buying_role) == ("Alpha", "champion")
        audited = session.execute(
            select(AuditEntry.entity_type, AuditEntry.action).where(
                AuditEntry.actor_id == org.rita.id
            )
        ).all()
        assert sorted(audited) == [
            ("account", "create"), ("contact", "create"), ("deal", "create"), ("lead", "convert"),
        ]  # fmt: skip
        again = api_as(org.rita).post(f"{URL}/{target}/convert", json={**CONVERT, "version": 2})
        assert again.status_code == 409
        assert again.json()["error"]["code"] == "conflict"

    def test_manager_converts_an_unassigned_lead_into_an_existing_account(
        self, api_as: ApiAs, org: SalesOrg, leads: dict[str, Lead], session: Session
    ) -> None:
        existing = make_account(session, owner=org.ray, name="Umbrella Corp")
        body = {**CONVERT, "account_id": existing.id, "owner_id": org.ray.id}
        response = api_as(org.maria).post(f"{URL}/{leads['echo'].id}/convert", json=body)
        assert response.status_code == 200, response.text
        assert response.json()["account_id"] == existing.id
        assert response.json()["lead"]["owner_id"] == org.ray.id

    def test_conversion_keeps_a_past_close_date_as_given(
        self, api_as: ApiAs, org: SalesOrg, leads: dict[str, Lead], session: Session
    ) -> None:
        body = {**CONVERT, "close_date": "2020-01-01"}
        response = api_as(org.rita).post(f"{URL}/{leads['alpha'].id}/convert", json=body)
        assert response.status_code == 200, response.text
        deal = session.get(Deal, response.json()["deal_id"])
        assert deal is not None and deal.close_date == date(2020, 1, 1)

    @pytest.mark.parametrize(
        ("body", "status", "field"),
        [
            ({"account_id": "olga"}, 409, "account_id"),
            ({"stage_id": 999_999}, 409, "stage_id"),
            ({"stage_id": "won"}, 409, "open stage"),
            ({"stage_id": 2**62}, 422, "stage_id"),
            ({"amount_cents": -100}, 422, "amount_cents"),
            ({"deal_name": "x\x00"}, 422, "deal_name"),
            ({"owner_id": "ray"}, 422, "owner_id"),
        ],
    )
    def test_refused_conversion_names_the_problem_and_writes_nothing(
        self,
        api_as: ApiAs,
        org: SalesOrg,
        leads: dict[str, Lead],
        session: Session,
        body: Json,
        status: int,
        field: str,
    ) -> None:
        if body.get("account_id") == "olga":
            body = {"account_id": make_account(session, owner=org.olga).id}
        if body.get("stage_id") == "won":
            body = {"stage_id": stage_named(session, org.pipeline, "Closed Won").id}
        accounts_before = session.scalar(select(func.count()).select_from(Account))
        response = api_as(org.rita).post(
            f"{URL}/{leads['alpha'].id}/convert", json={**CONVERT, **body}
        )
        assert response.status_code == status, response.text
        assert field in response.text
        assert session.scalar(select(func.count()).select_from(Account)) == accounts_before
        assert session.scalar(select(func.count()).select_from(Contact)) == 0
        assert api_as(org.rita).get(f"{URL}/{leads['alpha'].id}").json()["status"] == "new"

    @pytest.mark.parametrize("action", ["work", "qualify", "disqualify", "convert"])
    def test_huge_lead_id_is_422(self, api_as: ApiAs, org: SalesOrg, action: str) -> None:
        response = api_as(org.admin).post(f"{URL}/{2**63}/{action}", json={})
        assert response.status_code == 422
        assert "lead_id" in response.text


def stored(session: Session, lead_id: int) -> tuple[Any, ...]:
    """Status, owner and version as the database holds them (not the identity map)."""
    row = session.execute(
        select(Lead.status, Lead.owner_id, Lead.version).where(Lead.id == lead_id)
    ).one()
    return tuple(row)


def audited(session: Session, lead_id: int) -> list[str]:
    stmt = select(AuditEntry.action).where(
        AuditEntry.entity_type == "lead", AuditEntry.entity_id == lead_id
    )
    return list(session.scalars(stmt.order_by(AuditEntry.id)))


# Each lead action with the version it was read at, minus what the test sets.
ACTIONS: dict[str, Json] = {
    "work": {},
    "qualify": {"level": "mql"},
    "disqualify": {"reason": "No budget"},
    "convert": {k: v for k, v in CONVERT.items() if k != "version"},
}


class TestVersions:
    def test_each_step_at_the_current_version_succeeds_and_bumps_it(
        self, api_as: ApiAs, org: SalesOrg, leads: dict[str, Lead], session: Session
    ) -> None:
        rita, alpha = api_as(org.rita), leads["alpha"].id
        assert rita.get(f"{URL}/{alpha}").json()["version"] == 1

        worked = rita.post(f"{URL}/{alpha}/work", json={"version": 1})
        qualified = rita.post(f"{URL}/{alpha}/qualify", json={"version": 2, "level": "mql"})
        dropped = rita.post(f"{URL}/{alpha}/disqualify", json={"version": 3, "reason": "Gone"})

        assert [r.status_code for r in (worked, qualified, dropped)] == [200, 200, 200]
        assert [r.json()["version"] for r in (worked, qualified, dropped)] == [2, 3, 4]
        assert stored(session, alpha) == ("disqualified", org.rita.id, 4)
        assert audited(session, alpha) == ["work", "qualify", "disqualify"]

    @pytest.mark.parametrize("action", sorted(ACTIONS))
    def test_stale_version_is_409_with_the_current_lead_and_changes_nothing(
        self,
        api_as: ApiAs,
        org: SalesOrg,
        leads: dict[str, Lead],
        session: Session,
        action: str,
    ) -> None:
        rita, alpha = api_as(org.rita), leads["alpha"].id
        # Maria qualifies Rita's lead while Rita still looks at version 1.
        mql = api_as(org.maria).post(f"{URL}/{alpha}/qualify", json={"version": 1, "level": "mql"})
        assert mql.status_code == 200, mql.text
        accounts_before = session.scalar(select(func.count()).select_from(Account))

        stale = rita.post(f"{URL}/{alpha}/{action}", json={"version": 1, **ACTIONS[action]})

        assert stale.status_code == 409
        error = stale.json()["error"]
        assert error["code"] == "stale_lead"
        current = error["details"]["current"]
        assert current == rita.get(f"{URL}/{alpha}").json()
        assert (current["status"], current["version"]) == ("mql", 2)
        assert stored(session, alpha) == ("mql", org.rita.id, 2)
        assert audited(session, alpha) == ["qualify"]
        assert session.scalar(select(func.count()).select_from(Account)) == accounts_before

    @pytest.mark.parametrize("action", sorted(ACTIONS))
    def test_a_step_without_a_version_is_422_naming_it_and_changes_nothing(
        self,
        api_as: ApiAs,
        org: SalesOrg,
        leads: dict[str, Lead],
        session: Session,
        action: str,
    ) -> None:
        alpha = leads["alpha"].id

        response = api_as(org.rita).post(f"{URL}/{alpha}/{action}", json=ACTIONS[action])

        assert response.status_code == 422
        fields = response.json()["error"]["details"]["fields"]
        assert [field["location"] for field in fields] == [["body", "version"]]
        assert stored(session, alpha) == ("new", org.rita.id, 1)
        assert audited(session, alpha) == []

    def test_working_a_lead_needs_a_body_with_the_version(
        self, api_as: ApiAs, org: SalesOrg, leads: dict[str, Lead]
    ) -> None:
        response = api_as(org.rita).post(f"{URL}/{leads['alpha'].id}/work")

        assert response.status_code == 422
        assert response.json()["error"]["details"]["fields"][0]["location"] == ["body"]
