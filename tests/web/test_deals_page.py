"""The deals list page: the viewer's deals, filtered and sorted like the API's list, a page
at a time, and their CSV export."""

from __future__ import annotations

import csv
import io
from datetime import UTC, date, datetime
from typing import cast

import pytest
from fastapi.testclient import TestClient
from httpx2 import Response
from sqlalchemy import select
from sqlalchemy.orm import Session

from tests.conftest import PASSWORD
from tests.factories import SalesOrg, make_deal
from tests.web.helpers import csrf_from, login, table_rows
from topline.audit.models import AuditEntry
from topline.auth.models import SavedView
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


def save_view(client: TestClient, name: str, query: str) -> Response:
    token = csrf_from(client.get("/deals").text)
    data = {"csrf_token": token, "name": name, "query": query}
    return cast(Response, client.post("/deals/views", data=data, follow_redirects=False))


def test_warning_sign_creation_and_team_filters(
    client: TestClient, session: Session, org: SalesOrg
) -> None:
    late = make_deal(
        session, owner=org.rita, name="Late one", close_date=date(2020, 1, 31),
        at=datetime(2024, 6, 1, 23, 30, tzinfo=UTC), next_step="Call the CFO",
    )  # fmt: skip
    make_deal(session, owner=org.olga, name="Olga Late", close_date=date(2020, 1, 31))
    make_deal(session, owner=org.rita, name="Future one", close_date=date(2099, 1, 31))
    login(client, "ada@topline.example", PASSWORD)

    past = client.get("/deals", params={"risk": "past_close_date"})
    created = client.get(
        "/deals", params={"created_from": "2024-06-01", "created_to": "2024-06-01"}
    )
    team = client.get("/deals", params={"team_of": org.maria.id, "risk": "past_close_date"})
    wrong = client.get("/deals", params={"risk": "doomed"})

    assert {"Late one", "Olga Late"} <= set(names(past.text))
    assert not {"Future one", "Rita Won"} & set(names(past.text))  # ahead, and closed
    assert names(created.text) == [late.name]  # created late on the last day still counts
    assert "Late one" in names(team.text)
    assert "Olga Late" not in names(team.text)
    assert wrong.status_code == 422
    no_step = names(client.get("/deals", params={"risk": "no_next_step", "sort": "name"}).text)
    assert "Late one" not in no_step
    assert "Olga Late" in no_step


def test_a_saved_view_reopens_the_filters_and_saving_again_replaces_it(
    client: TestClient, session: Session, org: SalesOrg
) -> None:
    login(client, "maria@topline.example", PASSWORD)

    saved = save_view(client, "  Big   open ", "status=open&sort=-amount_cents")
    again = save_view(client, "big open", "status=open&sort=amount_cents")
    page = client.get("/deals")

    assert saved.status_code == 303
    assert saved.headers["location"] == "/deals?status=open&sort=-amount_cents"
    assert again.status_code == 303
    views = session.scalars(select(SavedView).where(SavedView.user_id == org.maria.id)).all()
    assert [(view.name, view.query) for view in views] == [
        ("Big open", "status=open&sort=amount_cents")
    ]
    assert 'href="/deals?status=open&amp;sort=amount_cents">Big open</a>' in page.text
    logged = session.scalars(
        select(AuditEntry.action).where(AuditEntry.entity_type == "saved_view")
    ).all()
    assert logged == ["save", "save"]


def test_a_refused_view_keeps_the_typed_name_and_others_views_stay_out_of_reach(
    client: TestClient, session: Session, org: SalesOrg
) -> None:
    login(client, "ray@topline.example", PASSWORD)
    save_view(client, "Mine", "status=open")
    ray_view = session.scalars(select(SavedView)).one()
    client.cookies.clear()
    login(client, "rita@topline.example", PASSWORD)

    blank = save_view(client, "   ", "status=won")
    long_name = save_view(client, "x" * 81, "status=won")
    token = csrf_from(client.get("/deals").text)
    foreign = client.post(
        f"/deals/views/{ray_view.id}/delete", data={"csrf_token": token}, follow_redirects=False
    )
    # A view naming someone else's deals shows only what the viewer may see.
    save_view(client, "Olga's", f"owner_id={org.olga.id}")
    smuggled = client.get("/deals", params={"owner_id": org.olga.id})

    assert blank.status_code == 422
    assert "give the view a name" in blank.text
    assert 'aria-invalid="true"' in blank.text
    assert long_name.status_code == 422
    assert 'value="' + "x" * 81 + '"' in long_name.text
    assert foreign.status_code == 404
    assert session.get(SavedView, ray_view.id) is not None
    assert "No deal matches" in smuggled.text


def test_a_view_is_deleted_by_its_owner(
    client: TestClient, session: Session, org: SalesOrg
) -> None:
    login(client, "rita@topline.example", PASSWORD)
    save_view(client, "Won", "status=won")
    view = session.scalars(select(SavedView)).one()
    token = csrf_from(client.get("/deals").text)

    gone = client.post(
        f"/deals/views/{view.id}/delete", data={"csrf_token": token}, follow_redirects=False
    )

    assert gone.status_code == 303
    session.expire_all()
    assert session.scalars(select(SavedView)).all() == []
    assert "None yet." in client.get("/deals").text


def test_the_filter_forms_empty_choices_mean_no_filter(client: TestClient, org: SalesOrg) -> None:
    login(client, "maria@topline.example", PASSWORD)
    blank = dict.fromkeys(
        ("status", "owner_id", "team_of", "stage_id", "risk", "close_from", "close_to",
         "created_from", "created_to", "q"),
        "",
    )  # fmt: skip

    submitted = client.get("/deals", params={**blank, "sort": "name"})
    board = client.get("/pipeline", params={"owner_id": "", "team_of": "", "close_from": "",
                                            "close_to": ""})  # fmt: skip

    assert submitted.status_code == 200
    assert names(submitted.text) == names(client.get("/deals", params={"sort": "name"}).text)
    assert board.status_code == 200
