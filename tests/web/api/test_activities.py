"""The activities API: scope by who logged them, filters, cursor pages, logging, audit."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from tests.factories import T0, SalesOrg, make_account, make_contact, make_deal, make_lead
from tests.web.api.test_accounts import walk
from topline.audit.models import AuditEntry
from topline.auth.models import User
from topline.crm.activities import log_activity
from topline.crm.enums import ActivityType
from topline.crm.models import Account, Activity, Contact, Deal, Lead

ApiAs = Callable[[User], TestClient]
Json = dict[str, Any]
URL = "/api/v1/activities"


def subjects(response: Any) -> list[str]:
    assert response.status_code == 200, response.text
    return [item["subject"] for item in response.json()["items"]]


class Book:
    """The records activities are logged against: Rita's, Ray's and Olga's."""

    def __init__(self, session: Session, org: SalesOrg) -> None:
        self.rita_account: Account = make_account(session, owner=org.rita, name="Rita Co")
        self.rita_contact: Contact = make_contact(session, account=self.rita_account)
        self.rita_deal: Deal = make_deal(
            session, owner=org.rita, pipeline=org.pipeline, account=self.rita_account
        )
        self.ray_deal: Deal = make_deal(session, owner=org.ray, pipeline=org.pipeline)
        self.ray_lead: Lead = make_lead(session, owner=org.ray)
        self.olga_lead: Lead = make_lead(session, owner=org.olga)


@pytest.fixture
def book(session: Session, org: SalesOrg) -> Book:
    """Records plus four activities, a day apart, logged by Rita (2), Ray and Olga."""
    book = Book(session, org)

    def log(user: User, kind: ActivityType, subject: str, days: int, **links: Any) -> None:
        log_activity(
            session, user=user, type=kind, subject=subject, occurred_at=T0 + timedelta(days),
            at=T0 + timedelta(30), **links,
        )  # fmt: skip

    log(org.rita, ActivityType.CALL, "Discovery call", 1, deal=book.rita_deal)
    log(org.rita, ActivityType.EMAIL, "Pricing sent", 2, contact=book.rita_contact)
    log(org.ray, ActivityType.MEETING, "Onsite demo", 3, deal=book.ray_deal)
    log(org.olga, ActivityType.NOTE, "Budget in Q3", 4, lead=book.olga_lead)
    return book


class TestScope:
    def test_rep_sees_only_what_they_logged(
        self, api_as: ApiAs, org: SalesOrg, book: Book, session: Session
    ) -> None:
        rita = api_as(org.rita)
        listed = rita.get(URL)
        assert subjects(listed) == ["Pricing sent", "Discovery call"]
        assert listed.json()["total"] == 2
        ray_activity = session.scalar(select(Activity.id).where(Activity.user_id == org.ray.id))
        assert rita.get(f"{URL}/{ray_activity}").status_code == 404
        assert rita.get(URL, params={"user_id": org.ray.id}).json()["total"] == 0

    def test_manager_sees_the_team_and_admin_everything(
        self, api_as: ApiAs, org: SalesOrg, book: Book
    ) -> None:
        maria = subjects(api_as(org.maria).get(URL))
        assert maria == ["Onsite demo", "Pricing sent", "Discovery call"]
        assert subjects(api_as(org.otto).get(URL)) == ["Budget in Q3"]
        assert api_as(org.admin).get(URL).json()["total"] == 4


class TestFilters:
    def test_filters(self, api_as: ApiAs, org: SalesOrg, book: Book) -> None:
        admin = api_as(org.admin)
        cases: list[tuple[Json, list[str]]] = [
            ({"type": ["call", "note"]}, ["Budget in Q3", "Discovery call"]),
            ({"deal_id": book.rita_deal.id}, ["Discovery call"]),
            # A deal's account is filled in on its activities, so both of Rita's show up.
            ({"account_id": book.rita_account.id}, ["Pricing sent", "Discovery call"]),
            ({"contact_id": book.rita_contact.id}, ["Pricing sent"]),
            ({"lead_id": book.olga_lead.id}, ["Budget in Q3"]),
            ({"user_id": [org.ray.id, org.olga.id]}, ["Budget in Q3", "Onsite demo"]),
            (
                {"occurred_from": "2025-01-08T09:00:00Z", "occurred_to": "2025-01-10T09:00:00Z"},
                ["Onsite demo", "Pricing sent"],
            ),
            ({"sort": "occurred_at"}, ["Discovery call", "Pricing sent", "Onsite demo",
                                       "Budget in Q3"]),
        ]  # fmt: skip
        for params, expected in cases:
            assert subjects(admin.get(URL, params=params)) == expected, params

    @pytest.mark.parametrize("sort", ["-occurred_at", "occurred_at", "id"])
    def test_cursor_walks_every_visible_row_once_in_order(
        self, api_as: ApiAs, org: SalesOrg, book: Book, session: Session, sort: str
    ) -> None:
        # Two more at the same moment as an existing one, to page through ties.
        for subject in ("Tie one", "Tie two"):
            log_activity(
                session, user=org.ray, type=ActivityType.CALL, subject=subject,
                occurred_at=T0 + timedelta(2), deal=book.ray_deal, at=T0 + timedelta(30),
            )  # fmt: skip
        maria = api_as(org.maria)
        every = subjects(maria.get(URL, params={"sort": sort}))
        assert len(every) == 5
        assert walk(maria, URL, {"sort": sort, "limit": 2}, key="subject") == every

    @pytest.mark.parametrize(
        "params",
        [
            {"type": "visit"},
            {"deal_id": 2**63},
            {"occurred_from": "2025-01-01"},
            {"occurred_to": "2025-01-01T00:00:00"},
            {"sort": "subject"},
        ],
    )
    def test_bad_filters_are_422_naming_the_field(
        self, api_as: ApiAs, org: SalesOrg, params: Json
    ) -> None:
        response = api_as(org.admin).get(URL, params=params)
        assert response.status_code == 422, response.text
        assert next(iter(params)) in response.text


class TestLogging:
    def test_log_for_the_caller_against_a_visible_deal_and_audit(
        self, api_as: ApiAs, org: SalesOrg, book: Book, session: Session
    ) -> None:
        body = {
            "type": "email",
            "subject": "Proposal follow-up",
            "occurred_at": "2025-02-01T10:00:00+01:00",
            "deal_id": book.rita_deal.id,
            "email_replied": True,
        }
        response = api_as(org.rita).post(URL, json=body)
        assert response.status_code == 201, response.text
        activity = response.json()
        assert activity["user_id"] == org.rita.id
        assert activity["account_id"] == book.rita_account.id
        assert activity["occurred_at"].startswith("2025-02-01T09:00:00")
        assert (activity["email_opened"], activity["email_replied"]) == (True, True)
        entry = session.scalars(
            select(AuditEntry).where(
                AuditEntry.entity_type == "activity", AuditEntry.entity_id == activity["id"]
            )
        ).one()
        assert (entry.action, entry.actor_id) == ("create", org.rita.id)

    @pytest.mark.parametrize(
        ("links", "field"),
        [
            ({"deal_id": "ray_deal"}, "deal_id"),
            ({"lead_id": "ray_lead"}, "lead_id"),
            ({"lead_id": "olga_lead"}, "lead_id"),
            ({"contact_id": 2**52}, "contact_id"),
        ],
    )
    def test_links_must_be_visible_else_409_naming_the_field(
        self,
        api_as: ApiAs,
        org: SalesOrg,
        book: Book,
        session: Session,
        links: Json,
        field: str,
    ) -> None:
        links = {k: getattr(book, v).id if isinstance(v, str) else v for k, v in links.items()}
        body = {"type": "call", "subject": "Hi", "occurred_at": "2025-02-01T10:00:00Z", **links}
        response = api_as(org.rita).post(URL, json=body)
        assert response.status_code == 409, response.text
        assert response.json()["error"]["code"] == "reference_not_found"
        assert response.json()["error"]["details"] == {"field": field}
        assert session.scalar(select(func.count()).select_from(Activity)) == 4

    @pytest.mark.parametrize(
        ("links", "field"),
        [
            ({"account_id": 2**64}, "account_id"),
            ({}, "at least one of deal_id, contact_id, account_id or lead_id"),
            ({"deal_id": None, "lead_id": None}, "at least one of"),
        ],
    )
    def test_an_activity_names_a_record_else_422(
        self, api_as: ApiAs, org: SalesOrg, session: Session, links: Json, field: str
    ) -> None:
        body = {"type": "call", "subject": "Hi", "occurred_at": "2025-02-01T10:00:00Z", **links}
        response = api_as(org.rita).post(URL, json=body)
        assert response.status_code == 422, response.text
        assert field in response.text
        assert session.scalar(select(func.count()).select_from(Activity)) == 0

    def test_a_contact_of_another_account_is_409(
        self, api_as: ApiAs, org: SalesOrg, book: Book, session: Session
    ) -> None:
        other = make_account(session, owner=org.rita, name="Other Co")
        body = {
            "type": "meeting",
            "subject": "Demo",
            "occurred_at": "2025-02-01T10:00:00Z",
            "account_id": other.id,
            "contact_id": book.rita_contact.id,
        }
        response = api_as(org.rita).post(URL, json=body)
        assert response.status_code == 409, response.text
        assert response.json()["error"]["details"] == {"field": "contact_id"}
        assert session.scalar(select(func.count()).select_from(Activity)) == 4

    def test_a_future_time_logs_a_planned_activity(
        self, api_as: ApiAs, org: SalesOrg, book: Book
    ) -> None:
        body = {
            "type": "meeting",
            "subject": "Contract review",
            "occurred_at": "2999-01-01T09:00:00Z",
            "deal_id": book.rita_deal.id,
            "duration_minutes": 60.0,
        }
        response = api_as(org.rita).post(URL, json=body)
        assert response.status_code == 201, response.text
        assert response.json()["occurred_at"].startswith("2999-01-01T09:00:00")
        assert response.json()["duration_minutes"] == 60

    def test_a_click_records_the_email_as_opened_whatever_open_tracking_saw(
        self, api_as: ApiAs, org: SalesOrg, book: Book
    ) -> None:
        body = {
            "type": "email",
            "subject": "Pricing",
            "occurred_at": "2025-02-01T10:00:00Z",
            "deal_id": book.rita_deal.id,
            "email_opened": False,
            "email_clicked": True,
        }
        response = api_as(org.rita).post(URL, json=body)
        assert response.status_code == 201, response.text
        engagement = {k: v for k, v in response.json().items() if k.startswith("email_")}
        assert engagement == {"email_opened": True, "email_clicked": True, "email_replied": None}

    @pytest.mark.parametrize(
        ("body", "field"),
        [
            ({"occurred_at": "2025-02-01T10:00:00"}, "occurred_at"),
            ({"occurred_at": 1738404000}, "occurred_at"),
            ({"subject": "  "}, "subject"),
            ({"subject": "x\x00y"}, "subject"),
            ({"body": "b" * 20_001}, "body"),
            ({"duration_minutes": -5}, "duration_minutes"),
            ({"duration_minutes": 2**31}, "duration_minutes"),
            ({"type": "fax"}, "type"),
            ({"user_id": 1}, "user_id"),
            ({"type": "email", "email_opened": "yes"}, "email_opened"),
            # Engagement is a field of emails only: on a call it is an unknown field.
            ({"email_opened": True}, "email_opened"),
            ({"type": "note", "email_replied": False}, "email_replied"),
        ],
    )
    def test_bad_input_is_422_naming_the_field_and_writes_nothing(
        self,
        api_as: ApiAs,
        org: SalesOrg,
        book: Book,
        session: Session,
        body: Json,
        field: str,
    ) -> None:
        payload = {
            "type": "call",
            "subject": "Hi",
            "occurred_at": "2025-02-01T10:00:00Z",
            "deal_id": book.rita_deal.id,
            **body,
        }
        response = api_as(org.rita).post(URL, json=payload)
        assert response.status_code == 422, response.text
        assert field in response.text
        assert session.scalar(select(func.count()).select_from(Activity)) == 4

    def test_huge_id_in_the_path_is_422(self, api_as: ApiAs, org: SalesOrg) -> None:
        response = api_as(org.admin).get(f"{URL}/{2**63}")
        assert response.status_code == 422 and "activity_id" in response.text
