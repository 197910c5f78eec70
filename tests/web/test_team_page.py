"""The team page: each rep against the team's median, with what to coach them on, and the
new hires' ramp-up."""

from __future__ import annotations

from datetime import UTC, datetime

from fastapi.testclient import TestClient
from sqlalchemy.orm import Session

from tests.conftest import PASSWORD
from tests.factories import SalesOrg, make_deal, make_user
from tests.web.helpers import assert_max_queries, login, table_rows
from topline.analytics.people import Unit
from topline.crm.deals import close_deal_won
from topline.web.views.team import metric_name, show

AS_OF = {"as_of": "2025-02-20"}


def test_metric_names_and_figures_read_as_people_say_them() -> None:
    assert metric_name("conversion:Proposal") == "Proposal converts"
    assert metric_name("activities:call") == "Calls"
    assert metric_name("median_cycle_days") == "Sales cycle"
    assert show(1_234_50, Unit.CENTS) == "$1,235"
    assert show(0.25, Unit.RATE) == "25%"
    assert show(27.25, Unit.DAYS) == "27 d"
    assert show(None, Unit.COUNT) == "—"


def test_a_manager_compares_the_teams_reps(client: TestClient, org: SalesOrg) -> None:
    login(client, "maria@topline.example", PASSWORD)

    page = client.get("/team", params=AS_OF)

    assert page.status_code == 200
    rows = table_rows(page.text, "scorecards")
    header = rows[0]
    assert header[:4] == ["Rep", "Coach on", "Deals created", "Pipeline created"]
    assert [row[0] for row in rows[1:]] == ["Team median", "Ray", "Rita"]
    created = header.index("Pipeline created")
    # Created this quarter: Ray 40,000 + 15,000; Rita 10,000 + 25,000 + 500,000.
    assert rows[2][created] == "$55,000 (below the team)"
    assert rows[3][created] == "$535,000 (above the team)"
    assert rows[1][created] == "$295,000"  # the median of the two
    assert "Olga" not in page.text


def test_the_team_page_reads_a_bounded_number_of_queries(
    client: TestClient, session: Session, org: SalesOrg
) -> None:
    login(client, "ada@topline.example", PASSWORD)
    client.get("/team", params=AS_OF)
    with assert_max_queries(session, 30):
        page = client.get("/team", params=AS_OF)
    assert "<h1>Team — whole org</h1>" in page.text


def test_new_hires_ramp_against_the_tenured_reps_bar(
    client: TestClient, session: Session, org: SalesOrg
) -> None:
    tess = make_user(
        session, manager=org.maria, name="Tess", hired_at=datetime(2022, 3, 1, tzinfo=UTC)
    )
    won = make_deal(session, owner=tess, amount_cents=100_000_00, name="Tess Won")
    close_deal_won(session, won, actor=tess, at=datetime(2025, 2, 1, tzinfo=UTC))
    login(client, "maria@topline.example", PASSWORD)

    page = client.get("/team", params=AS_OF).text

    # Tess (tenured) booked 100,000 in the last 90 days: that is the bar. Rita passed it with
    # her 500,000 win on Feb 3, 28 days after her hire; Ray has won nothing.
    assert table_rows(page, "ramp")[1:] == [
        ["Ray", "Jan 6, 2025", "2", "$0", "$0", "not yet"],
        ["Rita", "Jan 6, 2025", "2", "$500,000", "$500,000", "in 28 days"],
    ]
    assert "reach $100,000, the median of the 1 tenured reps" in page
    assert 'id="ramp-chart"' in page
