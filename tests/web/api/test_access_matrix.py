"""The access rule, table-driven: each role × each resource × own / team / foreign record.

Team Maria: reps Rita and Ray. Team Otto: rep Olga. Each rep owns one deal, account, contact,
lead and activity. Reading or changing a record outside the viewer's scope answers as if it did
not exist (404); creating something linked to it is refused as a missing reference (409), naming
the field that points outside.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime

import pytest
from fastapi.testclient import TestClient
from httpx2 import Response
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from tests.factories import SalesOrg, make_contact, make_lead
from topline.auth.models import User
from topline.crm.activities import log_activity
from topline.crm.enums import ActivityType
from topline.crm.models import Account, Activity, Deal

ApiAs = Callable[[User], TestClient]
AT = datetime(2025, 1, 10, 12, tzinfo=UTC)


@dataclass
class Owned:
    """The ids of one rep's records."""

    deal: int
    deal_version: int
    account: int
    account_version: int
    contact: int
    contact_version: int
    lead: int
    lead_version: int
    activity: int


@pytest.fixture
def records(session: Session, org: SalesOrg) -> dict[str, Owned]:
    """One of each record per rep, keyed by the rep's first name."""
    owned = {}
    for name in ("rita", "ray", "olga"):
        rep: User = getattr(org, name)
        deal = session.scalars(
            select(Deal).where(Deal.owner_id == rep.id).order_by(Deal.id)
        ).first()
        assert deal is not None and deal.account_id is not None
        account = session.get(Account, deal.account_id)
        contact = make_contact(session, account=account)
        lead = make_lead(session, owner=rep)
        activity = log_activity(
            session, user=rep, type=ActivityType.CALL, subject="Intro call", occurred_at=AT,
            deal=deal, at=AT,
        )  # fmt: skip
        assert account is not None
        owned[name] = Owned(
            deal.id, deal.version, account.id, account.version, contact.id, contact.version,
            lead.id, lead.version, activity.id,
        )  # fmt: skip
    return owned


# viewer, record owner, whether the viewer may see (and so change) it
CASES = [
    ("rita", "rita", True),  # own
    ("rita", "ray", False),  # teammate
    ("rita", "olga", False),  # other team
    ("maria", "rita", True),  # subtree
    ("maria", "olga", False),  # other team
    ("otto", "olga", True),
    ("otto", "ray", False),
    ("admin", "rita", True),
    ("admin", "olga", True),
]
IDS = [f"{viewer}-reads-{owner}" for viewer, owner, _ in CASES]


def _reads(client: TestClient, owned: Owned) -> dict[str, int]:
    return {
        "deal": client.get(f"/api/v1/deals/{owned.deal}").status_code,
        "deal history": client.get(f"/api/v1/deals/{owned.deal}/history").status_code,
        "account": client.get(f"/api/v1/accounts/{owned.account}").status_code,
        "contact": client.get(f"/api/v1/contacts/{owned.contact}").status_code,
        "lead": client.get(f"/api/v1/leads/{owned.lead}").status_code,
        "activity": client.get(f"/api/v1/activities/{owned.activity}").status_code,
    }


def _writes(client: TestClient, owned: Owned) -> dict[str, Response]:
    note = {"type": "note", "subject": "Matrix", "occurred_at": "2025-01-10T12:00:00Z"}
    return {
        "deal": client.patch(
            f"/api/v1/deals/{owned.deal}", json={"version": owned.deal_version, "next_step": "x"}
        ),
        "account": client.patch(
            f"/api/v1/accounts/{owned.account}",
            json={"version": owned.account_version, "industry": "Matrix"},
        ),
        "contact": client.patch(
            f"/api/v1/contacts/{owned.contact}",
            json={"version": owned.contact_version, "title": "Matrix"},
        ),
        "lead": client.post(
            f"/api/v1/leads/{owned.lead}/disqualify",
            json={"version": owned.lead_version, "reason": "Matrix"},
        ),
        "activity on deal": client.post("/api/v1/activities", json={**note, "deal_id": owned.deal}),
    }


@pytest.mark.parametrize(("viewer", "owner", "visible"), CASES, ids=IDS)
def test_reads_follow_the_rule(
    api_as: ApiAs, org: SalesOrg, records: dict[str, Owned], viewer: str, owner: str, visible: bool
) -> None:
    codes = _reads(api_as(getattr(org, viewer)), records[owner])
    expected = 200 if visible else 404
    assert codes == dict.fromkeys(codes, expected)


@pytest.mark.parametrize(("viewer", "owner", "visible"), CASES, ids=IDS)
def test_writes_follow_the_rule(
    api_as: ApiAs,
    org: SalesOrg,
    session: Session,
    records: dict[str, Owned],
    viewer: str,
    owner: str,
    visible: bool,
) -> None:
    responses = _writes(api_as(getattr(org, viewer)), records[owner])
    codes = {write: response.status_code for write, response in responses.items()}
    if visible:
        expected = {"deal": 200, "account": 200, "contact": 200, "lead": 200,
                    "activity on deal": 201}  # fmt: skip
        assert codes == expected
        return
    # Out of scope: not found; a new record pointing at it is refused as a missing reference
    # (409, naming the field); neither writes anything.
    link = responses.pop("activity on deal")
    assert {write: r.status_code for write, r in responses.items()} == dict.fromkeys(responses, 404)
    assert link.status_code == 409
    assert link.json()["error"]["code"] == "reference_not_found"
    assert link.json()["error"]["details"] == {"field": "deal_id"}
    assert session.scalar(select(func.count()).where(Activity.subject == "Matrix")) == 0


LISTS = {
    "deals": ("owner_id", "deal"),
    "accounts": ("owner_id", "account"),
    "leads": ("owner_id", "lead"),
    "activities": ("user_id", "activity"),
}


@pytest.mark.parametrize("viewer", ["rita", "maria", "otto", "admin"])
@pytest.mark.parametrize("resource", sorted(LISTS))
def test_lists_and_counts_hold_only_visible_records(
    api_as: ApiAs, org: SalesOrg, records: dict[str, Owned], viewer: str, resource: str
) -> None:
    owner_field, _ = LISTS[resource]
    scope = {
        "rita": {org.rita.id},
        "maria": {org.maria.id, org.rita.id, org.ray.id},
        "otto": {org.otto.id, org.olga.id},
        "admin": None,
    }[viewer]
    response = api_as(getattr(org, viewer)).get(f"/api/v1/{resource}", params={"limit": 200})
    assert response.status_code == 200, response.text
    page = response.json()
    owners = {item[owner_field] for item in page["items"]}
    if scope is not None:
        assert owners <= scope, (resource, owners)
    else:
        assert {org.rita.id, org.ray.id, org.olga.id} <= owners
    assert page["total"] == len(page["items"])


@pytest.mark.parametrize(("viewer", "owner", "visible"), CASES, ids=IDS)
def test_contacts_follow_their_accounts_in_lists(
    api_as: ApiAs, org: SalesOrg, records: dict[str, Owned], viewer: str, owner: str, visible: bool
) -> None:
    response = api_as(getattr(org, viewer)).get(
        "/api/v1/contacts", params={"account_id": records[owner].account}
    )
    ids = [item["id"] for item in response.json().get("items", [])]
    assert (records[owner].contact in ids) is visible
