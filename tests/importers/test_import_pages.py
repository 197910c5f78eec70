"""The import pages on both databases: upload, map columns, preview, confirm; and who may."""

from __future__ import annotations

import re
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine, func, select
from sqlalchemy.orm import Session

from tests.factories import make_user
from tests.web.helpers import csrf_from, login, table_rows
from topline.auth.enums import Role
from topline.auth.passwords import hash_password
from topline.config import Settings
from topline.crm.models import Account
from topline.importers.models import ImportJob, JobStatus
from topline.web.app import create_app

PASSWORD = "import-pages-password"
# Headers no synonym knows: the admin maps them by hand.
FIRMS = b"Ref,Firm,Web\nF1,Initech,initech.example\nF2,Umbrella,umbrella.example\n"
ACCOUNTS = b"account id,account name,website\nA1,Acme,acme.example\n"


@pytest.fixture(scope="module")
def password_hash() -> str:
    return hash_password(PASSWORD)


@pytest.fixture
def browser(db: Engine, tmp_path: Path, password_hash: str) -> Iterator[TestClient]:
    """A signed-in admin's client of an app on the module's real (committing) database."""
    with Session(db) as session:
        make_user(session, role=Role.ADMIN, email="ada@acme.example", password_hash=password_hash)
        make_user(session, role=Role.REP, email="rex@acme.example", password_hash=password_hash)
        session.commit()
    settings = Settings(database_url=str(db.url), secret_key="pages", data_dir=tmp_path / "data")
    with TestClient(create_app(settings, engine=db)) as client:
        assert login(client, "ada@acme.example", PASSWORD).status_code == 303
        yield client


def upload(client: TestClient, *files: tuple[str, bytes], preset: str = "") -> Any:
    token = csrf_from(client.get("/imports").text)
    return client.post(
        "/imports",
        data={"csrf_token": token, "preset": preset},
        files=[("files", (name, content, "text/csv")) for name, content in files],
        follow_redirects=False,
    )


def job_id(response: Any) -> int:
    assert response.status_code == 303, response.text
    match = re.fullmatch(r"/imports/(\d+)", response.headers["location"])
    assert match is not None
    return int(match.group(1))


def settled(client: TestClient, job: int) -> str:
    """The run's page once it has finished."""
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        html: str = client.get(f"/imports/{job}/status").text
        if "every 1s" not in html:
            return html
        time.sleep(0.05)
    raise AssertionError(f"import job {job} did not finish")


def test_upload_map_preview_and_confirm(browser: TestClient, db: Engine) -> None:
    draft = job_id(upload(browser, ("firms.csv", FIRMS)))
    page = browser.get(f"/imports/{draft}").text
    assert "Map the columns" in page
    # The first values are shown; nothing is guessed for unknown headers.
    assert "Initech · Umbrella" in page
    assert 'id="entity-0"' in page

    # Asking for the accounts' columns: known headers come pre-selected.
    columns = browser.get(f"/imports/{draft}/columns", params={"index": 0, "entity": "accounts"})
    assert columns.status_code == 200 and '<option value="name"' in columns.text

    form = {
        "csrf_token": csrf_from(page),
        "source": "legacy",
        "entity-0": "accounts",
        "name-0-0": "Ref", "column-0-0": "key",
        "name-0-1": "Firm", "column-0-1": "name",
        "name-0-2": "Web", "column-0-2": "domain",
    }  # fmt: skip
    preview = job_id(browser.post(f"/imports/{draft}/preview", data=form, follow_redirects=False))
    status = settled(browser, preview)
    assert 'data-testid="job-status">done<' in status
    assert table_rows(status, "import-summary")[1][:4] == ["firms.csv", "accounts", "2", "2"]
    assert "Planner statistics" not in status  # a dry run writes nothing
    with Session(db) as session:
        assert session.scalar(select(func.count()).select_from(Account)) == 0

    token = csrf_from(browser.get(f"/imports/{preview}").text)
    run = job_id(
        browser.post(
            f"/imports/{preview}/confirm", data={"csrf_token": token}, follow_redirects=False
        )
    )
    imported = settled(browser, run)
    assert "Imported." in imported
    # The accounts table of the test database is small: two rows make its statistics stale.
    assert re.search(r"Planner statistics refreshed for [a-z_, ]*\baccounts\b", imported)
    with Session(db) as session:
        assert session.execute(
            select(Account.name, Account.domain).order_by(Account.name)
        ).all() == [
            ("Initech", "initech.example"),
            ("Umbrella", "umbrella.example"),
        ]
        mapping = session.get(ImportJob, run)
        assert mapping is not None and mapping.mapping_yaml is not None
        assert "source: legacy" in mapping.mapping_yaml


def test_a_mapping_without_a_required_field_is_sent_back(browser: TestClient) -> None:
    draft = job_id(upload(browser, ("firms.csv", FIRMS)))
    page = browser.get(f"/imports/{draft}").text
    form = {
        "csrf_token": csrf_from(page),
        "entity-0": "accounts",
        "name-0-0": "Ref", "column-0-0": "key",
        "name-0-2": "Web", "column-0-2": "domain",
    }  # fmt: skip
    response = browser.post(f"/imports/{draft}/preview", data=form, follow_redirects=False)
    assert response.status_code == 422
    assert "pick a column for name" in response.text
    # What was picked is kept.
    assert re.search(r'<option value="domain"\s+selected>', response.text)


def test_two_columns_for_one_field_are_refused(browser: TestClient) -> None:
    draft = job_id(upload(browser, ("firms.csv", FIRMS)))
    form = {
        "csrf_token": csrf_from(browser.get(f"/imports/{draft}").text),
        "entity-0": "accounts",
        "name-0-0": "Ref", "column-0-0": "name",
        "name-0-1": "Firm", "column-0-1": "name",
    }  # fmt: skip
    response = browser.post(f"/imports/{draft}/preview", data=form, follow_redirects=False)
    assert response.status_code == 422
    assert "filled from two columns" in response.text


def test_known_headers_are_matched_and_problems_listed(browser: TestClient, db: Engine) -> None:
    bad = ACCOUNTS + b"A2,,nowhere.example\n"
    draft = job_id(upload(browser, ("accounts.csv", bad)))
    page = browser.get(f"/imports/{draft}").text
    assert re.search(r'<option value="accounts"\s+selected>', page)
    assert re.search(r'<option value="name"\s+selected>', page)
    form = {
        "csrf_token": csrf_from(page),
        "entity-0": "accounts",
        "name-0-0": "account id", "column-0-0": "key",
        "name-0-1": "account name", "column-0-1": "name",
        "name-0-2": "website", "column-0-2": "domain",
    }  # fmt: skip
    preview = job_id(browser.post(f"/imports/{draft}/preview", data=form, follow_redirects=False))
    status = settled(browser, preview)
    assert 'data-testid="job-status">rejected<' in status
    assert "accounts.csv, row 3, account name" in status
    assert "Import the valid rows only" in status

    token = csrf_from(browser.get(f"/imports/{preview}").text)
    run = job_id(
        browser.post(
            f"/imports/{preview}/confirm",
            data={"csrf_token": token, "keep_valid": "true"},
            follow_redirects=False,
        )
    )
    assert "Download the rejected rows" in settled(browser, run)
    rejected = browser.get(f"/imports/{run}/errors.csv")
    assert rejected.status_code == 200 and "nowhere.example" in rejected.text
    with Session(db) as session:
        assert session.scalars(select(Account.name)).all() == ["Acme"]


def test_a_preset_upload_needs_no_column_mapping(browser: TestClient) -> None:
    draft = job_id(upload(browser, ("Account.csv", b"Id,Name\n001A,Acme\n"), preset="salesforce"))
    page = browser.get(f"/imports/{draft}").text
    assert "salesforce" in page and "Account.csv: accounts" in page
    preview = job_id(
        browser.post(
            f"/imports/{draft}/preview",
            data={"csrf_token": csrf_from(page)},
            follow_redirects=False,
        )
    )
    assert 'data-testid="job-status">done<' in settled(browser, preview)


def test_bad_uploads_are_explained_on_the_page(browser: TestClient, db: Engine) -> None:
    response = upload(browser, ("notes.pdf", b"%PDF"))
    assert response.status_code == 422
    assert "upload CSV (.csv, .tsv, .txt) or Excel (.xlsx) files" in response.text
    with Session(db) as session:
        assert session.scalar(select(func.count()).select_from(ImportJob)) == 0


def test_a_draft_can_be_discarded(browser: TestClient, db: Engine) -> None:
    draft = job_id(upload(browser, ("firms.csv", FIRMS)))
    token = csrf_from(browser.get(f"/imports/{draft}").text)
    browser.post(f"/imports/{draft}/cancel", data={"csrf_token": token})
    with Session(db) as session:
        job = session.get(ImportJob, draft)
        assert job is not None and job.status == JobStatus.CANCELLED
    assert browser.post(f"/imports/{draft}/preview", data={"csrf_token": token}).status_code == 409


def test_reps_may_not_import(browser: TestClient) -> None:
    browser.post("/logout", data={"csrf_token": csrf_from(browser.get("/imports").text)})
    assert login(browser, "rex@acme.example", PASSWORD).status_code == 303
    assert browser.get("/imports").status_code == 403
    assert "/imports" not in browser.get("/pipeline").text
