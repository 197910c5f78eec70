"""The lead queue: the viewer's open leads and the steps a lead takes, refused steps changing
nothing."""

from __future__ import annotations

from typing import cast

from fastapi.testclient import TestClient
from httpx2 import Response
from sqlalchemy import select
from sqlalchemy.orm import Session

from tests.conftest import PASSWORD
from tests.factories import SalesOrg, make_lead
from tests.web.helpers import csrf_from, login, table_rows
from topline.audit.models import AuditEntry
from topline.crm.enums import LeadStatus
from topline.crm.models import Deal, Lead


def step(client: TestClient, lead: Lead, action: str, **fields: str) -> Response:
    token = csrf_from(client.get("/leads").text)
    data = {"csrf_token": token, "action": action, "version": str(lead.version), **fields}
    return cast(Response, client.post(f"/leads/{lead.id}", data=data, follow_redirects=False))


def test_the_queue_shows_the_viewers_open_leads(
    client: TestClient, session: Session, org: SalesOrg
) -> None:
    mine = make_lead(session, owner=org.rita, first_name="Nora", last_name="Nilsen")
    make_lead(session, owner=org.olga, first_name="Otto", last_name="Outside")
    login(client, "maria@topline.example", PASSWORD)

    rows = table_rows(client.get("/leads").text, "leads")

    assert [row[0] for row in rows[1:]] == [f"{mine.first_name} {mine.last_name}"]
    assert rows[1][3] == "New"


def test_a_lead_is_worked_qualified_and_converted(
    client: TestClient, session: Session, org: SalesOrg
) -> None:
    lead = make_lead(session, owner=org.rita)
    login(client, "rita@topline.example", PASSWORD)

    assert step(client, lead, "work").status_code == 303
    session.refresh(lead)
    assert lead.status == LeadStatus.WORKING
    done = step(client, lead, "sql", budget="true", authority="true", need="true")
    assert done.status_code == 303
    session.refresh(lead)
    assert (lead.status, lead.bant_count) == (LeadStatus.SQL, 3)
    converted = step(client, lead, "convert", amount="12,500", close_date="2025-06-30")
    assert converted.status_code == 303
    session.refresh(lead)
    deal = session.get(Deal, lead.converted_deal_id)
    assert deal is not None
    logged = session.execute(
        select(AuditEntry.action, AuditEntry.entity_type).order_by(AuditEntry.id)
    ).all()
    assert [tuple(row) for row in logged] == [
        ("work", "lead"), ("qualify", "lead"), ("create", "account"), ("create", "contact"),
        ("create", "deal"), ("convert", "lead"),
    ]  # fmt: skip
    assert (deal.amount_cents, str(deal.close_date), deal.owner_id) == (
        1_250_000,
        "2025-06-30",
        org.rita.id,
    )


def test_refused_steps_say_why_and_change_nothing(
    client: TestClient, session: Session, org: SalesOrg
) -> None:
    lead = make_lead(session, owner=org.rita)
    login(client, "rita@topline.example", PASSWORD)

    too_little = step(client, lead, "sql", budget="true")
    no_reason = step(client, lead, "disqualify", reason="  ")
    bad_amount = step(client, lead, "convert", amount="lots")
    stale = client.post(
        f"/leads/{lead.id}",
        data={"csrf_token": csrf_from(client.get("/leads").text), "action": "work",
              "version": str(lead.version + 5)},
    )  # fmt: skip

    assert too_little.status_code == 409
    assert "at least 3 of 4 BANT" in too_little.text
    assert no_reason.status_code == 422
    assert "needs a reason" in no_reason.text
    assert bad_amount.status_code == 422
    assert stale.status_code == 409
    session.refresh(lead)
    assert (lead.status, lead.bant_budget, lead.converted_deal_id) == (LeadStatus.NEW, False, None)
    assert session.scalars(select(Deal).where(Deal.name.like("%new business"))).all() == []
    assert session.scalars(select(AuditEntry)).all() == []
