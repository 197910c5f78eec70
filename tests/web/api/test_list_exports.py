"""Exporting accounts, contacts, leads and activities: the list's scope and filters, as files."""

from __future__ import annotations

import csv
import io
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import pyarrow.parquet as pq
import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from openpyxl import load_workbook
from pydantic import BaseModel
from sqlalchemy import select
from sqlalchemy.orm import Session

from tests.factories import T0, SalesOrg, make_account, make_contact, make_deal, make_lead
from tests.web.api.test_accounts import walk
from topline.auth.models import User
from topline.crm.activities import log_activity
from topline.crm.enums import ActivityType, BuyingRole, Segment
from topline.crm.models import Account
from topline.crm.schemas import AccountRead, ActivityRead, ContactRead, LeadRead

ApiAs = Callable[[User], TestClient]
Json = dict[str, Any]
FORMULA = '=HYPERLINK("http://evil.example","click")'
PAGING = {"sort", "cursor", "limit", "with_total"}
TS = "timestamp[us, tz=UTC]"


@dataclass(frozen=True, eq=False)
class Entity:
    """One exportable list, the field that names its records, and its typed columns."""

    path: str
    read: type[BaseModel]
    key: str
    types: dict[str, str]  # the Parquet type of every column that is not text, and some that are

    @property
    def export(self) -> str:
        return f"{self.path}/export"


ACCOUNTS = Entity(
    "/api/v1/accounts", AccountRead, "name",
    {
        "id": "int64", "annual_revenue_cents": "int64", "employees": "int64",
        "owner_id": "int64", "segment": "string", "created_at": TS, "version": "int64",
    },
)  # fmt: skip
CONTACTS = Entity(
    "/api/v1/contacts", ContactRead, "last_name",
    {
        "id": "int64", "account_id": "int64", "buying_role": "string", "email": "string",
        "created_at": TS, "version": "int64",
    },
)  # fmt: skip
LEADS = Entity(
    "/api/v1/leads", LeadRead, "last_name",
    {
        "id": "int64", "status": "string", "employees": "int64", "bant_budget": "bool",
        "bant_authority": "bool", "bant_need": "bool", "bant_timeline": "bool",
        "score": "double", "owner_id": "int64", "created_at": TS, "mql_at": TS, "sql_at": TS,
        "converted_at": TS, "disqualified_at": TS, "converted_account_id": "int64",
        "converted_contact_id": "int64", "converted_deal_id": "int64", "version": "int64",
    },
)  # fmt: skip
ACTIVITIES = Entity(
    "/api/v1/activities", ActivityRead, "subject",
    {
        "id": "int64", "type": "string", "occurred_at": TS, "user_id": "int64",
        "deal_id": "int64", "contact_id": "int64", "account_id": "int64", "lead_id": "int64",
        "duration_minutes": "int64", "email_opened": "bool", "email_clicked": "bool",
        "email_replied": "bool", "created_at": TS,
    },
)  # fmt: skip
ENTITIES = [ACCOUNTS, CONTACTS, LEADS, ACTIVITIES]


def _name(entity: Entity | str) -> str:
    return (entity if isinstance(entity, str) else entity.path).rsplit("/", 1)[1]


by_path = pytest.mark.parametrize("entity", ENTITIES, ids=_name)


class Book:
    """Records of every kind for Rita, Ray (team Maria) and Olga (team Otto), plus an
    unassigned lead; the org's own accounts are "<deal name> Inc"."""

    def __init__(self, session: Session, org: SalesOrg) -> None:
        self.rita_account = make_account(
            session, owner=org.rita, name="Rita Enterprise Co", segment=Segment.ENTERPRISE,
            employees=5_000, annual_revenue_cents=9_007_199_254_740_993,
        )  # fmt: skip
        self.ray_account = make_account(
            session, owner=org.ray, name="Ray Mid Co", segment=Segment.MID_MARKET
        )
        self.olga_account = make_account(session, owner=org.olga, name="Olga Only Co")
        # Olga owns it, but Rita sells to it: Rita sees the account and its people.
        self.shared_account = make_account(session, owner=org.olga, name="Olga Shared Co")
        make_deal(session, owner=org.rita, pipeline=org.pipeline, account=self.shared_account)

        role = BuyingRole.DECISION_MAKER
        self.rita_contact = make_contact(
            session, account=self.rita_account, last_name="Rita-Buyer", buying_role=role
        )
        make_contact(
            session, account=self.shared_account, last_name="Shared-Buyer",
            buying_role=BuyingRole.CHAMPION,
        )  # fmt: skip
        make_contact(session, account=self.ray_account, last_name="Ray-Buyer", buying_role=role)
        make_contact(session, account=self.olga_account, last_name="Olga-Buyer", buying_role=role)

        self.rita_lead = make_lead(session, owner=org.rita, last_name="RitaLead", source="web")
        self.rita_lead.score = 0.75
        self.rita_lead.bant_budget = True
        make_lead(session, owner=org.ray, last_name="RayLead", source="event")
        make_lead(session, owner=org.olga, last_name="OlgaLead", source="event")
        make_lead(session, owner=None, last_name="NobodyLead", source="event")

        def log(user: User, kind: ActivityType, subject: str, days: int, **more: Any) -> None:
            log_activity(
                session, user=user, type=kind, subject=subject,
                occurred_at=T0 + timedelta(days), at=T0 + timedelta(30), **more,
            )  # fmt: skip

        log(org.rita, ActivityType.CALL, "Rita call", 1, account=self.rita_account,
            duration_minutes=30)  # fmt: skip
        log(org.rita, ActivityType.EMAIL, "Rita email", 2, contact=self.rita_contact,
            email_opened=True)  # fmt: skip
        log(org.ray, ActivityType.MEETING, "Ray meeting", 3, account=self.ray_account)
        log(org.olga, ActivityType.NOTE, "Olga note", 4, account=self.olga_account)
        session.flush()


@pytest.fixture
def book(session: Session, org: SalesOrg) -> Book:
    """The org plus known records of every exportable kind."""
    return Book(session, org)


RITA_SEES = {
    ACCOUNTS: {"Rita Prospect Inc", "Rita Proposal Inc", "Rita Enterprise Co", "Olga Shared Co"},
    CONTACTS: {"Rita-Buyer", "Shared-Buyer"},
    LEADS: {"RitaLead"},
    ACTIVITIES: {"Rita call", "Rita email"},
}
MARIA_SEES = {
    ACCOUNTS: RITA_SEES[ACCOUNTS] | {"Ray Proposal Inc", "Ray Negotiation Inc", "Ray Mid Co"},
    CONTACTS: RITA_SEES[CONTACTS] | {"Ray-Buyer"},
    LEADS: {"RitaLead", "RayLead", "NobodyLead"},  # managers route unassigned leads
    ACTIVITIES: RITA_SEES[ACTIVITIES] | {"Ray meeting"},
}
# A filter of each list, and what Maria gets with it.
FILTERS: dict[Entity, tuple[Json, set[str]]] = {
    ACCOUNTS: ({"segment": ["enterprise", "mid_market"]}, {"Rita Enterprise Co", "Ray Mid Co"}),
    CONTACTS: ({"buying_role": "decision_maker"}, {"Rita-Buyer", "Ray-Buyer"}),
    LEADS: ({"source": "Event", "unassigned": "false"}, {"RayLead"}),
    ACTIVITIES: ({"type": ["call", "meeting"]}, {"Rita call", "Ray meeting"}),
}


def csv_rows(response: Any) -> list[dict[str, str]]:
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == "text/csv; charset=utf-8"
    return list(csv.DictReader(io.StringIO(response.content.decode("utf-8-sig"))))


def listed_ids(client: TestClient, entity: Entity, params: Json | None = None) -> list[int]:
    """The ids the list endpoint shows with `params`, every page of them."""
    ids = walk(client, entity.path, {**(params or {}), "limit": 200}, key="id")
    return sorted(int(i) for i in ids)


@by_path
def test_a_rep_exports_only_what_they_may_see(
    api_as: ApiAs, org: SalesOrg, book: Book, entity: Entity
) -> None:
    client = api_as(org.rita)

    rows = csv_rows(client.get(entity.export))

    assert {r[entity.key] for r in rows} == RITA_SEES[entity]
    assert len(rows) == len(RITA_SEES[entity])
    assert list(rows[0]) == list(entity.read.model_fields)
    assert [int(r["id"]) for r in rows] == listed_ids(client, entity)  # in id order


@by_path
@pytest.mark.parametrize("viewer", ["maria", "admin"])
def test_managers_and_admins_export_what_their_list_shows(
    api_as: ApiAs, org: SalesOrg, book: Book, entity: Entity, viewer: str
) -> None:
    client = api_as(getattr(org, viewer))

    rows = csv_rows(client.get(entity.export))

    assert [int(r["id"]) for r in rows] == listed_ids(client, entity)
    names = {r[entity.key] for r in rows}
    if viewer == "maria":
        assert names == MARIA_SEES[entity]
    else:
        assert names > MARIA_SEES[entity]


@by_path
def test_exports_apply_the_lists_filters(
    api_as: ApiAs, org: SalesOrg, book: Book, entity: Entity
) -> None:
    client = api_as(org.maria)
    params, expected = FILTERS[entity]

    rows = csv_rows(client.get(entity.export, params=params))

    assert {r[entity.key] for r in rows} == expected
    assert [int(r["id"]) for r in rows] == listed_ids(client, entity, params)


def test_team_of_and_owner_filters_narrow_the_accounts(
    api_as: ApiAs, org: SalesOrg, book: Book
) -> None:
    client = api_as(org.admin)

    team = csv_rows(client.get(ACCOUNTS.export, params={"team_of": org.otto.id}))
    owned = csv_rows(client.get(ACCOUNTS.export, params={"owner_id": [org.ray.id]}))

    assert {r["name"] for r in team} == {"Olga Discovery Inc", "Olga Only Co", "Olga Shared Co"}
    assert {r["name"] for r in owned} == {"Ray Proposal Inc", "Ray Negotiation Inc", "Ray Mid Co"}


def test_a_team_of_outside_the_callers_scope_is_not_found(api_as: ApiAs, org: SalesOrg) -> None:
    response = api_as(org.maria).get(ACCOUNTS.export, params={"team_of": org.otto.id})

    assert response.status_code == 404
    assert response.json()["error"]["code"] == "not_found"


def test_a_filter_that_matches_nothing_gives_the_header_only(
    api_as: ApiAs, org: SalesOrg, book: Book
) -> None:
    client = api_as(org.maria)
    later = {"occurred_from": "2030-01-01T00:00:00Z"}

    text = client.get(ACTIVITIES.export, params=later).content.decode("utf-8-sig")
    table = pq.read_table(
        io.BytesIO(client.get(ACTIVITIES.export, params={**later, "format": "parquet"}).content)
    )

    assert text.splitlines() == [",".join(ActivityRead.model_fields)]
    assert table.num_rows == 0
    assert str(table.schema.field("occurred_at").type) == "timestamp[us, tz=UTC]"


@by_path
def test_xlsx_and_parquet_hold_the_same_rows_with_types(
    api_as: ApiAs, org: SalesOrg, book: Book, entity: Entity
) -> None:
    client = api_as(org.maria)
    expected_ids = [int(r["id"]) for r in csv_rows(client.get(entity.export))]

    xlsx = client.get(entity.export, params={"format": "xlsx"})
    parquet = client.get(entity.export, params={"format": "parquet"})

    assert xlsx.status_code == parquet.status_code == 200
    name = _name(entity)
    assert xlsx.headers["content-disposition"] == f'attachment; filename="{name}.xlsx"'
    assert parquet.headers["content-type"] == "application/vnd.apache.parquet"
    sheet = load_workbook(io.BytesIO(xlsx.content)).active
    assert sheet is not None
    assert sheet.title == name.capitalize()
    header, *cells = list(sheet.iter_rows(values_only=True))
    assert list(header) == list(entity.read.model_fields)
    assert [row[0] for row in cells] == expected_ids
    created = header.index("created_at")
    assert all(isinstance(row[created], datetime) for row in cells)
    table = pq.read_table(io.BytesIO(parquet.content))
    assert table.column_names == list(entity.read.model_fields)
    assert table.column("id").to_pylist() == expected_ids
    assert {f: str(table.schema.field(f).type) for f in entity.types} == entity.types
    # Every other column is text.
    others = {str(f.type) for f in table.schema if f.name not in entity.types}
    assert others <= {"string"}


def test_values_keep_their_meaning_in_each_format(api_as: ApiAs, org: SalesOrg, book: Book) -> None:
    client = api_as(org.rita)
    account = {"q": "Enterprise"}

    (csv_account,) = csv_rows(client.get(ACCOUNTS.export, params=account))
    xlsx = client.get(ACCOUNTS.export, params={**account, "format": "xlsx"})
    sheet = load_workbook(io.BytesIO(xlsx.content)).active
    assert sheet is not None
    header, row = list(sheet.iter_rows(values_only=True))
    xlsx_account = dict(zip(header, row, strict=True))
    parquet = client.get(ACCOUNTS.export, params={**account, "format": "parquet"})
    (parquet_account,) = pq.read_table(io.BytesIO(parquet.content)).to_pylist()
    leads = client.get(LEADS.export, params={"format": "parquet"})
    (lead,) = pq.read_table(io.BytesIO(leads.content)).to_pylist()

    # Cents beyond 2**53 stay exact: text in XLSX (Excel's numbers are doubles), int elsewhere.
    assert csv_account["annual_revenue_cents"] == "9007199254740993"
    assert xlsx_account["annual_revenue_cents"] == "9007199254740993"
    assert parquet_account["annual_revenue_cents"] == 9_007_199_254_740_993
    assert csv_account["segment"] == xlsx_account["segment"] == parquet_account["segment"]
    assert csv_account["segment"] == "enterprise"
    assert csv_account["created_at"] == "2025-01-06T09:00:00+00:00"
    assert xlsx_account["created_at"] == datetime(2025, 1, 6, 9, 0)  # UTC wall clock
    assert parquet_account["created_at"] == datetime(2025, 1, 6, 9, 0, tzinfo=UTC)
    assert xlsx_account["employees"] == 5_000
    assert (lead["last_name"], lead["score"], lead["bant_budget"]) == ("RitaLead", 0.75, True)
    assert lead["bant_need"] is False
    assert lead["mql_at"] is None


def test_formulas_in_text_are_neutralized(
    api_as: ApiAs, org: SalesOrg, book: Book, session: Session
) -> None:
    account = make_account(session, owner=org.rita, name=FORMULA)
    make_contact(session, account=account, last_name=FORMULA)
    make_lead(session, owner=org.rita, last_name="Formula", company=FORMULA)
    log_activity(
        session, user=org.rita, type=ActivityType.NOTE, subject=FORMULA,
        occurred_at=T0, at=T0, account=account,
    )  # fmt: skip
    client = api_as(org.rita)

    cells = {
        entity: {r[field] for r in csv_rows(client.get(entity.export))}
        for entity, field in (
            (ACCOUNTS, "name"), (CONTACTS, "last_name"), (LEADS, "company"),
            (ACTIVITIES, "subject"),
        )
    }  # fmt: skip
    sheet = load_workbook(
        io.BytesIO(client.get(ACCOUNTS.export, params={"format": "xlsx"}).content)
    ).active

    for values in cells.values():
        assert "'" + FORMULA in values
        assert FORMULA not in values
    assert sheet is not None
    assert "'" + FORMULA in [row[1] for row in sheet.iter_rows(min_row=2, values_only=True)]


@by_path
def test_exports_need_a_token(make_client: Callable[..., TestClient], entity: Entity) -> None:
    response = make_client().get(entity.export)

    assert response.status_code == 401
    assert response.json()["error"]["code"] == "invalid_token"


@pytest.mark.parametrize("entity", [*ENTITIES, "/api/v1/deals"], ids=_name)
def test_an_export_takes_exactly_its_lists_filters(app: FastAPI, entity: Entity | str) -> None:
    path = entity if isinstance(entity, str) else entity.path
    paths = app.openapi()["paths"]

    listed = {p["name"]: p for p in paths[path]["get"]["parameters"] if p["name"] not in PAGING}
    exported = {p["name"]: p for p in paths[f"{path}/export"]["get"]["parameters"]}
    file_format = exported.pop("format")

    assert exported == listed
    assert file_format["schema"]["$ref"].endswith("/ExportFormat")
    assert set(paths[f"{path}/export"]["get"]["responses"]["200"]["content"]) == {
        "text/csv", "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
        "application/vnd.apache.parquet",
    }  # fmt: skip


def test_export_is_not_read_as_a_record_id(api_as: ApiAs, org: SalesOrg, session: Session) -> None:
    """`/accounts/export` is the export, whatever ids exist; `/accounts/{id}` still works."""
    account_id = session.scalar(select(Account.id).where(Account.name == "Rita Proposal Inc"))
    client = api_as(org.rita)

    assert client.get(ACCOUNTS.export).status_code == 200
    assert client.get(f"{ACCOUNTS.path}/{account_id}").json()["name"] == "Rita Proposal Inc"
