"""Any report's rows as a file: CSV, XLSX or Parquet, in the caller's scope.

The `org` fixture: Rita won 500,000 on 2025-02-03; open deals close on 2025-03-31 (Rita 10,000
Prospecting and 25,000 Proposal, Ray 40,000 Proposal and 15,000 Negotiation, Olga 100,000
Discovery).
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Callable

import pyarrow.parquet as pq
from fastapi.testclient import TestClient
from openpyxl import load_workbook

from tests.factories import SalesOrg
from topline.auth.models import User

ApiAs = Callable[[User], TestClient]
URL = "/api/v1/reports"
Q1 = {"period": "2025Q1", "as_of": "2025-03-01T00:00:00Z"}


def test_a_report_exports_its_rows_in_the_callers_scope(api_as: ApiAs, org: SalesOrg) -> None:
    response = api_as(org.maria).get(f"{URL}/pipeline/export", params=Q1)
    assert response.status_code == 200
    assert response.headers["content-disposition"] == 'attachment; filename="pipeline.csv"'
    rows = {
        r["stage"]: int(r["amount_cents"])
        for r in csv.DictReader(io.StringIO(response.content.decode("utf-8-sig")))
    }
    # Maria's team only: Rita's and Ray's open deals, not Olga's.
    assert rows["Proposal"] == 65_000_00 and rows["Prospecting"] == 10_000_00
    assert rows["Discovery"] == 0

    rita = api_as(org.rita).get(f"{URL}/win-rate/export", params={"period": "2025Q1"})
    assert [r["key"] for r in csv.DictReader(io.StringIO(rita.content.decode("utf-8-sig")))] == [
        "Rita"
    ]


def test_xlsx_and_parquet_keep_the_types(api_as: ApiAs, org: SalesOrg) -> None:
    admin = api_as(org.admin)
    xlsx = admin.get(f"{URL}/pipeline/export", params={**Q1, "format": "xlsx"})
    sheet = load_workbook(io.BytesIO(xlsx.content), read_only=True).active
    assert sheet is not None
    header, *values = list(sheet.iter_rows(values_only=True))
    by_stage = {row[header.index("stage")]: row for row in values}
    assert by_stage["Discovery"][header.index("amount_cents")] == 100_000_00
    parquet = admin.get(f"{URL}/win-rate/export", params={"period": "2025Q1", "format": "parquet"})
    table = pq.read_table(io.BytesIO(parquet.content))
    assert str(table.schema.field("won_amount_cents").type) == "int64"
    assert table.column("won_amount_cents").to_pylist() == [500_000_00]


def test_nested_rows_are_json_text(api_as: ApiAs, org: SalesOrg) -> None:
    response = api_as(org.maria).get(f"{URL}/reps/export", params=Q1)
    assert response.status_code == 200
    rows = list(csv.DictReader(io.StringIO(response.content.decode("utf-8-sig"))))
    assert {row["name"] for row in rows} == {"Rita", "Ray"}  # Maria sells nothing herself
    metrics = json.loads(rows[0]["metrics"])
    assert {"metric", "value", "median"} <= set(metrics[0])


def test_options_a_report_does_not_take_are_422(api_as: ApiAs, org: SalesOrg) -> None:
    admin = api_as(org.admin)
    response = admin.get(f"{URL}/pipeline/export", params={"window": 30})
    assert response.status_code == 422
    assert "window does not apply to the pipeline report" in response.json()["error"]["message"]
    assert admin.get(f"{URL}/win-rate/export", params={"by": "colour"}).status_code == 422
    assert admin.get(f"{URL}/no-such-report/export").status_code == 422
    by_source = admin.get(f"{URL}/win-rate/export", params={"period": "2025Q1", "by": "source"})
    assert by_source.status_code == 200


def test_report_exports_need_a_token(api_as: ApiAs, org: SalesOrg) -> None:
    client = api_as(org.admin)
    response = client.get(f"{URL}/cycle/export", headers={"Authorization": ""})
    assert response.status_code == 401
