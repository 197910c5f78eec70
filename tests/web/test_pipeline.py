"""The pipeline page: totals by stage scoped to what the viewer may see."""

from __future__ import annotations

from datetime import date
from typing import Any

from fastapi.testclient import TestClient
from sqlalchemy import select
from sqlalchemy.orm import Session

from tests.conftest import PASSWORD
from tests.factories import SalesOrg, make_deal, make_pipeline, stage_named
from tests.web.helpers import assert_max_queries, csrf_from, login, table_rows
from topline.audit.models import AuditEntry
from topline.crm.deals import update_deal
from topline.crm.models import Deal
from topline.crm.schemas import DealUpdate

STAGE_HEADER = ["Stage", "Probability", "Deals", "Amount", "Weighted", "Share of amount"]


def stage_table(html: str) -> list[list[str]]:
    return table_rows(html, "stage-totals")


def deal_names(html: str) -> list[str]:
    if 'id="largest-deals"' not in html:
        return []
    return [row[0] for row in table_rows(html, "largest-deals")[1:]]


def test_signed_out_visitor_is_sent_to_login(client: TestClient) -> None:
    response = client.get("/pipeline", follow_redirects=False)

    assert response.status_code == 303
    assert response.headers["location"] == "/login?next=%2Fpipeline"


def test_rep_sees_only_their_own_open_deals(client: TestClient, org: SalesOrg) -> None:
    login(client, "rita@topline.example", PASSWORD)

    response = client.get("/pipeline")

    assert response.status_code == 200
    assert "<h1>Your pipeline</h1>" in response.text
    assert stage_table(response.text) == [
        STAGE_HEADER,
        ["Prospecting", "10%", "1", "$10,000", "$1,000", "29%"],
        ["Qualification", "20%", "0", "$0", "$0", "0%"],
        ["Discovery", "40%", "0", "$0", "$0", "0%"],
        ["Proposal", "60%", "1", "$25,000", "$15,000", "71%"],
        ["Negotiation", "80%", "0", "$0", "$0", "0%"],
        ["Total", "", "2", "$35,000", "$16,000", ""],
    ]
    assert deal_names(response.text) == ["Rita Proposal", "Rita Prospect"]
    assert "Ray Proposal" not in response.text
    assert "Rita Won" not in response.text


def test_manager_sees_the_whole_team(client: TestClient, org: SalesOrg) -> None:
    login(client, "maria@topline.example", PASSWORD)

    response = client.get("/pipeline")

    assert "<h1>Team pipeline — Maria</h1>" in response.text
    rows = stage_table(response.text)
    assert rows[1:] == [
        ["Prospecting", "10%", "1", "$10,000", "$1,000", "11%"],
        ["Qualification", "20%", "0", "$0", "$0", "0%"],
        ["Discovery", "40%", "0", "$0", "$0", "0%"],
        ["Proposal", "60%", "2", "$65,000", "$39,000", "72%"],
        ["Negotiation", "80%", "1", "$15,000", "$12,000", "17%"],
        ["Total", "", "4", "$90,000", "$52,000", ""],
    ]
    assert deal_names(response.text) == [
        "Ray Proposal",
        "Rita Proposal",
        "Ray Negotiation",
        "Rita Prospect",
    ]
    assert "Olga Discovery" not in response.text
    assert 'data-testid="total-weighted">$52,000<' in response.text


def test_admin_sees_everything(client: TestClient, org: SalesOrg) -> None:
    login(client, "ada@topline.example", PASSWORD)

    response = client.get("/pipeline")

    assert "<h1>All pipeline</h1>" in response.text
    assert stage_table(response.text)[-1] == ["Total", "", "5", "$190,000", "$92,000", ""]
    assert deal_names(response.text)[0] == "Olga Discovery"


def test_largest_deals_lists_account_owner_stage_amount_and_close_date(
    client: TestClient, org: SalesOrg
) -> None:
    login(client, "maria@topline.example", PASSWORD)

    rows = table_rows(client.get("/pipeline").text, "largest-deals")

    assert rows[0] == ["Deal", "Account", "Owner", "Stage", "Amount", "Close date"]
    assert rows[1] == [
        "Ray Proposal",
        "Ray Proposal Inc",
        "Ray",
        "Proposal",
        "$40,000",
        "Mar 31, 2025 Past due",
    ]


def test_largest_deals_stops_at_ten(client: TestClient, org: SalesOrg, session: Session) -> None:
    stage = stage_named(session, org.pipeline, "Discovery")
    for n in range(12):
        make_deal(session, owner=org.rita, stage=stage, amount_cents=(n + 1) * 100, name=f"D{n}")
    login(client, "rita@topline.example", PASSWORD)

    names = deal_names(client.get("/pipeline").text)

    assert len(names) == 10
    assert names[:2] == ["Rita Proposal", "Rita Prospect"]


def test_deals_of_other_pipelines_are_left_out(
    client: TestClient, org: SalesOrg, session: Session
) -> None:
    renewals = make_pipeline(session, name="Renewals")
    renewals.is_default = False
    make_deal(
        session,
        owner=org.rita,
        stage=stage_named(session, renewals, "Proposal"),
        amount_cents=777_00,
        name="Renewal deal",
    )
    session.flush()
    login(client, "rita@topline.example", PASSWORD)

    response = client.get("/pipeline")

    assert "Renewal deal" not in response.text
    assert stage_table(response.text)[-1][3] == "$35,000"


def test_deal_names_are_escaped(client: TestClient, org: SalesOrg, session: Session) -> None:
    make_deal(
        session,
        owner=org.rita,
        stage=stage_named(session, org.pipeline, "Proposal"),
        amount_cents=1_000_000_00,
        name="<script>alert(1)</script>",
    )
    login(client, "rita@topline.example", PASSWORD)

    text = client.get("/pipeline").text

    assert "<script>alert(1)</script>" not in text
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in text


def test_user_names_are_escaped(client: TestClient, org: SalesOrg, session: Session) -> None:
    org.rita.name = '"><img src=x onerror=alert(1)>'
    session.flush()
    login(client, "rita@topline.example", PASSWORD)

    text = client.get("/pipeline").text

    assert "<img src=x" not in text
    assert "&#34;&gt;&lt;img src=x onerror=alert(1)&gt;" in text


def test_nav_shows_the_user_and_a_logout_form(client: TestClient, org: SalesOrg) -> None:
    login(client, "maria@topline.example", PASSWORD)

    text = client.get("/pipeline").text

    assert 'href="/settings/tokens" title="Your API tokens">Maria</a>' in text
    assert ">Manager</span>" in text
    assert '<form method="post" action="/logout"' in text
    assert 'aria-current="page">Pipeline</a>' in text
    assert '<script src="/static/vendor/htmx.min.js" defer></script>' in text


def test_page_without_any_pipeline_explains_what_is_missing(
    client: TestClient, session: Session, password_hash: str
) -> None:
    from tests.factories import make_user

    make_user(session, email="solo@topline.example", password_hash=password_hash)
    login(client, "solo@topline.example", PASSWORD)

    response = client.get("/pipeline")

    assert response.status_code == 200
    assert "No sales pipeline yet" in response.text


def test_pipeline_page_query_count_is_bounded(
    client: TestClient, org: SalesOrg, session: Session
) -> None:
    login(client, "maria@topline.example", PASSWORD)
    session.expunge_all()

    # user, reporting subtree, the people to filter by, pipelines, fiscal year start, default
    # pipeline, stage totals, board cards, largest deals
    with assert_max_queries(session, 9):
        response = client.get("/pipeline")

    assert response.status_code == 200


# --- the board ----------------------------------------------------------------------------


def _board_move(client: TestClient, deal: Deal, stage_id: int, version: int, **headers: str) -> Any:
    token = csrf_from(client.get("/pipeline").text)
    data = {"csrf_token": token, "deal_id": deal.id, "version": version, "stage_id": stage_id}
    return client.post("/pipeline/move", data=data, headers=headers, follow_redirects=False)


def test_the_board_moves_a_deal_and_records_it(
    client: TestClient, session: Session, org: SalesOrg
) -> None:
    deal = session.scalars(select(Deal).where(Deal.name == "Rita Prospect")).one()
    proposal = stage_named(session, org.pipeline, "Proposal")
    login(client, "rita@topline.example", PASSWORD)
    board = client.get("/pipeline").text
    assert f'data-deal-id="{deal.id}"' in board

    done = _board_move(client, deal, proposal.id, deal.version)

    assert done.status_code == 303
    session.refresh(deal)
    assert deal.stage_id == proposal.id
    entry = session.scalars(select(AuditEntry)).one()
    assert (entry.action, entry.entity_id, entry.actor_id) == ("move", deal.id, org.rita.id)
    assert "The deal moved." in client.get(done.headers["location"]).text


def test_a_stale_card_is_not_moved_and_says_why(
    client: TestClient, session: Session, org: SalesOrg
) -> None:
    deal = session.scalars(select(Deal).where(Deal.name == "Rita Prospect")).one()
    seen = deal.version
    update_deal(session, deal, changes=DealUpdate(next_step="Call back"), actor=org.maria)
    negotiation = stage_named(session, org.pipeline, "Negotiation")
    login(client, "rita@topline.example", PASSWORD)

    as_page = _board_move(client, deal, negotiation.id, seen)
    as_json = _board_move(client, deal, negotiation.id, seen, accept="application/json")

    assert as_page.status_code == 409
    assert "Not moved:" in as_page.text
    assert as_json.status_code == 409
    assert "error" in as_json.json()
    session.refresh(deal)
    assert deal.stage_id != negotiation.id


def test_a_rep_cannot_move_a_peers_deal_from_the_board(
    client: TestClient, session: Session, org: SalesOrg
) -> None:
    deal = session.scalars(select(Deal).where(Deal.name == "Ray Proposal")).one()
    login(client, "rita@topline.example", PASSWORD)

    response = _board_move(
        client, deal, stage_named(session, org.pipeline, "Negotiation").id, deal.version,
        accept="application/json",
    )  # fmt: skip

    assert response.status_code == 404


def test_the_board_narrows_to_a_person_a_team_and_a_close_window(
    client: TestClient, session: Session, org: SalesOrg
) -> None:
    make_deal(
        session, owner=org.ray, stage=stage_named(session, org.pipeline, "Discovery"),
        amount_cents=7_000_00, name="Ray Later", close_date=date(2025, 9, 30),
    )  # fmt: skip
    login(client, "ada@topline.example", PASSWORD)

    ray = client.get("/pipeline", params={"owner_id": org.ray.id})
    team = client.get("/pipeline", params={"team_of": org.otto.id})
    q3 = client.get("/pipeline", params={"close_from": "2025-07-01", "close_to": "2025-09-30"})

    assert deal_names(ray.text) == ["Ray Proposal", "Ray Negotiation", "Ray Later"]
    assert stage_table(ray.text)[-1] == ["Total", "", "3", "$62,000", "$38,800", ""]
    assert deal_names(team.text) == ["Olga Discovery"]
    assert deal_names(q3.text) == ["Ray Later"]
    assert stage_table(q3.text)[3][:4] == ["Discovery", "40%", "1", "$7,000"]


def test_a_rep_cannot_narrow_the_board_to_someone_else(client: TestClient, org: SalesOrg) -> None:
    login(client, "rita@topline.example", PASSWORD)

    assert client.get("/pipeline", params={"owner_id": org.ray.id}).status_code == 404
    assert client.get("/pipeline", params={"team_of": org.maria.id}).status_code == 404
    both = client.get("/pipeline", params={"owner_id": org.rita.id, "team_of": org.rita.id})
    assert both.status_code == 422


def test_a_move_keeps_the_boards_filters(
    client: TestClient, session: Session, org: SalesOrg
) -> None:
    deal = session.scalars(select(Deal).where(Deal.name == "Ray Proposal")).one()
    negotiation = stage_named(session, org.pipeline, "Negotiation")
    login(client, "maria@topline.example", PASSWORD)
    board = client.get("/pipeline", params={"owner_id": org.ray.id}).text
    back = f"owner_id={org.ray.id}"
    assert f'name="back" value="{back}"' in board

    done = client.post(
        "/pipeline/move",
        data={
            "csrf_token": csrf_from(board), "deal_id": deal.id, "version": deal.version,
            "stage_id": negotiation.id, "back": back + "&evil=https://elsewhere.example",
        },
        follow_redirects=False,
    )  # fmt: skip

    assert done.status_code == 303
    assert done.headers["location"] == f"/pipeline?owner_id={org.ray.id}&moved=1"
