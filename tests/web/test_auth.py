"""Signing in and out: credentials, sessions, CSRF, rate limiting and the `next` redirect."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta

import pytest
from fastapi.testclient import TestClient
from sqlalchemy.orm import Session

from tests.conftest import PASSWORD
from tests.factories import SalesOrg
from tests.web.helpers import csrf_from, login
from topline.web import sessions
from topline.web.sessions import safe_next_path


class TestLogin:
    def test_right_password_signs_in_and_lands_on_the_pipeline(
        self, client: TestClient, org: SalesOrg
    ) -> None:
        response = login(client, "rita@topline.example", PASSWORD)

        assert response.status_code == 303
        assert response.headers["location"] == "/pipeline"
        assert client.get("/pipeline").status_code == 200

    def test_email_is_matched_case_insensitively(self, client: TestClient, org: SalesOrg) -> None:
        response = login(client, "  Rita@Topline.Example ", PASSWORD)

        assert response.status_code == 303

    def test_session_cookie_is_httponly_and_samesite_lax(
        self, client: TestClient, org: SalesOrg
    ) -> None:
        cookie = login(client, "rita@topline.example", PASSWORD).headers["set-cookie"].lower()

        assert cookie.startswith("topline_session=")
        assert "httponly" in cookie
        assert "samesite=lax" in cookie
        assert "secure" not in cookie

    def test_cookie_is_secure_when_configured(
        self, make_client: Callable[..., TestClient], org: SalesOrg
    ) -> None:
        client = make_client(secure_cookies=True)

        cookie = client.get("/login").headers["set-cookie"].lower()

        assert "; secure" in cookie

    def test_wrong_password_rerenders_the_form_with_401(
        self, client: TestClient, org: SalesOrg
    ) -> None:
        response = login(client, "rita@topline.example", "not-the-password")

        assert response.status_code == 401
        assert "Wrong email or password" in response.text
        assert 'value="rita@topline.example"' in response.text
        assert client.get("/pipeline", follow_redirects=False).status_code == 303

    def test_unknown_email_gets_the_same_answer(self, client: TestClient, org: SalesOrg) -> None:
        response = login(client, "nobody@topline.example", PASSWORD)

        assert response.status_code == 401
        assert "Wrong email or password" in response.text

    def test_empty_fields_ask_for_both(self, client: TestClient, org: SalesOrg) -> None:
        response = login(client, "", "")

        assert response.status_code == 422
        assert "Enter your email and password." in response.text

    def test_inactive_user_cannot_sign_in(
        self, client: TestClient, org: SalesOrg, session: Session
    ) -> None:
        org.rita.active = False
        session.flush()

        response = login(client, "rita@topline.example", PASSWORD)

        assert response.status_code == 401
        assert "Wrong email or password" in response.text

    def test_user_deactivated_after_signing_in_is_signed_out(
        self, client: TestClient, org: SalesOrg, session: Session
    ) -> None:
        login(client, "rita@topline.example", PASSWORD)
        org.rita.active = False
        session.flush()

        response = client.get("/pipeline", follow_redirects=False)

        assert response.status_code == 303
        assert response.headers["location"].startswith("/login")
        org.rita.active = True
        session.flush()
        assert client.get("/pipeline", follow_redirects=False).status_code == 303

    def test_signed_in_visitor_skips_the_form(self, client: TestClient, org: SalesOrg) -> None:
        login(client, "rita@topline.example", PASSWORD)

        response = client.get("/login", follow_redirects=False)

        assert response.status_code == 303
        assert response.headers["location"] == "/pipeline"


class TestNextParameter:
    def test_unauthenticated_page_visit_redirects_to_login_with_next(
        self, client: TestClient
    ) -> None:
        response = client.get("/pipeline?view=team", follow_redirects=False)

        assert response.status_code == 303
        assert response.headers["location"] == "/login?next=%2Fpipeline%3Fview%3Dteam"

    def test_htmx_request_is_told_to_navigate_to_login(self, client: TestClient) -> None:
        response = client.get("/pipeline", headers={"HX-Request": "true"}, follow_redirects=False)

        assert response.status_code == 204
        assert response.headers["hx-redirect"] == "/login?next=%2Fpipeline"

    def test_local_next_is_honoured(self, client: TestClient, org: SalesOrg) -> None:
        form = client.get("/login", params={"next": "/pipeline?view=team"})
        assert 'name="next" value="/pipeline?view=team"' in form.text

        response = login(client, "rita@topline.example", PASSWORD, next_path="/pipeline?view=team")

        assert response.headers["location"] == "/pipeline?view=team"

    @pytest.mark.parametrize(
        "target",
        [
            "https://evil.example/",
            "//evil.example/",
            "/\\evil.example",
            "http:/evil",
            "javascript:x",
        ],
    )
    def test_next_pointing_off_site_is_refused(
        self, client: TestClient, org: SalesOrg, target: str
    ) -> None:
        response = login(client, "rita@topline.example", PASSWORD, next_path=target)

        assert response.status_code == 303
        assert response.headers["location"] == "/pipeline"

    @pytest.mark.parametrize(
        ("candidate", "expected"),
        [
            (None, "/pipeline"),
            ("", "/pipeline"),
            ("/pipeline?stage=3", "/pipeline?stage=3"),
            ("/reports/coverage#q3", "/reports/coverage#q3"),
            ("pipeline", "/pipeline"),
            ("//evil.example", "/pipeline"),
            ("/\\evil.example", "/pipeline"),
            ("/\t/evil.example", "/pipeline"),
            ("https://evil.example", "/pipeline"),
        ],
    )
    def test_safe_next_path(self, candidate: str | None, expected: str) -> None:
        assert safe_next_path(candidate) == expected


class TestCsrf:
    def test_login_without_token_is_forbidden(self, client: TestClient, org: SalesOrg) -> None:
        client.get("/login")

        response = client.post(
            "/login", data={"email": "rita@topline.example", "password": PASSWORD}
        )

        assert response.status_code == 403
        assert "did not come from Topline" in response.text

    def test_token_of_another_session_is_forbidden(
        self, make_client: Callable[..., TestClient], org: SalesOrg
    ) -> None:
        mallory, victim = make_client(), make_client()
        token = csrf_from(mallory.get("/login").text)
        victim.get("/login")

        response = victim.post(
            "/login",
            data={"csrf_token": token, "email": "rita@topline.example", "password": PASSWORD},
        )

        assert response.status_code == 403

    def test_logout_without_token_is_forbidden_and_keeps_the_session(
        self, client: TestClient, org: SalesOrg
    ) -> None:
        login(client, "rita@topline.example", PASSWORD)

        response = client.post("/logout", follow_redirects=False)

        assert response.status_code == 403
        assert client.get("/pipeline").status_code == 200

    def test_token_rotates_on_sign_in(self, client: TestClient, org: SalesOrg) -> None:
        before = csrf_from(client.get("/login").text)
        login(client, "rita@topline.example", PASSWORD)

        after = csrf_from(client.get("/pipeline").text)

        assert after != before

    def test_htmx_header_token_is_accepted(self, client: TestClient, org: SalesOrg) -> None:
        login(client, "rita@topline.example", PASSWORD)
        token = csrf_from(client.get("/pipeline").text)

        response = client.post("/logout", headers={"X-CSRF-Token": token}, follow_redirects=False)

        assert response.status_code == 303


class TestLogout:
    def test_logout_ends_the_session(self, client: TestClient, org: SalesOrg) -> None:
        login(client, "rita@topline.example", PASSWORD)
        token = csrf_from(client.get("/pipeline").text)

        response = client.post("/logout", data={"csrf_token": token}, follow_redirects=False)

        assert response.status_code == 303
        assert response.headers["location"] == "/login"
        assert client.get("/pipeline", follow_redirects=False).status_code == 303


def client_at(client: TestClient, address: str) -> TestClient:
    """Another browser on the same app, connecting from `address`."""
    return TestClient(client.app, client=(address, 50000))


class TestRateLimit:
    def test_too_many_attempts_answer_429_even_with_the_right_password(
        self, make_client: Callable[..., TestClient], org: SalesOrg
    ) -> None:
        client = make_client(login_attempts_per_minute=3)
        for _ in range(3):
            assert login(client, "rita@topline.example", "wrong-password").status_code == 401

        response = login(client, "rita@topline.example", PASSWORD)

        assert response.status_code == 429
        assert "Too many sign-in attempts for this account" in response.text
        retry_after = int(response.headers["retry-after"])
        assert 1 <= retry_after <= 60
        assert f"Try again in {retry_after} seconds" in response.text

    def test_limit_is_per_email(
        self, make_client: Callable[..., TestClient], org: SalesOrg
    ) -> None:
        client = make_client(login_attempts_per_minute=2)
        for _ in range(2):
            login(client, "rita@topline.example", "wrong-password")

        assert login(client, "ray@topline.example", PASSWORD).status_code == 303

    def test_successful_sign_in_clears_the_count(
        self, make_client: Callable[..., TestClient], org: SalesOrg
    ) -> None:
        client = make_client(login_attempts_per_minute=2)
        login(client, "rita@topline.example", "wrong-password")
        assert login(client, "rita@topline.example", PASSWORD).status_code == 303
        client.cookies.clear()

        assert login(client, "rita@topline.example", "wrong-password").status_code == 401
        assert login(client, "rita@topline.example", PASSWORD).status_code == 303

    def test_an_account_is_locked_whatever_address_the_guesses_come_from(
        self, make_client: Callable[..., TestClient], org: SalesOrg
    ) -> None:
        client = make_client(login_attempts_per_minute=3)
        for address in ("10.0.0.1", "10.0.0.2", "10.0.0.3"):
            assert (
                login(client_at(client, address), "rita@topline.example", "nope").status_code == 401
            )

        response = login(client_at(client, "10.0.0.4"), "Rita@Topline.Example", PASSWORD)

        assert response.status_code == 429
        assert "for this account" in response.text
        assert (
            login(client_at(client, "10.0.0.4"), "ray@topline.example", PASSWORD).status_code == 303
        )

    def test_an_address_is_locked_whatever_accounts_it_tries(
        self, make_client: Callable[..., TestClient], org: SalesOrg
    ) -> None:
        client = make_client(login_attempts_per_minute=10, login_attempts_per_ip_per_minute=3)
        for email in ("rita@topline.example", "ray@topline.example", "nobody@topline.example"):
            assert login(client, email, "wrong-password").status_code == 401

        response = login(client, "olga@topline.example", PASSWORD)

        assert response.status_code == 429
        assert "Too many sign-in attempts for your network address" in response.text
        assert 1 <= int(response.headers["retry-after"]) <= 60
        other = client_at(client, "10.0.0.9")
        assert login(other, "olga@topline.example", PASSWORD).status_code == 303

    def test_signing_in_clears_the_account_count_but_not_the_address_count(
        self, make_client: Callable[..., TestClient], org: SalesOrg
    ) -> None:
        client = make_client(login_attempts_per_minute=2, login_attempts_per_ip_per_minute=3)
        assert login(client, "rita@topline.example", "wrong-password").status_code == 401
        assert login(client, "rita@topline.example", PASSWORD).status_code == 303
        client.cookies.clear()
        assert login(client, "rita@topline.example", "wrong-password").status_code == 401

        response = login(client, "rita@topline.example", PASSWORD)

        assert response.status_code == 429
        assert "your network address" in response.text
        elsewhere = client_at(client, "10.0.0.9")
        assert login(elsewhere, "rita@topline.example", PASSWORD).status_code == 303


# Runs once web/sessions.py records the sign-in time (the session-expiry change for the lead).
needs_session_expiry = pytest.mark.skipif(
    not hasattr(sessions, "SIGNED_IN_AT_KEY"), reason="sessions do not record sign-in time yet"
)


@needs_session_expiry
class TestSessionExpiry:
    def test_a_session_ends_session_hours_after_signing_in(
        self,
        make_client: Callable[..., TestClient],
        org: SalesOrg,
        monkeypatch: pytest.MonkeyPatch,
    ) -> None:
        client = make_client(session_hours=12)
        signed_in = datetime(2025, 3, 3, 9, 0, tzinfo=UTC)
        monkeypatch.setattr(sessions, "utcnow", lambda: signed_in)
        assert login(client, "rita@topline.example", PASSWORD).status_code == 303

        almost = signed_in + timedelta(hours=11, minutes=59)
        monkeypatch.setattr(sessions, "utcnow", lambda: almost)
        assert client.get("/pipeline", follow_redirects=False).status_code == 200

        monkeypatch.setattr(sessions, "utcnow", lambda: signed_in + timedelta(hours=12))
        response = client.get("/pipeline", follow_redirects=False)
        assert response.status_code == 303
        assert response.headers["location"].startswith("/login")
        assert client.get("/login", follow_redirects=False).status_code == 200

    def test_the_cookie_lasts_no_longer_than_the_session(
        self, make_client: Callable[..., TestClient], org: SalesOrg
    ) -> None:
        client = make_client(session_hours=2)

        cookie = login(client, "rita@topline.example", PASSWORD).headers["set-cookie"].lower()

        assert "max-age=7200" in cookie
