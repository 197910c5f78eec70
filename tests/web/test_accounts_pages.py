"""Accounts: the list in the viewer's scope with their pipeline, and an account's page."""

from __future__ import annotations

from fastapi.testclient import TestClient
from sqlalchemy import select
from sqlalchemy.orm import Session

from tests.conftest import PASSWORD
from tests.factories import SalesOrg, make_contact
from tests.web.helpers import assert_max_queries, login, table_rows
from topline.crm.enums import BuyingRole
from topline.crm.models import Account


def test_the_list_shows_the_viewers_accounts_with_their_pipeline(
    client: TestClient, org: SalesOrg
) -> None:
    login(client, "rita@topline.example", PASSWORD)

    rows = table_rows(client.get("/accounts").text, "accounts")
    found = table_rows(client.get("/accounts", params={"q": "prosp"}).text, "accounts")

    assert [row[0] for row in rows[1:]] == ["Rita Proposal Inc", "Rita Prospect Inc"]
    assert rows[1][4:] == ["$25,000", "$0"]
    assert [row[0] for row in found[1:]] == ["Rita Prospect Inc"]
    assert "Olga" not in client.get("/accounts").text


def test_an_account_page_shows_its_committee_and_deals(
    client: TestClient, session: Session, org: SalesOrg
) -> None:
    account = session.scalars(select(Account).where(Account.name == "Rita Proposal Inc")).one()
    make_contact(
        session, account=account, first_name="Dana", last_name="Decider",
        buying_role=BuyingRole.DECISION_MAKER,
    )  # fmt: skip
    login(client, "maria@topline.example", PASSWORD)

    with assert_max_queries(session, 25):
        page = client.get(f"/accounts/{account.id}")

    assert page.status_code == 200
    assert "<h1>Rita Proposal Inc</h1>" in page.text
    assert "Dana Decider" in page.text and "decision maker" in page.text
    assert "No champion known" in page.text
    assert table_rows(page.text, "account-deals")[1][:3] == ["Rita Proposal", "Proposal", "$25,000"]


def test_an_account_outside_the_viewers_reach_is_404(
    client: TestClient, session: Session, org: SalesOrg
) -> None:
    olga = session.scalars(select(Account).where(Account.name == "Olga Discovery Inc")).one()
    login(client, "rita@topline.example", PASSWORD)

    assert client.get(f"/accounts/{olga.id}").status_code == 404
