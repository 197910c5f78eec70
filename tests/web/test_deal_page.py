"""A deal's page: details, the history timeline, activities, and logging a touch."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from typing import cast

from fastapi.testclient import TestClient
from httpx2 import Response
from sqlalchemy import select
from sqlalchemy.orm import Session

from tests.conftest import PASSWORD
from tests.factories import SalesOrg, make_contact, stage_named
from tests.web.helpers import assert_max_queries, csrf_from, login
from topline.audit.models import AuditEntry
from topline.crm.deals import move_deal_to_stage, update_deal
from topline.crm.enums import BuyingRole
from topline.crm.models import Account, Activity, Deal
from topline.crm.schemas import DealUpdate


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


def edit(client: TestClient, deal: Deal, version: int, **fields: str) -> Response:
    token = csrf_from(client.get(f"/deals/{deal.id}").text)
    data = {
        "csrf_token": token, "version": str(version), "name": deal.name,
        "amount": str(deal.amount_cents / 100), "close_date": deal.close_date.isoformat(),
        "forecast_category": deal.forecast_category.value, "next_step": deal.next_step or "",
        **fields,
    }  # fmt: skip
    return cast(Response, client.post(f"/deals/{deal.id}/edit", data=data, follow_redirects=False))


def test_the_owner_edits_the_details_in_place_and_the_change_is_recorded(
    client: TestClient, session: Session, org: SalesOrg
) -> None:
    deal = deal_named(session, "Rita Proposal")
    login(client, "rita@topline.example", PASSWORD)

    saved = edit(client, deal, deal.version, amount="$31,500.50", close_date="2025-05-15",
                 forecast_category="commit", next_step="Send the order form")  # fmt: skip

    assert saved.status_code == 303
    session.refresh(deal)
    assert (deal.amount_cents, str(deal.close_date), deal.forecast_category.value) == (
        31_500_50, "2025-05-15", "commit",
    )  # fmt: skip
    assert deal.next_step == "Send the order form"
    entry = session.scalars(select(AuditEntry)).one()
    assert (entry.action, entry.entity_id) == ("update", deal.id)
    assert set(entry.after or {}) >= {"amount_cents", "close_date", "next_step"}
    page = client.get(saved.headers["location"]).text
    assert "The deal was saved." in page
    assert "Close date pushed: Mar 31, 2025 → May 15, 2025" in page


def test_mistakes_keep_what_was_typed_and_change_nothing(
    client: TestClient, session: Session, org: SalesOrg
) -> None:
    deal = deal_named(session, "Rita Proposal")
    login(client, "rita@topline.example", PASSWORD)

    bad = edit(client, deal, deal.version, name="  ", amount="lots", close_date="31/03/2025",
               forecast_category="closed", next_step="Call back")  # fmt: skip

    assert bad.status_code == 422
    for message in ("Give the deal a name.", "Enter an amount", "YYYY-MM-DD",
                    "Choose pipeline, best case, commit or omitted."):  # fmt: skip
        assert message in bad.text
    assert 'value="lots"' in bad.text and 'value="31/03/2025"' in bad.text
    assert 'value="Call back"' in bad.text
    session.refresh(deal)
    assert (deal.amount_cents, deal.next_step) == (25_000_00, None)
    assert session.scalars(select(AuditEntry)).all() == []


def test_a_stale_edit_shows_the_other_change_keeps_the_typed_one_and_saves_on_top(
    client: TestClient, session: Session, org: SalesOrg
) -> None:
    deal = deal_named(session, "Rita Proposal")
    read_version = deal.version
    update_deal(session, deal, changes=DealUpdate(amount_cents=27_000_00), actor=org.maria)
    login(client, "rita@topline.example", PASSWORD)

    stale = edit(client, deal, read_version, amount="25000", next_step="Demo on Friday")

    assert stale.status_code == 409
    assert 'data-testid="edit-conflict"' in stale.text
    assert "<li>Amount: $27000</li>" in stale.text
    assert 'value="Demo on Friday"' in stale.text
    session.refresh(deal)
    assert deal.next_step is None
    again = client.post(
        f"/deals/{deal.id}/edit",
        data={
            "csrf_token": csrf_from(stale.text), "version": str(deal.version),
            "name": deal.name, "amount": "25000", "close_date": "2025-03-31",
            "forecast_category": "pipeline", "next_step": "Demo on Friday",
        },
        follow_redirects=False,
    )  # fmt: skip
    assert again.status_code == 303
    session.refresh(deal)
    assert (deal.amount_cents, deal.next_step) == (25_000_00, "Demo on Friday")


def test_closed_and_unreachable_deals_cannot_be_edited(
    client: TestClient, session: Session, org: SalesOrg
) -> None:
    won = deal_named(session, "Rita Won")
    peers = deal_named(session, "Ray Proposal")
    login(client, "rita@topline.example", PASSWORD)

    assert 'action="/deals/' + str(won.id) + '/edit"' not in client.get(f"/deals/{won.id}").text
    token = csrf_from(client.get(f"/deals/{won.id}").text)
    foreign = client.post(
        f"/deals/{peers.id}/edit",
        data={"csrf_token": token, "version": "1", "name": "Mine now", "amount": "1",
              "close_date": "2025-03-31", "forecast_category": "pipeline"},
    )  # fmt: skip
    assert foreign.status_code == 404
    session.refresh(peers)
    assert peers.name == "Ray Proposal"


def test_the_buying_committee_lists_the_accounts_people_main_contact_first(
    client: TestClient, session: Session, org: SalesOrg
) -> None:
    deal = deal_named(session, "Rita Proposal")
    account = session.get(Account, deal.account_id)
    make_contact(session, account=account, first_name="Uma", last_name="User",
                 buying_role=BuyingRole.USER)  # fmt: skip
    main = make_contact(session, account=account, first_name="Cara", last_name="Champ",
                        buying_role=BuyingRole.CHAMPION, title="VP Sales")  # fmt: skip
    make_contact(session, account=account, first_name="Dan", last_name="Decides",
                 buying_role=BuyingRole.DECISION_MAKER)  # fmt: skip
    deal.contact_id = main.id
    session.flush()
    login(client, "rita@topline.example", PASSWORD)

    page = client.get(f"/deals/{deal.id}").text
    committee = re.sub(r"<[^>]+>", "", page[page.index('id="committee"') :].split("</ul>")[0])

    lines = [" ".join(line.split()) for line in committee.splitlines() if line.strip()]
    assert lines[1:] == [
        "Cara Champ, VP Sales — champion main contact",
        "Dan Decides — decision maker",
        "Uma User — user",
    ]
    assert f'href="/contacts/{main.id}"' in page
