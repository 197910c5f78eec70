"""Exporting deals: the caller's scope only, the list's filters, three formats, safe cells."""

from __future__ import annotations

import csv
import io
from collections.abc import Callable

import pyarrow.parquet as pq
from fastapi.testclient import TestClient
from openpyxl import load_workbook
from sqlalchemy.orm import Session

from tests.factories import SalesOrg, make_deal, stage_named
from topline.auth.models import User
from topline.crm.schemas import DealRead

ApiAs = Callable[[User], TestClient]
EXPORT = "/api/v1/deals/export"


def csv_rows(response) -> list[dict[str, str]]:
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("text/csv")
    return list(csv.DictReader(io.StringIO(response.content.decode("utf-8-sig"))))


def test_a_rep_exports_only_their_own_deals(api_as: ApiAs, org: SalesOrg) -> None:
    rows = csv_rows(api_as(org.rita).get(EXPORT))

    assert sorted(r["name"] for r in rows) == ["Rita Proposal", "Rita Prospect", "Rita Won"]
    assert list(rows[0]) == list(DealRead.model_fields)
    assert {r["owner_id"] for r in rows} == {str(org.rita.id)}


def test_a_manager_exports_the_team_with_the_lists_filters(api_as: ApiAs, org: SalesOrg) -> None:
    client = api_as(org.maria)

    everything = csv_rows(client.get(EXPORT))
    open_deals = csv_rows(client.get(EXPORT, params={"status": "open", "amount_min": 2_000_000}))

    assert {r["owner_id"] for r in everything} == {str(org.rita.id), str(org.ray.id)}
    assert sorted(r["name"] for r in open_deals) == ["Ray Proposal", "Rita Proposal"]
    assert [r["amount_cents"] for r in open_deals if r["name"] == "Ray Proposal"] == ["4000000"]


def test_formulas_in_deal_names_are_neutralized(
    api_as: ApiAs, org: SalesOrg, session: Session
) -> None:
    make_deal(
        session, owner=org.rita, stage=stage_named(session, org.pipeline, "Proposal"),
        name='=HYPERLINK("http://evil.example","click")',
    )  # fmt: skip
    client = api_as(org.rita)

    rows = csv_rows(client.get(EXPORT, params={"q": "HYPERLINK"}))
    sheet = load_workbook(io.BytesIO(client.get(EXPORT, params={"format": "xlsx"}).content)).active

    assert [r["name"] for r in rows] == ['\'=HYPERLINK("http://evil.example","click")']
    assert sheet is not None
    cells = [row[1] for row in sheet.iter_rows(min_row=2, values_only=True)]
    assert '\'=HYPERLINK("http://evil.example","click")' in cells


def test_xlsx_and_parquet_hold_the_same_deals_with_types(api_as: ApiAs, org: SalesOrg) -> None:
    client = api_as(org.maria)
    expected = sorted(r["name"] for r in csv_rows(client.get(EXPORT)))

    xlsx = client.get(EXPORT, params={"format": "xlsx"})
    parquet = client.get(EXPORT, params={"format": "parquet"})

    sheet = load_workbook(io.BytesIO(xlsx.content)).active
    assert sheet is not None
    assert sorted(row[1] for row in sheet.iter_rows(min_row=2, values_only=True)) == expected
    table = pq.read_table(io.BytesIO(parquet.content))
    assert sorted(table.column("name").to_pylist()) == expected
    assert str(table.schema.field("amount_cents").type) == "int64"
    assert str(table.schema.field("created_at").type) == "timestamp[us, tz=UTC]"
    assert parquet.headers["content-disposition"] == 'attachment; filename="deals.parquet"'


def test_every_deal_column_keeps_its_type(api_as: ApiAs, org: SalesOrg) -> None:
    parquet = api_as(org.rita).get(EXPORT, params={"format": "parquet"})

    schema = pq.read_table(io.BytesIO(parquet.content)).schema
    integers = {
        "id", "account_id", "contact_id", "owner_id", "pipeline_id", "stage_id", "amount_cents",
        "recurring_amount_cents", "version",
    }  # fmt: skip
    moments = {"created_at", "closed_at", "updated_at"}
    assert {f.name: str(f.type) for f in schema} == {
        name: "int64" if name in integers
        else "date32[day]" if name == "close_date"
        else "timestamp[us, tz=UTC]" if name in moments
        else "string"
        for name in DealRead.model_fields
    }  # fmt: skip


def test_exports_need_a_token(make_client: Callable[..., TestClient]) -> None:
    assert make_client().get(EXPORT).status_code == 401
