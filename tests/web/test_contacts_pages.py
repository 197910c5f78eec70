"""Contacts: the list in the viewer's scope with search and filters, and a contact's page."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from html import unescape

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select
from sqlalchemy.orm import Session

from tests.conftest import PASSWORD
from tests.factories import SalesOrg, make_account, make_contact, make_deal, make_user, stage_named
from tests.web.helpers import QueryLog, assert_max_queries, login, table_rows
from topline.auth.enums import Role
from topline.crm.activities import log_activity
from topline.crm.enums import ActivityType, BuyingRole
from topline.crm.models import Account, Contact, Deal

T1 = datetime(2025, 2, 3, 9, 0, tzinfo=UTC)


def account_named(session: Session, name: str) -> Account:
    return session.scalars(select(Account).where(Account.name == name)).one()


def deal_named(session: Session, name: str) -> Deal:
    return session.scalars(select(Deal).where(Deal.name == name)).one()


@pytest.fixture
def people(session: Session, org: SalesOrg) -> dict[str, Contact]:
    """One contact at an account of Rita's, one of Ray's and one of Olga's."""
    return {
        "dana": make_contact(
            session, account=account_named(session, "Rita Proposal Inc"), first_name="Dana",
            last_name="Decider", email="dana@ritaproposal.example", title="CFO",
            phone="+1 555 0100", buying_role=BuyingRole.DECISION_MAKER,
        ),
        "chad": make_contact(
            session, account=account_named(session, "Ray Proposal Inc"), first_name="Chad",
            last_name="Champion", email="chad@rayproposal.example",
            buying_role=BuyingRole.CHAMPION,
        ),
        "oscar": make_contact(
            session, account=account_named(session, "Olga Discovery Inc"), first_name="Oscar",
            last_name="Outsider", email="oscar@olgadiscovery.example",
            buying_role=BuyingRole.CHAMPION,
        ),
    }  # fmt: skip


def names(html: str) -> list[str]:
    """The contact names the list shows, in order (none when it shows the empty state)."""
    if 'id="contacts"' not in html:
        return []
    return [row[0] for row in table_rows(html, "contacts")[1:]]


def test_a_rep_sees_only_the_contacts_at_their_accounts(
    client: TestClient, people: dict[str, Contact]
) -> None:
    login(client, "rita@topline.example", PASSWORD)

    page = client.get("/contacts")
    searched = client.get("/contacts", params={"q": "oscar"})
    by_account = client.get("/contacts", params={"account": "olga"})

    assert page.status_code == 200
    assert names(page.text) == ["Dana Decider"]
    assert table_rows(page.text, "contacts")[1][1:7] == [
        "CFO", "decision maker", "Rita Proposal Inc", "dana@ritaproposal.example", "+1 555 0100",
        "Rita",
    ]  # fmt: skip
    assert 'aria-current="page">Contacts<' in page.text
    assert "Oscar" not in searched.text and "No contact matches" in searched.text
    assert "Oscar" not in by_account.text and "Olga" not in by_account.text


def test_a_manager_sees_the_contacts_of_their_team_and_an_admin_everyone(
    client: TestClient, people: dict[str, Contact]
) -> None:
    login(client, "maria@topline.example", PASSWORD)
    team = names(client.get("/contacts").text)
    login(client, "ada@topline.example", PASSWORD)
    everyone = names(client.get("/contacts").text)

    assert team == ["Chad Champion", "Dana Decider"]
    assert everyone == ["Chad Champion", "Dana Decider", "Oscar Outsider"]


def test_search_role_and_account_filters_narrow_the_list(
    client: TestClient, people: dict[str, Contact]
) -> None:
    login(client, "ada@topline.example", PASSWORD)
    dana = people["dana"]

    def shown(**params: str | int) -> list[str]:
        return names(client.get("/contacts", params=params).text)

    assert shown(q="dana dec") == ["Dana Decider"]
    assert shown(q="RAYPROPOSAL.example") == ["Chad Champion"]
    assert shown(q="%") == []
    assert shown(role="champion") == ["Chad Champion", "Oscar Outsider"]
    assert shown(role="champion", account="olga") == ["Oscar Outsider"]
    assert shown(account_id=dana.account_id) == ["Dana Decider"]
    narrowed = client.get("/contacts", params={"account_id": dana.account_id})
    assert 'Only the contacts at <a href="/accounts/' in narrowed.text
    assert shown(q="", role="", account="") == ["Chad Champion", "Dana Decider", "Oscar Outsider"]
    assert client.get("/contacts", params={"role": "boss"}).status_code == 422


def test_a_foreign_account_filter_names_nothing(
    client: TestClient, session: Session, people: dict[str, Contact]
) -> None:
    login(client, "rita@topline.example", PASSWORD)

    page = client.get("/contacts", params={"account_id": people["oscar"].account_id})

    assert "No contact matches" in page.text
    assert "Olga Discovery" not in page.text


def test_an_empty_list_says_what_to_do(client: TestClient, session: Session, org: SalesOrg) -> None:
    login(client, "rita@topline.example", PASSWORD)

    page = client.get("/contacts")

    assert page.status_code == 200
    assert "No contact yet" in page.text
    assert "convert a lead" in page.text and "POST /api/v1/contacts" in page.text


def test_a_contact_page_shows_the_account_deals_and_activities(
    client: TestClient, session: Session, org: SalesOrg, people: dict[str, Contact]
) -> None:
    dana = people["dana"]
    account = account_named(session, "Rita Proposal Inc")
    main = make_deal(
        session, owner=org.rita, account=account, contact=dana, name="Rita Expansion",
        stage=stage_named(session, org.pipeline, "Proposal"), amount_cents=7_000_00,
    )  # fmt: skip
    make_deal(session, owner=org.olga, account=account, name="Olga Sidecar")
    for n, kind in enumerate((ActivityType.CALL, ActivityType.EMAIL, ActivityType.MEETING)):
        log_activity(
            session, user=org.rita, type=kind, subject=f"Touch {n}", contact=dana, deal=main,
            occurred_at=T1 + timedelta(days=n), at=T1 + timedelta(days=n),
        )  # fmt: skip
    log_activity(
        session, user=org.olga, type=ActivityType.NOTE, subject="Olga's private note",
        contact=dana, account=account, occurred_at=T1, at=T1,
    )  # fmt: skip
    login(client, "rita@topline.example", PASSWORD)

    page = client.get(f"/contacts/{dana.id}")

    assert page.status_code == 200
    assert "<h1>Dana Decider</h1>" in page.text
    assert f'<a href="/accounts/{account.id}">Rita Proposal Inc</a>' in page.text
    assert "Decision maker" in page.text
    deals = table_rows(page.text, "contact-deals")[1:]
    assert [row[0] for row in deals] == ["Rita Expansion", "Rita Proposal"]
    assert deals[0][4] == "main contact"
    assert "Olga Sidecar" not in page.text
    timeline = page.text[page.text.index('id="contact-activities"') :]
    assert timeline.index("Touch 2") < timeline.index("Touch 1") < timeline.index("Touch 0")
    assert f'on <a href="/deals/{main.id}">Rita Expansion</a>' in timeline
    assert "Olga&#39;s private note" not in page.text and "private note" not in page.text
    listed = table_rows(client.get("/contacts").text, "contacts")
    assert listed[1][7] == "Feb 5, 2025"


def test_a_contact_page_without_deals_or_activities_says_so(
    client: TestClient, session: Session, org: SalesOrg
) -> None:
    account = make_account(session, owner=org.rita, name="Rita Quiet Inc")
    contact = make_contact(session, account=account, first_name="Nora", last_name="New")
    login(client, "maria@topline.example", PASSWORD)

    page = client.get(f"/contacts/{contact.id}")

    assert page.status_code == 200
    assert "Not known yet" in page.text
    assert "Nothing you may see is logged with this contact yet" in page.text


def test_a_contact_outside_the_viewers_reach_is_404(
    client: TestClient, people: dict[str, Contact]
) -> None:
    login(client, "rita@topline.example", PASSWORD)

    assert client.get(f"/contacts/{people['oscar'].id}").status_code == 404
    assert client.get(f"/contacts/{people['chad'].id}").status_code == 404
    assert client.get("/contacts/999999999").status_code == 404
    assert client.get(f"/contacts/{people['dana'].id}").status_code == 200


def test_the_account_page_links_its_committee_to_their_pages(
    client: TestClient, people: dict[str, Contact]
) -> None:
    dana = people["dana"]
    login(client, "rita@topline.example", PASSWORD)

    page = client.get(f"/accounts/{dana.account_id}")

    assert f'<a href="/contacts/{dana.id}">Dana Decider</a>' in page.text
    assert f'href="/contacts?account_id={dana.account_id}"' in page.text


def test_stored_text_is_escaped(client: TestClient, session: Session, org: SalesOrg) -> None:
    contact = make_contact(
        session, account=account_named(session, "Rita Proposal Inc"),
        first_name="<script>alert(1)</script>", last_name="<b>Bold</b>",
        title='"><img src=x onerror=alert(2)>', phone="<i>555</i>",
    )  # fmt: skip
    log_activity(
        session, user=org.rita, type=ActivityType.NOTE, subject="<script>alert(3)</script>",
        contact=contact, occurred_at=T1, at=T1,
    )  # fmt: skip
    login(client, "rita@topline.example", PASSWORD)

    for page in (client.get("/contacts"), client.get(f"/contacts/{contact.id}")):
        assert page.status_code == 200
        assert "<script>alert" not in page.text
        assert "<img src=x" not in page.text and "<b>Bold" not in page.text
        assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page.text


class TestQueryCount:
    """Neither page runs a query per contact, deal or activity."""

    def populate(self, session: Session, org: SalesOrg, how_many: int) -> Contact:
        account = account_named(session, "Rita Proposal Inc")
        first = None
        for n in range(how_many):
            contact = make_contact(
                session, account=account, first_name="Many", last_name=f"Person{n:03}",
                buying_role=BuyingRole.INFLUENCER,
            )  # fmt: skip
            first = first or contact
            log_activity(
                session, user=org.rita, type=ActivityType.CALL, subject=f"Call {n}",
                contact=contact, occurred_at=T1, at=T1,
            )  # fmt: skip
        assert first is not None
        for n in range(how_many):
            make_deal(session, owner=org.rita, account=account, contact=first, name=f"More {n}")
            log_activity(
                session, user=org.rita, type=ActivityType.EMAIL, subject=f"Email {n}",
                contact=first, occurred_at=T1 + timedelta(minutes=n), at=T1,
            )  # fmt: skip
        return first

    def count(self, client: TestClient, session: Session, path: str) -> QueryLog:
        with assert_max_queries(session, 8) as log:
            page = client.get(path)
        assert page.status_code == 200
        return log

    def test_the_list_and_a_contact_page_run_a_fixed_number_of_queries(
        self, client: TestClient, session: Session, org: SalesOrg
    ) -> None:
        few = self.populate(session, org, 1)
        login(client, "rita@topline.example", PASSWORD)
        list_few = self.count(client, session, "/contacts").count
        page_few = self.count(client, session, f"/contacts/{few.id}").count

        many = self.populate(session, org, 150)
        first_page = client.get("/contacts")
        next_link = first_page.text.split('rel="next"')[0].rsplit('href="', 1)[1].split('"')[0]
        list_many = self.count(client, session, "/contacts").count
        page_many = self.count(client, session, f"/contacts/{many.id}").count
        second = client.get(unescape(next_link))

        assert list_many == list_few
        assert page_many == page_few
        assert len(names(first_page.text)) == 100
        assert len(names(second.text)) == 51
        assert 'data-testid="contact-count">151<' in first_page.text
        assert "The latest 50 are shown." in client.get(f"/contacts/{many.id}").text


def test_a_rep_with_no_accounts_has_an_empty_list(
    client: TestClient, session: Session, password_hash: str, people: dict[str, Contact]
) -> None:
    make_user(
        session, role=Role.REP, email="newbie@topline.example", name="Newbie",
        password_hash=password_hash,
    )  # fmt: skip
    login(client, "newbie@topline.example", PASSWORD)

    assert "No contact yet" in client.get("/contacts").text
