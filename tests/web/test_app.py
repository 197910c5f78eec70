"""The app shell: health, static files, headers, error rendering for pages and the API."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import func, select

from tests.databases import fresh_engine
from topline.auth.models import Organization
from topline.config import Settings
from topline.crm.errors import DealNotFound
from topline.storage.migrate import upgrade_database
from topline.web.app import create_app
from topline.web.deps import DbSession


def test_healthz_answers_ok_after_querying_the_database(client: TestClient) -> None:
    response = client.get("/healthz")

    assert response.status_code == 200
    assert response.json() == {"status": "ok"}


def test_home_redirects_to_the_pipeline(client: TestClient) -> None:
    response = client.get("/", follow_redirects=False)

    assert response.status_code == 303
    assert response.headers["location"] == "/pipeline"


def test_stylesheet_is_served_from_the_package(client: TestClient) -> None:
    response = client.get("/static/topline.css")

    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/css")


def test_responses_carry_security_headers(client: TestClient) -> None:
    headers = client.get("/login").headers

    assert headers["x-content-type-options"] == "nosniff"
    assert headers["x-frame-options"] == "DENY"
    assert headers["referrer-policy"] == "same-origin"


@pytest.mark.parametrize("path", ["/redoc", "/openapi.json"])
def test_only_the_offline_docs_are_served(client: TestClient, path: str) -> None:
    assert client.get(path).status_code == 404


def test_api_docs_load_swagger_from_our_own_static_files(client: TestClient) -> None:
    docs = client.get("/docs")

    assert docs.status_code == 200
    assert "/static/vendor/swagger-ui-bundle.js" in docs.text
    assert "/api/v1/openapi.json" in docs.text
    assert "cdn." not in docs.text
    assert client.get("/static/vendor/swagger-ui-bundle.js").status_code == 200
    schema = client.get("/api/v1/openapi.json").json()
    assert "/api/v1/deals" in schema["paths"]
    assert not [path for path in schema["paths"] if not path.startswith("/api/v1/")]


def test_unknown_page_renders_the_html_error_page(client: TestClient) -> None:
    response = client.get("/no-such-page")

    assert response.status_code == 404
    assert response.headers["content-type"].startswith("text/html")
    assert "There is no page at this address." in response.text
    assert '<html lang="en">' in response.text


def test_unknown_api_path_answers_json(client: TestClient) -> None:
    response = client.get("/api/v1/no-such-thing")

    assert response.status_code == 404
    assert response.json()["error"]["code"] == "not_found"


def test_domain_errors_render_as_json_under_api_and_as_a_page_elsewhere(
    client: TestClient, app: FastAPI
) -> None:
    def missing_deal() -> None:
        raise DealNotFound("deal 999 not found", details={"deal_id": 999})

    app.add_api_route("/api/v1/test-only/999", missing_deal)
    app.add_api_route("/test-only/999", missing_deal)

    api = client.get("/api/v1/test-only/999")
    page = client.get("/test-only/999")

    assert api.status_code == 404
    assert api.json() == {
        "error": {"code": "not_found", "message": "deal 999 not found", "details": {"deal_id": 999}}
    }
    assert page.status_code == 404
    assert "deal 999 not found" in page.text
    assert page.headers["content-type"].startswith("text/html")


def test_a_bug_shows_an_apology_without_internals(
    make_client: Callable[..., TestClient],
) -> None:
    client = make_client()
    assert isinstance(client.app, FastAPI)

    def broken() -> None:
        raise RuntimeError("secret internals")

    client.app.add_api_route("/broken", broken)
    quiet = TestClient(client.app, raise_server_exceptions=False)

    response = quiet.get("/broken")

    assert response.status_code == 500
    assert "Something went wrong on our side" in response.text
    assert "secret internals" not in response.text


def test_app_builds_its_own_engine_from_settings(tmp_path: Path) -> None:
    app = create_app(Settings(database_url=f"sqlite:///{tmp_path}/own.sqlite", secret_key="k"))

    with TestClient(app) as client:
        assert client.get("/healthz").json() == {"status": "ok"}


def test_app_without_a_secret_key_still_signs_sessions(tmp_path: Path) -> None:
    app = create_app(Settings(database_url=f"sqlite:///{tmp_path}/own.sqlite", secret_key=""))

    with TestClient(app) as client:
        response = client.get("/login")

    assert response.status_code == 200
    assert "topline_session" in response.cookies


def test_request_session_commits_on_success_and_rolls_back_on_error(tmp_path: Path) -> None:
    engine = fresh_engine("sqlite", tmp_path, "boundary")
    upgrade_database(engine)
    app = create_app(Settings(database_url=str(engine.url), secret_key="k"), engine=engine)

    def add_org(session: DbSession, fail: bool = False) -> dict[str, str]:
        session.add(Organization(name="Acme Sales", currency="USD", fiscal_year_start_month=1))
        session.flush()
        if fail:
            raise DealNotFound("deal 1 not found")
        return {"status": "added"}

    app.add_api_route("/api/v1/orgs", add_org, methods=["GET"])
    with TestClient(app) as client:
        assert client.get("/api/v1/orgs").status_code == 200
        assert client.get("/api/v1/orgs", params={"fail": True}).status_code == 404

    with engine.connect() as connection:
        assert connection.scalar(select(func.count()).select_from(Organization)) == 1
    engine.dispose()


def test_wrong_method_names_every_allowed_method(client: TestClient) -> None:
    response = client.put("/api/v1/deals")

    assert response.status_code == 405
    assert response.headers["allow"] == "GET, HEAD, POST"
    assert response.json()["error"]["code"] == "method_not_allowed"


def test_api_calls_carry_no_session_cookie(client: TestClient) -> None:
    api = client.get("/api/v1/openapi.json")
    assert api.status_code == 200 and "set-cookie" not in api.headers
    page = client.get("/login")
    assert "topline_session" in page.cookies
