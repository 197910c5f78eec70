"""Everyone's API tokens, for admins: who holds which, filters, and revoking anyone's at once."""

from __future__ import annotations

from datetime import timedelta
from typing import cast

import pytest
from fastapi.testclient import TestClient
from httpx2 import Response
from sqlalchemy import select
from sqlalchemy.orm import Session

from tests.conftest import PASSWORD
from tests.factories import SalesOrg, make_user
from tests.web.helpers import assert_max_queries, csrf_from, login, table_rows
from topline.audit.models import AuditEntry
from topline.auth.models import ApiToken
from topline.auth.tokens import create_token
from topline.clock import utcnow

PAGE = "/admin/tokens"


def revoke(client: TestClient, token_id: int) -> Response:
    data = {"csrf_token": csrf_from(client.get(PAGE).text)}
    return cast(
        Response, client.post(f"{PAGE}/{token_id}/revoke", data=data, follow_redirects=False)
    )


def holders_and_names(html: str) -> list[tuple[str, str]]:
    return [(row[0], row[1]) for row in table_rows(html, "all-tokens")[1:]]


@pytest.fixture
def tokens(session: Session, org: SalesOrg) -> dict[str, ApiToken]:
    now = utcnow()
    made = {
        "rita sync": create_token(session, user=org.rita, name="CRM sync", at=now)[0],
        "ray bi": create_token(session, user=org.ray, name="BI export", at=now)[0],
        "ray old": create_token(
            session,
            user=org.ray,
            name="Old script",
            at=now - timedelta(days=60),
            expires_at=now - timedelta(days=1),
        )[0],
    }
    made["maria gone"] = create_token(session, user=org.maria, name="Laptop", at=now)[0]
    made["maria gone"].revoked_at = now
    session.flush()
    return made


def test_an_admin_sees_everyones_working_tokens_with_their_holders(
    client: TestClient, org: SalesOrg, tokens: dict[str, ApiToken]
) -> None:
    login(client, "ada@topline.example", PASSWORD)

    page = client.get(PAGE)

    assert page.status_code == 200
    # Expired and revoked tokens are not working: they show under their own filters.
    assert sorted(holders_and_names(page.text)) == [("Ray", "BI export"), ("Rita", "CRM sync")]
    assert f'action="{PAGE}/{tokens["rita sync"].id}/revoke"' in page.text
    assert tokens["rita sync"].prefix in page.text
    assert client.get(PAGE, params={"state": "revoked"}).text.count("data-token-id=") == 1
    everything = client.get(PAGE, params={"state": "all", "person": str(org.ray.id)}).text
    assert sorted(holders_and_names(everything)) == [("Ray", "BI export"), ("Ray", "Old script")]
    # A form's "Anyone" sends an empty person: no filter, not an error.
    assert client.get(PAGE, params={"person": "", "state": "active"}).status_code == 200


def test_revoking_someones_token_stops_it_at_once_and_is_audited(
    client: TestClient, session: Session, org: SalesOrg, tokens: dict[str, ApiToken]
) -> None:
    login(client, "ada@topline.example", PASSWORD)
    target = tokens["rita sync"]

    answer = revoke(client, target.id)

    assert answer.status_code == 303
    assert answer.headers["location"] == f"{PAGE}?revoked={target.id}"
    session.refresh(target)
    assert target.revoked_at is not None
    [entry] = session.scalars(
        select(AuditEntry).where(
            AuditEntry.entity_type == "api_token", AuditEntry.entity_id == target.id
        )
    ).all()
    assert entry.actor_id == org.admin.id
    shown = client.get(answer.headers["location"]).text
    assert "is revoked: it no longer works" in shown
    assert holders_and_names(shown) == [("Ray", "BI export")]


@pytest.mark.parametrize("who", ["maria", "rita"])
def test_only_admins_see_or_revoke_everyones_tokens(
    client: TestClient, session: Session, org: SalesOrg,
    tokens: dict[str, ApiToken], who: str,
) -> None:  # fmt: skip
    login(client, f"{who}@topline.example", PASSWORD)
    token_page = client.get("/settings/tokens").text  # a page with a form, for the CSRF token

    listed = client.get(PAGE)
    revoked = client.post(
        f"{PAGE}/{tokens['ray bi'].id}/revoke",
        data={"csrf_token": csrf_from(token_page)},
        follow_redirects=False,
    )

    assert (listed.status_code, revoked.status_code) == (403, 403)
    session.refresh(tokens["ray bi"])
    assert tokens["ray bi"].revoked_at is None


def test_an_unknown_token_is_404_and_the_list_makes_no_query_per_row(
    client: TestClient, session: Session, org: SalesOrg
) -> None:
    for n in range(30):
        create_token(session, user=make_user(session, name=f"Holder {n:02}"), name=f"Token {n}")
    login(client, "ada@topline.example", PASSWORD)

    with assert_max_queries(session, 6):
        page = client.get(PAGE)

    assert len(holders_and_names(page.text)) == 30
    assert revoke(client, 999_999).status_code == 404
