"""Imports as background jobs over the API, on both databases: upload, progress, outcome,
rejected rows, cancelling, and jobs whose server process died."""

from __future__ import annotations

import csv
import io
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine, func, select
from sqlalchemy.orm import Session

from tests.factories import make_user
from topline.audit.models import AuditEntry
from topline.auth.enums import Role
from topline.auth.models import User
from topline.auth.tokens import create_token
from topline.config import Settings
from topline.crm.models import Account, Deal
from topline.importers import jobs
from topline.importers.jobs import ImportRunner, JobFolder
from topline.importers.models import ImportJob, JobStatus
from topline.web.app import create_app

ACCOUNTS = b"""account id,account name,website,owner
A1,Acme,acme.example,rita@acme.example
A2,Globex,globex.example,rita@acme.example
"""
USERS = b"email,name,role\nrita@acme.example,Rita Rep,rep\n"
DEALS = b"""opportunity id,opportunity name,account,owner,stage,amount,close date
D1,Acme renewal,A1,rita@acme.example,Qualification,1000,2026-03-31
D2,Globex pilot,A2,rita@acme.example,Closed Won,2500.50,2026-02-15
"""
BAD_DEALS = b"""opportunity id,opportunity name,account,owner,stage,amount,close date
D1,Acme renewal,A1,rita@acme.example,Qualification,1000,2026-03-31
D2,Globex pilot,A2,rita@acme.example,Nowhere,2500,2026-02-15
D3,Globex expansion,A2,rita@acme.example,Qualification,-5,2026-02-15
"""

Client = tuple[TestClient, dict[str, str]]


@pytest.fixture
def api(db: Engine, tmp_path: Path) -> Iterator[Callable[[Role], Client]]:
    """A client of an app on the module's real (committing) database, as a user of a role."""
    settings = Settings(database_url=str(db.url), secret_key="jobs", data_dir=tmp_path / "data")
    app = create_app(settings, engine=db)
    with TestClient(app) as client:

        def as_role(role: Role) -> Client:
            with Session(db, expire_on_commit=False) as session:
                user = make_user(session, role=role)
                _, token = create_token(session, user=user, name="jobs")
                session.commit()
            return client, {"Authorization": f"Bearer {token}"}

        yield as_role


def upload(client: Client, *files: tuple[str, bytes], **form: Any) -> Any:
    http, headers = client
    parts: list[tuple[str, tuple[str, bytes, str]]] = [
        ("files", (name, content, "text/csv")) for name, content in files
    ]
    if "mapping" in form:
        parts.append(("mapping", ("mapping.yaml", form.pop("mapping"), "application/yaml")))
    data = {name: str(value).lower() for name, value in form.items()}
    return http.post("/api/v1/imports", headers=headers, files=parts, data=data)


def finished(client: Client, job_id: int) -> dict[str, Any]:
    """The job once it has finished (the import runs in the app's import thread)."""
    http, headers = client
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        job: dict[str, Any] = http.get(f"/api/v1/imports/{job_id}", headers=headers).json()
        if job["status"] not in {"queued", "running"}:
            return job
        time.sleep(0.05)
    raise AssertionError(f"import job {job_id} did not finish")


def count(db: Engine, model: type[Any]) -> int:
    with Session(db) as session:
        return session.scalar(select(func.count()).select_from(model)) or 0


def test_an_upload_is_imported_in_the_background(api: Callable[[Role], Client], db: Engine) -> None:
    admin = api(Role.ADMIN)
    response = upload(admin, ("users.csv", USERS), ("accounts.csv", ACCOUNTS), ("deals.csv", DEALS))
    assert response.status_code == 202, response.text
    created = response.json()
    assert created["status"] == "queued"
    assert [f["name"] for f in created["files"]] == ["users.csv", "accounts.csv", "deals.csv"]
    assert created["files"][2]["bytes"] == len(DEALS)

    job = finished(admin, created["id"])
    assert job["status"] == "done", job
    assert job["error"] is None
    assert job["rows_read"] == {"users.csv": 1, "accounts.csv": 2, "deals.csv": 2}
    outcome = job["result"]
    assert outcome["committed"] is True and outcome["problem_count"] == 0
    by_file = {f["file"]: f for f in outcome["files"]}
    assert by_file["deals.csv"]["created"] == 2 and by_file["accounts.csv"]["created"] == 2
    assert job["started_at"] is not None and job["finished_at"] is not None
    with Session(db) as session:
        amounts = dict(session.execute(select(Deal.name, Deal.amount_cents)).all())
    assert amounts == {"Acme renewal": 100_000, "Globex pilot": 250_050}

    http, headers = admin
    listed = http.get("/api/v1/imports", headers=headers).json()["items"]
    assert [item["id"] for item in listed] == [created["id"]]


def test_a_dry_run_reports_and_writes_nothing(api: Callable[[Role], Client], db: Engine) -> None:
    admin = api(Role.ADMIN)
    created = upload(admin, ("users.csv", USERS), ("accounts.csv", ACCOUNTS), dry_run=True).json()
    job = finished(admin, created["id"])
    assert job["status"] == "done" and job["dry_run"] is True
    assert job["result"]["committed"] is False
    assert {f["file"]: f["created"] for f in job["result"]["files"]} == {
        "users.csv": 1,
        "accounts.csv": 2,
    }
    assert count(db, Account) == 0


def test_a_file_with_problems_is_rejected_whole(api: Callable[[Role], Client], db: Engine) -> None:
    admin = api(Role.ADMIN)
    created = upload(
        admin, ("users.csv", USERS), ("accounts.csv", ACCOUNTS), ("deals.csv", BAD_DEALS)
    ).json()
    job = finished(admin, created["id"])
    assert job["status"] == "rejected"
    problems = {(p["file"], p["row"], p["column"]) for p in job["result"]["problems"]}
    # Rows are numbered as a spreadsheet shows them: the header is row 1.
    assert problems == {("deals.csv", 3, "stage"), ("deals.csv", 4, "amount")}
    assert count(db, Account) == 0 and count(db, Deal) == 0
    http, headers = admin
    assert http.get(f"/api/v1/imports/{created['id']}/errors", headers=headers).status_code == 404


def test_keep_valid_writes_the_good_rows_and_serves_the_rejected_ones(
    api: Callable[[Role], Client], db: Engine
) -> None:
    admin = api(Role.ADMIN)
    created = upload(
        admin,
        ("users.csv", USERS),
        ("accounts.csv", ACCOUNTS),
        ("deals.csv", BAD_DEALS),
        keep_valid=True,
    ).json()
    job = finished(admin, created["id"])
    assert job["status"] == "done" and job["result"]["errors_file"] is True
    assert count(db, Deal) == 1
    http, headers = admin
    response = http.get(f"/api/v1/imports/{created['id']}/errors", headers=headers)
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/csv")
    rows = list(csv.DictReader(io.StringIO(response.text)))
    assert [row["opportunity id"] for row in rows] == ["D2", "D3"]
    assert "Nowhere" in rows[0]["import_problems"]
    assert [row["source_row"] for row in rows] == ["3", "4"]


def test_a_mapping_file_is_used_and_a_broken_one_refused_at_once(
    api: Callable[[Role], Client], db: Engine
) -> None:
    admin = api(Role.ADMIN)
    mapping = b"""source: legacy
files:
  - file: firms.csv
    entity: accounts
    fields: {key: Ref, name: Firm}
"""
    created = upload(admin, ("firms.csv", b"Ref,Firm\nF1,Initech\n"), mapping=mapping).json()
    assert created["has_mapping"] is True
    assert finished(admin, created["id"])["status"] == "done"
    with Session(db) as session:
        assert session.scalars(select(Account.name)).all() == ["Initech"]

    response = upload(admin, ("firms.csv", b"Ref,Firm\n"), mapping=b"source: [unclosed")
    assert response.status_code == 422
    assert "not valid YAML" in response.json()["error"]["message"]
    response = upload(admin, ("firms.csv", b"Ref,Firm\n"), mapping=b"source: x\nfiles: []\nbad: 1")
    assert response.status_code == 422 and "bad" in response.json()["error"]["message"]
    with Session(db) as session:
        assert session.scalar(select(func.count()).select_from(ImportJob)) == 1


@pytest.mark.parametrize(
    ("files", "message"),
    [
        ((("report.pdf", b"%PDF"),), "upload CSV"),
        ((("deals.csv", DEALS), ("deals.csv", DEALS)), "uploaded twice: deals.csv"),
        ((("../../etc/x", b"a\n"),), "upload CSV"),
    ],
)
def test_unusable_uploads_are_refused_and_leave_nothing(
    api: Callable[[Role], Client],
    db: Engine,
    files: tuple[tuple[str, bytes], ...],
    message: str,
) -> None:
    response = upload(api(Role.ADMIN), *files)
    assert response.status_code == 422
    assert message in response.json()["error"]["message"]
    assert count(db, ImportJob) == 0


def test_a_path_in_an_upload_name_is_dropped(api: Callable[[Role], Client], tmp_path: Path) -> None:
    created = upload(api(Role.ADMIN), ("../../accounts.csv", ACCOUNTS), dry_run=True).json()
    assert created["files"][0]["name"] == "accounts.csv"
    assert (tmp_path / "data" / "imports" / str(created["id"]) / "files" / "accounts.csv").is_file()


def test_an_unreadable_file_fails_the_job_with_its_reason(api: Callable[[Role], Client]) -> None:
    admin = api(Role.ADMIN)
    created = upload(admin, ("deals.csv", b"\x00\x01\x02binary\x00" * 50)).json()
    job = finished(admin, created["id"])
    assert job["status"] == "failed"
    assert "deals.csv" in job["error"]


def test_only_admins_import_and_tokens_are_required(api: Callable[[Role], Client]) -> None:
    rep = api(Role.REP)
    assert upload(rep, ("accounts.csv", ACCOUNTS)).status_code == 403
    http, headers = rep
    assert http.get("/api/v1/imports", headers=headers).status_code == 403
    assert http.post("/api/v1/imports", files=[("files", ("a.csv", b"x"))]).status_code == 401
    admin_http, admin_headers = api(Role.ADMIN)
    assert admin_http.get("/api/v1/imports/999", headers=admin_headers).status_code == 404


def _queued_job(db: Engine, root: Path, name: str = "accounts.csv") -> int:
    with Session(db, expire_on_commit=False) as session:
        admin = make_user(session, role=Role.ADMIN)
        job = jobs.create_job(session, root, admin, [(name, io.BytesIO(ACCOUNTS))])
        session.commit()
        return job.id


def _job(db: Engine, job_id: int) -> ImportJob:
    with Session(db, expire_on_commit=False) as session:
        job = session.get(ImportJob, job_id)
        assert job is not None
        return job


def test_a_job_cancelled_before_it_runs_writes_nothing(db: Engine, tmp_path: Path) -> None:
    job_id = _queued_job(db, tmp_path)
    JobFolder.of(tmp_path, job_id).request_cancel()
    ImportRunner(db, tmp_path).run(job_id)
    job = _job(db, job_id)
    assert job.status == JobStatus.CANCELLED
    assert count(db, Account) == 0


def test_a_job_cancelled_while_it_runs_rolls_back(
    db: Engine, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    job_id = _queued_job(db, tmp_path)
    asked: list[bool] = []

    def cancelled_after_the_start(_folder: JobFolder) -> bool:
        asked.append(True)
        return len(asked) > 1  # not when the run starts; at the first progress report

    monkeypatch.setattr(JobFolder, "cancel_requested", cancelled_after_the_start)
    monkeypatch.setattr(jobs, "PROGRESS_INTERVAL_SECONDS", 0.0)
    ImportRunner(db, tmp_path).run(job_id)
    job = _job(db, job_id)
    assert job.status == JobStatus.CANCELLED
    assert job.error is not None and "nothing was written" in job.error
    assert count(db, Account) == 0


def test_cancelling_over_the_api(api: Callable[[Role], Client], db: Engine) -> None:
    admin = api(Role.ADMIN)
    http, headers = admin
    created = upload(admin, ("accounts.csv", ACCOUNTS)).json()
    finished(admin, created["id"])
    response = http.post(f"/api/v1/imports/{created['id']}/cancel", headers=headers)
    assert response.status_code == 409


def test_a_job_whose_process_died_is_failed(db: Engine, tmp_path: Path) -> None:
    job_id = _queued_job(db, tmp_path)
    other_id = _queued_job(db, tmp_path, "b.csv")
    with Session(db) as session:
        job = session.get(ImportJob, job_id)
        other = session.get(ImportJob, other_id)
        assert job is not None and other is not None
        job.status = JobStatus.RUNNING
        job.worker = f"{jobs.socket.gethostname()}:{2**22 + 12345}"  # beyond pid_max
        other.worker = "another-host:1"  # not ours to judge
        session.commit()
    with Session(db) as session:
        assert jobs.fail_interrupted(session) == 1
        session.commit()
    failed = _job(db, job_id)
    assert failed.status == JobStatus.FAILED and failed.error == jobs.INTERRUPTED
    assert _job(db, other_id).status == JobStatus.QUEUED


def test_upload_names_are_plain_file_names() -> None:
    assert jobs.upload_name("C:\\exports\\Opportunity.csv") == "Opportunity.csv"
    assert jobs.upload_name("deals (1).xlsx") == "deals (1).xlsx"
    assert jobs.upload_name("dé als;rm -rf.csv") == "dé als_rm -rf.csv"
    for bad in ("", "..", "notes", "x.exe"):
        with pytest.raises(jobs.InvalidInput):
            jobs.upload_name(bad)


def test_the_admin_who_uploaded_is_the_import_actor(
    api: Callable[[Role], Client], db: Engine
) -> None:
    admin = api(Role.ADMIN)
    created = upload(admin, ("users.csv", USERS), ("accounts.csv", ACCOUNTS)).json()
    assert finished(admin, created["id"])["status"] == "done"
    with Session(db) as session:
        entry = session.scalars(select(AuditEntry).where(AuditEntry.action == "import")).one()
        actor = session.get(User, entry.actor_id)
    assert actor is not None and actor.id == created["created_by_id"] and actor.role == Role.ADMIN
