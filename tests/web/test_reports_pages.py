"""Report pages: any report for the viewer's scope with its chart, figures, rows and CSV."""

from __future__ import annotations

import csv
import io
import json
import re

import pytest
from fastapi.testclient import TestClient

from tests.conftest import PASSWORD
from tests.factories import SalesOrg
from tests.web.helpers import login, table_rows
from topline.analytics.catalog import REPORTS
from topline.web.views import reports as report_views

Q1 = {"period": "2025Q1", "as_of": "2025-02-20"}


def figure(html: str) -> dict[str, object]:
    match = re.search(r'data-figure="([^"]+)"', html)
    assert match, "no chart on the page"
    return dict(json.loads(match.group(1).replace("&#34;", '"').replace("&quot;", '"')))


def test_the_index_links_every_report(client: TestClient, org: SalesOrg) -> None:
    login(client, "maria@topline.example", PASSWORD)

    page = client.get("/reports")

    assert all(f'href="/reports/{name}"' in page.text for name in REPORTS)


def test_the_pipeline_report_shows_the_teams_stages_as_a_chart_and_rows(
    client: TestClient, org: SalesOrg
) -> None:
    login(client, "maria@topline.example", PASSWORD)

    page = client.get("/reports/pipeline", params=Q1)

    assert page.status_code == 200
    assert "Team of Maria · 2025Q1" in page.text
    chart = figure(page.text)
    bars = chart["data"][0]  # type: ignore[index]
    assert bars["type"] == "bar"
    # Maria's team: Prospecting 10,000, Proposal 25,000 + 40,000, Negotiation 15,000.
    amounts = dict(zip(bars["x"], bars["y"], strict=True))
    assert (amounts["Prospecting"], amounts["Proposal"], amounts["Negotiation"]) == (
        10_000,
        65_000,
        15_000,
    )
    rows = table_rows(page.text, "report-rows")
    assert rows[0][:2] == ["pipeline", "stage"]
    assert '<script src="/assets/plotly.min.js" defer></script>' in page.text


def test_the_waterfall_is_drawn_from_its_reconciled_figures(
    client: TestClient, org: SalesOrg
) -> None:
    login(client, "ada@topline.example", PASSWORD)

    page = client.get("/reports/waterfall", params={**Q1, "since": "2025-01-01"})

    assert page.status_code == 200
    steps = figure(page.text)["data"][0]  # type: ignore[index]
    assert steps["type"] == "waterfall"
    assert steps["x"][0] == "Open at A" and steps["x"][-1] == "Open at B"
    assert sum(steps["y"][:-1]) == steps["y"][-1]  # the steps add up to the pipeline at B
    assert "Reconciles</dt><dd>yes" in page.text


def test_the_rows_export_as_csv(client: TestClient, org: SalesOrg) -> None:
    login(client, "maria@topline.example", PASSWORD)

    response = client.get("/reports/win-rate/export", params=Q1)

    assert response.status_code == 200
    rows = list(csv.DictReader(io.StringIO(response.content.decode("utf-8-sig"))))
    assert {row["key"] for row in rows} == {"Rita"}
    assert rows[0]["won"] == "1"


def test_long_rows_come_a_page_at_a_time(
    client: TestClient, org: SalesOrg, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Pages of two rows (the app shows 100): where the page falls, links to the pages around
    it, a chart of its rows, and an export of every row."""
    login(client, "ada@topline.example", PASSWORD)
    whole = client.get("/reports/pipeline", params=Q1).text
    stages = [row[1] for row in table_rows(whole, "report-rows")[1:]]
    assert len(stages) == 5 and 'id="rows-pager"' not in whole
    monkeypatch.setattr(report_views, "PAGE_ROWS", 2)

    first = client.get("/reports/pipeline", params=Q1)
    assert "Rows 1–2 of 5" in first.text
    assert 'rel="prev"' not in first.text
    next_link = re.search(r'<a href="([^"]+)" rel="next">', first.text)
    assert next_link and "offset=2" in next_link.group(1)
    second = client.get(next_link.group(1).replace("&amp;", "&"))
    assert "Rows 3–4 of 5" in second.text and 'rel="prev"' in second.text
    shown = [row[1] for row in table_rows(second.text, "report-rows")[1:]]
    assert shown == stages[2:4]
    assert figure(second.text)["data"][0]["x"] == shown  # type: ignore[index]
    export_link = re.search(r'href="([^"]+/export[^"]*)"', second.text)
    assert export_link and "offset" not in export_link.group(1)
    last = client.get("/reports/pipeline", params={**Q1, "offset": 4}).text
    assert "Rows 5–5 of 5" in last and 'rel="next"' not in last
    beyond = client.get("/reports/pipeline", params={**Q1, "offset": 40})
    assert beyond.status_code == 200 and "No rows this far down: the report has 5." in beyond.text
    export = client.get("/reports/pipeline/export", params={**Q1, "offset": 2})
    assert len(list(csv.DictReader(io.StringIO(export.content.decode("utf-8-sig"))))) == 5


def test_unknown_reports_and_bad_periods_are_refused(client: TestClient, org: SalesOrg) -> None:
    login(client, "maria@topline.example", PASSWORD)

    assert client.get("/reports/nope").status_code == 404
    assert client.get("/reports/pipeline", params={"period": "Q5"}).status_code == 422


def test_plotly_is_served_by_topline_itself(client: TestClient, org: SalesOrg) -> None:
    login(client, "rita@topline.example", PASSWORD)

    response = client.get("/assets/plotly.min.js")

    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/javascript")
    assert "plotly" in response.text[:2000].lower()


def test_the_pickers_empty_fields_mean_the_defaults(client: TestClient, org: SalesOrg) -> None:
    login(client, "maria@topline.example", PASSWORD)

    blank = client.get("/reports/win-rate", params={"period": "", "as_of": ""})
    default = client.get("/reports/win-rate")
    dashboard = client.get("/dashboard", params={"as_of": ""})

    assert blank.status_code == 200
    summary = re.compile(r'<dl class="summary" id="summary">.*?</dl>', re.S)
    assert summary.findall(blank.text) == summary.findall(default.text) != []
    assert dashboard.status_code == 200


def test_a_report_narrows_to_a_team_or_a_rep_the_viewer_may_see(
    client: TestClient, org: SalesOrg
) -> None:
    login(client, "ada@topline.example", PASSWORD)

    otto = client.get("/reports/pipeline", params={**Q1, "scope": f"team:{org.otto.id}"})
    ray = client.get("/reports/pipeline/export", params={**Q1, "scope": f"rep:{org.ray.id}"})
    bad = client.get("/reports/pipeline", params={"scope": "everyone"})

    assert "Team of Otto · 2025Q1" in otto.text
    assert f'<option value="team:{org.otto.id}" selected>Team of Otto</option>' in otto.text
    stages = {row["stage"]: row for row in csv.DictReader(io.StringIO(ray.text.lstrip("\ufeff")))}
    assert (stages["Proposal"]["amount_cents"], stages["Negotiation"]["amount_cents"]) == (
        "4000000", "1500000",
    )  # fmt: skip
    assert stages["Prospecting"]["amount_cents"] == "0"  # Rita's prospect is not Ray's
    assert bad.status_code == 422
    client.cookies.clear()
    login(client, "rita@topline.example", PASSWORD)
    assert client.get("/reports/pipeline", params={"scope": f"rep:{org.ray.id}"}).status_code == 404
    assert 'id="r-scope"' not in client.get("/reports/pipeline").text  # only herself to show
