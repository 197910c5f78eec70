"""A deal's page: details, the history timeline, activities, and logging a touch."""

from __future__ import annotations

from datetime import UTC, datetime

from fastapi.testclient import TestClient
from sqlalchemy import select
from sqlalchemy.orm import Session

from tests.conftest import PASSWORD
from tests.factories import SalesOrg, stage_named
from tests.web.helpers import assert_max_queries, csrf_from, login
from topline.audit.models import AuditEntry
from topline.crm.deals import move_deal_to_stage
from topline.crm.models import Activity, Deal


def deal_named(session: Session, name: str) -> Deal:
    return session.scalars(select(Deal).where(Deal.name == name)).one()


def test_a_manager_reads_a_team_deal_with_its_timeline(
    client: TestClient, session: Session, org: SalesOrg
) -> None:
    deal = deal_named(session, "Ray Proposal")
    move_deal_to_stage(
        session, deal, stage=stage_named(session, org.pipeline, "Negotiation"), actor=org.maria,
        at=datetime(2025, 2, 10, tzinfo=UTC),
    )  # fmt: skip
    login(client, "maria@topline.example", PASSWORD)

    page = client.get(f"/deals/{deal.id}")

    assert page.status_code == 200
    assert "<h1>Ray Proposal</h1>" in page.text
    assert 'data-testid="amount">$40,000<' in page.text
    history = page.text[page.text.index('id="history"') :]
    assert history.index("Stage Proposal → Negotiation") < history.index("Created in Proposal")
    assert "by Maria" in history
    assert "Nothing logged on this deal yet." in page.text
    assert "Not scored yet" in page.text
    # Created on 2025-01-06 without a next step: a warning sign today.
    assert "No next step" in page.text[page.text.index('data-testid="flags"') :]


def test_a_deal_outside_the_viewers_reach_is_404(
    client: TestClient, session: Session, org: SalesOrg
) -> None:
    login(client, "rita@topline.example", PASSWORD)

    assert client.get(f"/deals/{deal_named(session, 'Ray Proposal').id}").status_code == 404
    assert client.get("/deals/999999999").status_code == 404


def test_a_rep_logs_a_call_and_a_mistake_keeps_what_was_typed(
    client: TestClient, session: Session, org: SalesOrg
) -> None:
    deal = deal_named(session, "Rita Proposal")
    login(client, "rita@topline.example", PASSWORD)
    token = csrf_from(client.get(f"/deals/{deal.id}").text)

    bad = client.post(
        f"/deals/{deal.id}/activities",
        data={"csrf_token": token, "type": "call", "subject": "  ", "outcome": "Voicemail"},
    )
    assert bad.status_code == 422
    assert "Say in a few words what happened." in bad.text
    assert 'value="Voicemail"' in bad.text
    assert session.scalars(select(Activity)).all() == []

    done = client.post(
        f"/deals/{deal.id}/activities",
        data={"csrf_token": token, "type": "call", "subject": "Pricing call",
              "outcome": "Connected", "body": "Asked for a discount"},
        follow_redirects=False,
    )  # fmt: skip
    assert done.status_code == 303
    activity = session.scalars(select(Activity)).one()
    assert (activity.deal_id, activity.user_id, activity.type.value) == (
        deal.id,
        org.rita.id,
        "call",
    )
    assert (activity.subject, activity.outcome, activity.body) == (
        "Pricing call",
        "Connected",
        "Asked for a discount",
    )
    entry = session.scalars(select(AuditEntry)).one()
    assert (entry.action, entry.entity_type, entry.entity_id, entry.actor_id) == (
        "create",
        "activity",
        activity.id,
        org.rita.id,
    )
    page = client.get(done.headers["location"])
    assert "Logged on the deal." in page.text
    assert "Pricing call" in page.text[page.text.index('id="activities"') :]


def test_logging_needs_the_csrf_token_and_a_known_kind(
    client: TestClient, session: Session, org: SalesOrg
) -> None:
    deal = deal_named(session, "Rita Proposal")
    login(client, "rita@topline.example", PASSWORD)
    token = csrf_from(client.get(f"/deals/{deal.id}").text)

    no_token = client.post(f"/deals/{deal.id}/activities", data={"subject": "x"})
    odd_kind = client.post(
        f"/deals/{deal.id}/activities", data={"csrf_token": token, "type": "fax", "subject": "x"}
    )

    assert no_token.status_code == 403
    assert odd_kind.status_code == 422
    assert "Choose a call, email, meeting or note." in odd_kind.text


def test_the_deal_page_reads_a_bounded_number_of_queries(
    client: TestClient, session: Session, org: SalesOrg
) -> None:
    deal = deal_named(session, "Rita Proposal")
    login(client, "maria@topline.example", PASSWORD)
    client.get(f"/deals/{deal.id}")
    with assert_max_queries(session, 20):
        assert client.get(f"/deals/{deal.id}").status_code == 200
