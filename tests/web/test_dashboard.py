"""The dashboard: the quarter's figures, deals at risk and leaderboard in the viewer's scope."""

from __future__ import annotations

import re
from datetime import UTC, datetime

from fastapi.testclient import TestClient
from sqlalchemy import select
from sqlalchemy.orm import Session

from tests.conftest import PASSWORD
from tests.factories import SalesOrg
from tests.web.helpers import assert_max_queries, login, table_rows
from topline.crm.deals import update_deal
from topline.crm.models import Deal
from topline.crm.schemas import DealUpdate

# Every open deal of the org closes on 2025-03-31 and was created on 2025-01-06 without a
# next step; Rita won 500,000 on 2025-02-03. The page is read as of 2025-02-20 (2025Q1).
AS_OF = {"as_of": "2025-02-20"}


def figure(html: str, name: str) -> str:
    """The text of the element marked `data-testid=name` (links inside it included)."""
    start = html.index(f'data-testid="{name}">') + len(f'data-testid="{name}">')
    end = html.index("</p>", start) if "</p>" in html[start:] else len(html)
    inner = html[start:end]
    inner = inner[: inner.index("</strong>")] if "</strong>" in inner else inner
    return re.sub(r"<[^>]+>", "", inner).strip()


def test_a_manager_sees_the_teams_quarter(client: TestClient, org: SalesOrg) -> None:
    login(client, "maria@topline.example", PASSWORD)

    page = client.get("/dashboard", params=AS_OF)

    assert page.status_code == 200
    assert "<h1>This quarter — team of Maria</h1>" in page.text
    assert figure(page.text, "won") == "$500,000"
    assert (
        '/deals?status=won&amp;close_from=2025-01-01&amp;close_to=2025-03-31&amp;sort=-amount_cents"'
        in page.text
    )
    assert figure(page.text, "attainment") == "No quota"
    assert figure(page.text, "coverage") == "—"  # no quota: nothing to cover
    # Created in Q1: Rita's 10,000 + 25,000 + 500,000 and Ray's 40,000 + 15,000.
    assert figure(page.text, "created") == "$590,000"
    assert figure(page.text, "win-rate") == "100%"
    # The four open deals: no next step, and nothing logged or changed for 45 days.
    assert figure(page.text, "risk-no_next_step") == "4"
    assert figure(page.text, "risk-stale") == "4"
    assert figure(page.text, "risk-past_close_date") == "0"
    rows = table_rows(page.text, "at-risk")
    assert [row[0] for row in rows[1:]] == [
        "Ray Proposal",
        "Rita Proposal",
        "Ray Negotiation",
        "Rita Prospect",
    ]
    assert rows[1][5] == "No next step Gone quiet"
    assert "Olga Discovery" not in page.text
    leaders = table_rows(page.text, "leaderboard")
    assert [row[1] for row in leaders[1:]] == ["Rita", "Ray"]
    assert leaders[1][2] == "$500,000"


def test_a_next_step_and_a_recent_change_clear_the_warnings(
    client: TestClient, session: Session, org: SalesOrg
) -> None:
    deal = session.scalars(select(Deal).where(Deal.name == "Ray Proposal")).one()
    update_deal(
        session, deal, actor=org.ray, changes=DealUpdate(next_step="Pricing call on Monday"),
        at=datetime(2025, 2, 18, tzinfo=UTC),
    )  # fmt: skip
    login(client, "ray@topline.example", PASSWORD)

    page = client.get("/dashboard", params=AS_OF)

    assert "<h1>Your quarter</h1>" in page.text
    assert [row[0] for row in table_rows(page.text, "at-risk")[1:]] == ["Ray Negotiation"]
    assert 'id="leaderboard"' not in page.text  # a rep has no leaderboard


def test_the_dashboard_reads_a_fixed_number_of_queries(
    client: TestClient, session: Session, org: SalesOrg
) -> None:
    login(client, "ada@topline.example", PASSWORD)
    client.get("/dashboard", params=AS_OF)
    with assert_max_queries(session, 40):
        page = client.get("/dashboard", params=AS_OF)
    assert "<h1>This quarter — whole org</h1>" in page.text


def test_the_trend_shows_each_quarters_win_rate_and_cycle(
    client: TestClient, org: SalesOrg
) -> None:
    login(client, "maria@topline.example", PASSWORD)

    page = client.get("/dashboard", params=AS_OF).text
    rows = table_rows(client.get("/dashboard/trend", params=AS_OF).text, "trend")

    assert 'hx-get="/dashboard/trend?as_of=2025-02-20"' in page

    assert rows[0] == ["Quarter", "2023Q4", "2024Q1", "2024Q2", "2024Q3", "2024Q4", "2025Q1"]
    # Only Rita's deal has closed: won on 2025-02-03, 28 days after it was created.
    assert rows[1] == ["Win rate", "—", "—", "—", "—", "—", "100%"]
    assert rows[2] == ["Won / lost", "0 / 0", "0 / 0", "0 / 0", "0 / 0", "0 / 0", "1 / 0"]
    assert rows[3] == ["Median cycle", "—", "—", "—", "—", "—", "28 d"]


def test_an_admin_sees_each_team_and_a_manager_of_reps_does_not(
    client: TestClient, org: SalesOrg
) -> None:
    login(client, "ada@topline.example", PASSWORD)
    admin_page = client.get("/dashboard/teams", params=AS_OF).text
    assert 'hx-get="/dashboard/teams' in client.get("/dashboard", params=AS_OF).text
    client.cookies.clear()
    login(client, "maria@topline.example", PASSWORD)
    maria_page = client.get("/dashboard", params=AS_OF).text

    teams = table_rows(admin_page, "teams")
    assert [row[:2] + row[4:5] for row in teams[1:]] == [
        ["Maria", "$500,000", "$90,000"],  # Ray 40,000 + 15,000; Rita 10,000 + 25,000
        ["Otto", "$0", "$100,000"],  # Olga's discovery
    ]
    assert f'href="/deals?team_of={org.maria.id}&amp;status=won' in admin_page
    assert "/dashboard/teams" not in maria_page
    assert "No manager reports to you" in client.get("/dashboard/teams").text


def test_every_risk_count_links_to_the_deals_behind_it(client: TestClient, org: SalesOrg) -> None:
    login(client, "maria@topline.example", PASSWORD)

    page = client.get("/dashboard").text
    past = client.get("/dashboard", params=AS_OF).text
    listed = client.get("/deals", params={"risk": "no_next_step"}).text

    assert 'href="/deals?risk=no_next_step&amp;sort=-amount_cents"' in page
    # The list shows the signs as they are now: a past day's counts are not linked to it.
    assert "/deals?risk=" not in past
    assert sorted(row[0] for row in table_rows(listed, "deals")[1:]) == [
        "Ray Negotiation", "Ray Proposal", "Rita Proposal", "Rita Prospect",
    ]  # fmt: skip
