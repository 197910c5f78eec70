"""The deals list page: the viewer's deals, filtered and sorted like the API's list, a page
at a time, and their CSV export."""

from __future__ import annotations

import csv
import io

import pytest
from fastapi.testclient import TestClient
from sqlalchemy.orm import Session

from tests.conftest import PASSWORD
from tests.factories import SalesOrg, make_deal
from tests.web.helpers import login, table_rows
from topline.web.views import deals as deals_view


def names(html: str) -> list[str]:
    return [row[0] for row in table_rows(html, "deals")[1:]]


def test_a_manager_lists_the_teams_deals_sorted_and_filtered(
    client: TestClient, org: SalesOrg
) -> None:
    login(client, "maria@topline.example", PASSWORD)

    by_amount = client.get("/deals", params={"sort": "-amount_cents"})
    open_only = client.get("/deals", params={"status": "open", "sort": "amount_cents"})
    rita = client.get("/deals", params={"owner_id": org.rita.id, "q": "prop"})

    assert by_amount.status_code == 200
    assert names(by_amount.text) == [
        "Rita Won", "Ray Proposal", "Rita Proposal", "Ray Negotiation", "Rita Prospect",
    ]  # fmt: skip
    assert 'data-testid="deal-count">5<' in by_amount.text
    assert "Olga Discovery" not in by_amount.text
    assert names(open_only.text) == [
        "Rita Prospect", "Ray Negotiation", "Rita Proposal", "Ray Proposal",
    ]  # fmt: skip
    assert names(rita.text) == ["Rita Proposal"]
    row = table_rows(rita.text, "deals")[1]
    assert row[1:5] == ["Rita Proposal Inc", "Rita", "Proposal", "$25,000"]


def test_pages_follow_each_other_without_gaps(
    client: TestClient, org: SalesOrg, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(deals_view, "PAGE_SIZE", 2)
    login(client, "rita@topline.example", PASSWORD)
    seen: list[str] = []
    page = client.get("/deals", params={"sort": "name"})
    while True:
        seen += names(page.text)
        marker = 'rel="next"'
        if marker not in page.text:
            break
        link = page.text[: page.text.index(marker)].rsplit('href="', 1)[1].split('"')[0]
        page = client.get(link.replace("&amp;", "&"))
    assert seen == ["Rita Proposal", "Rita Prospect", "Rita Won"]


def test_the_export_holds_every_matching_deal_as_csv(client: TestClient, org: SalesOrg) -> None:
    login(client, "maria@topline.example", PASSWORD)

    response = client.get("/deals/export", params={"status": "open"})

    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/csv")
    rows = list(csv.DictReader(io.StringIO(response.text)))
    assert sorted(row["name"] for row in rows) == [
        "Ray Negotiation", "Ray Proposal", "Rita Proposal", "Rita Prospect",
    ]  # fmt: skip
    assert {row["amount_cents"] for row in rows} >= {"4000000", "2500000"}


def test_no_match_says_so_and_a_bad_filter_is_refused(
    client: TestClient, session: Session, org: SalesOrg
) -> None:
    make_deal(session, owner=org.rita, name="Another")
    login(client, "rita@topline.example", PASSWORD)

    assert "No deal matches" in client.get("/deals", params={"q": "zzz"}).text
    assert client.get("/deals", params={"close_from": "not a date"}).status_code == 422
